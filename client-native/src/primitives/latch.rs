use super::millis;
use crate::client::{Object, unexpected};
use crate::error::Result;
use crate::watch::{Changes, LatchState, mismatched};
use raftcp_proto::{LatchOp, Op, Reply};
use raftcp_proto::{ObjectKind, ObjectState};
use std::time::Duration;

/// ```no_run
/// # async fn demo(client: raftcp::Client) -> Result<(), raftcp::Error> {
/// let barrier = client.get_count_down_latch("barrier");
/// barrier.try_set_count(3).await?;
/// barrier.count_down().await?;
/// barrier.await_latch().await?; // until all three have counted down
/// # Ok(()) }
/// ```
///
/// A distributed countdown latch: waiters are released when the count
/// reaches zero; then it may be set again for a new round.
#[derive(Clone, Debug)]
pub struct CountDownLatch {
    object: Object,
}

impl CountDownLatch {
    /// Watches the latch: a stream of its count and round, from its state
    /// now, each change once, in log order. Dropping the stream ends the
    /// watch.
    pub async fn watch(&self) -> Result<Changes<LatchState>> {
        Changes::start(
            &self.object,
            ObjectKind::CountDownLatch,
            |state| match state {
                ObjectState::Latch { count, round } => Ok(LatchState { count, round }),
                ObjectState::Destroyed => Ok(LatchState::default()),
                other => Err(mismatched(other)),
            },
        )
        .await
    }

    /// [`Self::watch`] with each state as the protocol carries it
    /// ([`raftcp_proto::ObjectState`]), for wrappers such as the npm
    /// package.
    pub async fn watch_states(&self) -> Result<Changes<ObjectState>> {
        Changes::carried(&self.object, ObjectKind::CountDownLatch).await
    }

    pub(crate) fn new(object: Object) -> Self {
        Self { object }
    }

    /// The object name (without the group).
    pub fn name(&self) -> &str {
        self.object.name()
    }

    async fn call(&self, op: LatchOp) -> Result<Reply> {
        self.object.call(|name| Op::Latch { name, op }).await
    }

    /// Sets the count if the latch is at zero; `false` otherwise.
    pub async fn try_set_count(&self, count: u32) -> Result<bool> {
        match self.call(LatchOp::TrySetCount { count }).await? {
            Reply::Bool(b) => Ok(b),
            other => Err(unexpected(other)),
        }
    }

    /// Decrements the count; at zero every waiter is released.
    pub async fn count_down(&self) -> Result<()> {
        match self.call(LatchOp::CountDown).await? {
            Reply::Unit => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// Removes the latch: waiters fail with `ObjectDestroyed`; the next use
    /// finds a count of 0.
    pub async fn destroy(&self) -> Result<()> {
        match self.call(LatchOp::Destroy).await? {
            Reply::Unit => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// The current count.
    pub async fn get_count(&self) -> Result<u32> {
        match self.call(LatchOp::GetCount).await? {
            Reply::Count(n) => Ok(n),
            other => Err(unexpected(other)),
        }
    }

    /// Waits until the count reaches zero.
    pub async fn await_latch(&self) -> Result<()> {
        self.wait(None).await.map(|_| ())
    }

    /// Waits at most `timeout`; says whether the count reached zero.
    pub async fn await_latch_timeout(&self, timeout: Duration) -> Result<bool> {
        self.wait(Some(millis(timeout))).await
    }

    async fn wait(&self, timeout_ms: Option<u64>) -> Result<bool> {
        match self.call(LatchOp::Await { timeout_ms }).await? {
            Reply::Bool(open) => Ok(open),
            other => Err(unexpected(other)),
        }
    }
}
