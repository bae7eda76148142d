use super::millis;
use crate::client::{Object, unexpected};
use crate::error::{Error, Result};
use crate::watch::{Changes, LockState, mismatched};
use futures_util::FutureExt;
use raftcp_proto::{Fence, HandleId, LockOp, Op, OpError, Reply};
use raftcp_proto::{ObjectKind, ObjectState};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A distributed lock with fencing tokens.
///
/// ```no_run
/// # async fn demo(client: raftcp::Client) -> Result<(), raftcp::Error> {
/// let lock = client.get_fenced_lock("resource-lock");
/// let written = lock
///     .with_lock(|fence| async move {
///         // Send `fence` with the write; the resource refuses older fences.
///         fence.0
///     })
///     .await?;
/// # let _ = written; Ok(()) }
/// ```
/// The owner is this handle (not a
/// thread): it may re-acquire what it holds; other handles wait, even in the
/// same process. Each grant returns a fence that is larger than every earlier
/// grant's; pass it to the resource you guard so it can reject stale holders.
///
/// If the client's session ends while this handle holds the lock (the
/// process was paused past the session TTL, say), the lock passes to the next
/// waiter and this handle's next `lock`, `try_lock`, `unlock` or `get_fence`
/// fails with `LockOwnershipLost` — once; after that the handle starts afresh.
/// Likewise, when another handle destroys the lock, this handle's next
/// `lock`, `try_lock`, `unlock` or `get_fence` fails with `ObjectDestroyed`.
#[derive(Clone, Debug)]
pub struct FencedLock {
    object: Object,
    handle: HandleId,
    /// 0: unlimited reentrancy.
    limit: u32,
    /// What this handle holds as far as the client knows; shared by clones,
    /// which are the same owner.
    holding: Arc<Mutex<Holding>>,
}

#[derive(Debug, Default)]
struct Holding {
    count: u32,
    /// The client's lost-session count when the first hold was taken.
    sessions_lost: u64,
}

impl FencedLock {
    /// Watches the lock: a stream of whether it is held and the holder's
    /// fence (never who holds it), from its state now, each change once,
    /// in log order. Dropping the stream ends the watch.
    pub async fn watch(&self) -> Result<Changes<LockState>> {
        Changes::start(&self.object, ObjectKind::FencedLock, |state| match state {
            ObjectState::Lock { held, fence } => Ok(LockState { held, fence }),
            ObjectState::Destroyed => Ok(LockState::default()),
            other => Err(mismatched(other)),
        })
        .await
    }

    /// [`Self::watch`] with each state as the protocol carries it
    /// ([`raftcp_proto::ObjectState`]), for wrappers such as the npm
    /// package.
    pub async fn watch_states(&self) -> Result<Changes<ObjectState>> {
        Changes::carried(&self.object, ObjectKind::FencedLock).await
    }

    pub(crate) fn new(object: Object, handle: HandleId, limit: u32) -> Self {
        Self {
            object,
            handle,
            limit,
            holding: Arc::default(),
        }
    }

    fn holding(&self) -> std::sync::MutexGuard<'_, Holding> {
        self.holding.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Fails with `LockOwnershipLost` if the session that took this handle's
    /// holds has ended since (and forgets them).
    fn check_ownership(&self) -> Result<()> {
        let mut holding = self.holding();
        if holding.count > 0 && holding.sessions_lost != self.object.sessions_lost() {
            *holding = Holding::default();
            return Err(self.ownership_lost());
        }
        Ok(())
    }

    fn ownership_lost(&self) -> Error {
        Error::Server(OpError::LockOwnershipLost {
            name: self.name().to_owned(),
        })
    }

    /// A held lock is lost when its request failed because the session
    /// ended, or when the session ended while the request was under way: the
    /// client then resent it under its new session, which holds nothing, and
    /// the server answered `NOT_OWNER`.
    fn session_error(&self, error: Error) -> Error {
        let mut holding = self.holding();
        if let Error::Server(OpError::ObjectDestroyed { .. }) = &error {
            *holding = Holding::default();
            return error;
        }
        let lost = holding.count > 0
            && match &error {
                Error::Server(OpError::SessionExpired { .. }) => true,
                Error::Server(OpError::NotOwner { .. }) => {
                    holding.sessions_lost != self.object.sessions_lost()
                }
                _ => false,
            };
        if lost {
            *holding = Holding::default();
            return self.ownership_lost();
        }
        error
    }

    /// The object name (without the group).
    pub fn name(&self) -> &str {
        self.object.name()
    }

