use super::millis;
use crate::client::{Object, unexpected};
use crate::error::{Error, Result};
use futures_util::FutureExt;
use raftcp_proto::{Fence, HandleId, LockOp, Op, Reply};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

/// A distributed lock with fencing tokens. The owner is this handle (not a
/// thread): it may re-acquire what it holds; other handles wait, even in the
/// same process. Each grant returns a fence that is larger than every earlier
/// grant's; pass it to the resource you guard so it can reject stale holders.
#[derive(Clone, Debug)]
pub struct FencedLock {
    object: Object,
    handle: HandleId,
    /// 0: unlimited reentrancy.
    limit: u32,
}

impl FencedLock {
    pub(crate) fn new(object: Object, handle: HandleId, limit: u32) -> Self {
        Self {
            object,
            handle,
            limit,
        }
    }

    pub fn name(&self) -> &str {
        self.object.name()
    }

    async fn call(&self, op: LockOp) -> Result<Reply> {
        let handle = self.handle;
        self.object.call(|name| Op::Lock { name, handle, op }).await
    }

    async fn acquire(&self, timeout_ms: Option<u64>) -> Result<Option<Fence>> {
        let op = LockOp::Lock {
            timeout_ms,
            reentrancy_limit: self.limit,
        };
        match self.call(op).await? {
            Reply::Fence(fence) => Ok(fence),
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
        match self.call(LockOp::Unlock).await? {
            Reply::Unit => Ok(()),
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

    pub async fn is_locked(&self) -> Result<bool> {
        self.bool(LockOp::IsLocked).await
    }

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

    /// The fence of this handle's hold; fails with `NotOwner` when this
    /// handle does not hold the lock.
    pub async fn get_fence(&self) -> Result<Fence> {
        match self.call(LockOp::GetFence).await? {
            Reply::Fence(fence) => Ok(fence.unwrap_or(Fence::INVALID)),
            other => Err(unexpected(other)),
        }
    }
}
