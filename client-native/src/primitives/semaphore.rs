use super::millis;
use crate::client::{Object, unexpected};
use crate::error::Result;
use crate::watch::{Changes, mismatched};
use raftcp_proto::{HandleId, Op, Reply, SemaphoreOp};
use raftcp_proto::{ObjectKind, ObjectState};
use std::time::Duration;

/// A distributed counting semaphore.
///
/// ```no_run
/// # async fn demo(client: raftcp::Client) -> Result<(), raftcp::Error> {
/// let pool = client.get_semaphore("connection-pool");
/// pool.init(10).await?; // only the first caller sets it
/// pool.acquire_many(3).await?;
/// pool.release_many(3).await?;
/// # Ok(()) }
/// ```
/// Permits are held by this handle within
/// the client's session; if the session expires they return to the pool.
/// Waiters are served strictly first come, first served.
#[derive(Clone, Debug)]
pub struct Semaphore {
    object: Object,
    handle: HandleId,
}

impl Semaphore {
    /// Watches the semaphore: a stream of its available permits, from the
    /// number now, each change once, in log order. Dropping the stream
    /// ends the watch.
    pub async fn watch(&self) -> Result<Changes<u32>> {
        Changes::start(&self.object, ObjectKind::Semaphore, |state| match state {
            ObjectState::Semaphore { available } => Ok(available),
            ObjectState::Destroyed => Ok(0),
            other => Err(mismatched(other)),
        })
        .await
    }

    /// [`Self::watch`] with each state as the protocol carries it
    /// ([`raftcp_proto::ObjectState`]), for wrappers such as the npm
    /// package.
    pub async fn watch_states(&self) -> Result<Changes<ObjectState>> {
        Changes::carried(&self.object, ObjectKind::Semaphore).await
    }

    pub(crate) fn new(object: Object, handle: HandleId) -> Self {
        Self { object, handle }
    }

    /// The object name (without the group).
    pub fn name(&self) -> &str {
        self.object.name()
    }

    pub(super) async fn call(&self, op: SemaphoreOp) -> Result<Reply> {
        let handle = self.handle;
        self.object
            .call(|name| Op::Semaphore { name, handle, op })
            .await
    }

    async fn bool(&self, op: SemaphoreOp) -> Result<bool> {
        match self.call(op).await? {
            Reply::Bool(b) => Ok(b),
            other => Err(unexpected(other)),
        }
    }

    async fn unit(&self, op: SemaphoreOp) -> Result<()> {
        match self.call(op).await? {
            Reply::Unit => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    async fn count(&self, op: SemaphoreOp) -> Result<u32> {
        match self.call(op).await? {
            Reply::Count(n) => Ok(n),
            other => Err(unexpected(other)),
        }
    }

    /// Sets the permit count once; `false` if it was already initialized.
    pub async fn init(&self, permits: u32) -> Result<bool> {
        self.bool(SemaphoreOp::Init { permits }).await
    }

    /// Waits for one permit and takes it.
    pub async fn acquire(&self) -> Result<()> {
        self.acquire_many(1).await
    }

    /// Waits until `permits` permits are available and takes them.
    pub async fn acquire_many(&self, permits: u32) -> Result<()> {
        let op = SemaphoreOp::Acquire {
            permits,
            timeout_ms: None,
        };
        self.bool(op).await.map(|_| ())
    }

    /// Takes one permit if one is available now.
    pub async fn try_acquire(&self) -> Result<bool> {
        self.try_acquire_many(1, Duration::ZERO).await
    }

    /// Takes `permits` if they become available within `timeout`.
    pub async fn try_acquire_many(&self, permits: u32, timeout: Duration) -> Result<bool> {
        let op = SemaphoreOp::Acquire {
            permits,
            timeout_ms: Some(millis(timeout)),
        };
        self.bool(op).await
    }

    /// Returns one permit this handle holds.
    pub async fn release(&self) -> Result<()> {
        self.release_many(1).await
    }

    /// Returns `permits` this handle holds; fails with `NotEnoughPermits` if
    /// it holds fewer.
    pub async fn release_many(&self, permits: u32) -> Result<()> {
        self.unit(SemaphoreOp::Release { permits }).await
    }

    /// Permits available now.
    pub async fn available_permits(&self) -> Result<u32> {
        self.count(SemaphoreOp::AvailablePermits).await
    }

    /// Takes every available permit; returns how many.
    pub async fn drain_permits(&self) -> Result<u32> {
        self.count(SemaphoreOp::Drain).await
    }

    /// Removes up to `permits` available permits from the pool (never below zero).
    pub async fn reduce_permits(&self, permits: u32) -> Result<()> {
        self.unit(SemaphoreOp::Reduce { permits }).await
    }

    /// Adds `permits` to the pool (granting waiters in order).
    pub async fn increase_permits(&self, permits: u32) -> Result<()> {
        self.unit(SemaphoreOp::Increase { permits }).await
    }

    /// Removes the semaphore with all its permits: waiters fail with
    /// `ObjectDestroyed`, and so does the next acquire, release or drain of
    /// every other handle that held permits; the next use finds a fresh,
    /// uninitialized semaphore.
    pub async fn destroy(&self) -> Result<()> {
        self.unit(SemaphoreOp::Destroy).await
    }
}