    pub(super) async fn call(&self, op: LockOp) -> Result<Reply> {
        let handle = self.handle;
        self.object.call(|name| Op::Lock { name, handle, op }).await
    }

    async fn acquire(&self, timeout_ms: Option<u64>) -> Result<Option<Fence>> {
        self.check_ownership()?;
        let sessions_lost = self.object.sessions_lost();
        let op = LockOp::Lock {
            timeout_ms,
            reentrancy_limit: self.limit,
        };
        match self.call(op).await.map_err(|e| self.session_error(e))? {
            Reply::Fence(Some(fence)) => {
                let mut holding = self.holding();
                if holding.count == 0 {
                    holding.sessions_lost = sessions_lost;
                }
                holding.count += 1;
                Ok(Some(fence))
            }
            Reply::Fence(None) => Ok(None),
            other => Err(unexpected(other)),
        }
    }

    /// Waits until this handle holds the lock; returns the fence.
    pub async fn lock(&self) -> Result<Fence> {
        self.acquire(None)
            .await?
            .ok_or_else(|| Error::UnexpectedReply("lock without timeout timed out".into()))
    }

    /// Takes the lock if it is free (or already this handle's).
    pub async fn try_lock(&self) -> Result<Option<Fence>> {
        self.acquire(Some(0)).await
    }

    /// Waits at most `timeout` for the lock.
    pub async fn try_lock_timeout(&self, timeout: Duration) -> Result<Option<Fence>> {
        self.acquire(Some(millis(timeout))).await
    }

    /// Releases one hold. Fails with `NotOwner` if this handle holds nothing,
    /// or `LockOwnershipLost` if its session expired meanwhile.
    pub async fn unlock(&self) -> Result<()> {
        self.check_ownership()?;
        match self
            .call(LockOp::Unlock)
            .await
            .map_err(|e| self.session_error(e))?
        {
            Reply::Unit => {
                let mut holding = self.holding();
                holding.count = holding.count.saturating_sub(1);
                Ok(())
            }
            other => Err(unexpected(other)),
        }
    }

    /// Runs `work` holding the lock and unlocks afterwards on every path:
    /// when `work` returns an error value, and when it panics (the panic
    /// continues after the unlock). Returns what `work` returned.
    pub async fn with_lock<F, Fut, R>(&self, work: F) -> Result<R>
    where
        F: FnOnce(Fence) -> Fut,
        Fut: Future<Output = R>,
    {
        let fence = self.lock().await?;
        let outcome = match std::panic::catch_unwind(AssertUnwindSafe(|| work(fence))) {
            Ok(future) => AssertUnwindSafe(future).catch_unwind().await,
            Err(panic) => Err(panic),
        };
        let unlocked = self.unlock().await;
        match outcome {
            Ok(result) => unlocked.map(|()| result),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    async fn bool(&self, op: LockOp) -> Result<bool> {
        match self.call(op).await? {
            Reply::Bool(b) => Ok(b),
            other => Err(unexpected(other)),
        }
    }

    /// Whether any handle holds the lock.
    pub async fn is_locked(&self) -> Result<bool> {
        self.bool(LockOp::IsLocked).await
    }

    /// Whether this handle holds the lock.
    pub async fn is_locked_by_me(&self) -> Result<bool> {
        self.bool(LockOp::IsLockedByMe).await
    }

    /// How many times the current holder holds it (0: free).
    pub async fn get_lock_count(&self) -> Result<u32> {
        match self.call(LockOp::LockCount).await? {
            Reply::Count(n) => Ok(n),
            other => Err(unexpected(other)),
        }
    }

    /// Removes the lock, whoever holds it: waiters fail with
    /// `ObjectDestroyed`, and so does the holder's next call if it is
    /// another handle. The next `lock` creates a fresh lock, whose fences
    /// still exceed every fence handed out before.
    pub async fn destroy(&self) -> Result<()> {
        match self.call(LockOp::Destroy).await? {
            Reply::Unit => {
                *self.holding() = Holding::default();
                Ok(())
            }
            other => Err(unexpected(other)),
        }
    }

    /// The fence of this handle's hold; fails with `NotOwner` when this
    /// handle does not hold the lock.
    pub async fn get_fence(&self) -> Result<Fence> {
        self.check_ownership()?;
        match self
            .call(LockOp::GetFence)
            .await
            .map_err(|e| self.session_error(e))?
        {
            Reply::Fence(fence) => Ok(fence.unwrap_or(Fence::INVALID)),
            other => Err(unexpected(other)),
        }
    }
}
