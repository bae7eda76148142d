use crate::client::{Object, unexpected};
use crate::error::Result;
use crate::watch::{Changes, mismatched};
use raftcp_proto::{LongOp, ObjectKind, ObjectState, Op, Reply};

/// A replicated 64-bit counter. Every mutation is applied exactly once, even
/// when the client retries it through a failover.
///
/// ```no_run
/// # async fn demo(client: raftcp::Client) -> Result<(), raftcp::Error> {
/// let ids = client.get_atomic_long("sequence-generator");
/// let id = ids.increment_and_get().await?;
/// assert!(ids.compare_and_set(id, id + 10).await? || ids.get().await? != id);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct AtomicLong {
    object: Object,
}

impl AtomicLong {
    /// Watches the counter: a stream of its value, from the value now
    /// (read linearizably), each change once, in log order (see
    /// [`crate::Change`]). Dropping the stream ends the watch.
    ///
    /// ```no_run
    /// # async fn demo(client: raftcp::Client) -> Result<(), raftcp::Error> {
    /// use futures_util::StreamExt;
    /// let mut changes = client.get_atomic_long("visits").watch().await?;
    /// while let Some(change) = changes.next().await {
    ///     let change = change?;
    ///     println!("{} at {}", change.value, change.position);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn watch(&self) -> Result<Changes<i64>> {
        Changes::start(&self.object, ObjectKind::AtomicLong, |state| match state {
            ObjectState::Long(value) => Ok(value),
            ObjectState::Destroyed => Ok(0),
            other => Err(mismatched(other)),
        })
        .await
    }

    /// [`Self::watch`] with each state as the protocol carries it
    /// ([`raftcp_proto::ObjectState`]), for wrappers such as the npm
    /// package.
    pub async fn watch_states(&self) -> Result<Changes<ObjectState>> {
        Changes::carried(&self.object, ObjectKind::AtomicLong).await
    }

    pub(crate) fn new(object: Object) -> Self {
        Self { object }
    }

    /// The object name (without the group).
    pub fn name(&self) -> &str {
        self.object.name()
    }

    async fn long(&self, op: LongOp) -> Result<i64> {
        match self.object.call(|name| Op::AtomicLong { name, op }).await? {
            Reply::Long(value) => Ok(value),
            other => Err(unexpected(other)),
        }
    }

    /// The current value (a linearizable read).
    pub async fn get(&self) -> Result<i64> {
        self.long(LongOp::Get).await
    }

    /// Sets the value.
    pub async fn set(&self, value: i64) -> Result<()> {
        match self
            .object
            .call(|name| Op::AtomicLong {
                name,
                op: LongOp::Set(value),
            })
            .await?
        {
            Reply::Unit => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// Removes the counter; its next use starts from 0. (A counter at 0
    /// takes no room in the group anyway.)
    pub async fn destroy(&self) -> Result<()> {
        match self
            .object
            .call(|name| Op::AtomicLong {
                name,
                op: LongOp::Destroy,
            })
            .await?
        {
            Reply::Unit => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// Adds `delta`; returns the new value.
    pub async fn add_and_get(&self, delta: i64) -> Result<i64> {
        self.long(LongOp::AddAndGet(delta)).await
    }

    /// Adds `delta`; returns the previous value.
    pub async fn get_and_add(&self, delta: i64) -> Result<i64> {
        self.long(LongOp::GetAndAdd(delta)).await
    }

    /// Adds one; returns the new value.
    pub async fn increment_and_get(&self) -> Result<i64> {
        self.add_and_get(1).await
    }

    /// Subtracts one; returns the new value.
    pub async fn decrement_and_get(&self) -> Result<i64> {
        self.add_and_get(-1).await
    }

    /// Adds one; returns the previous value.
    pub async fn get_and_increment(&self) -> Result<i64> {
        self.get_and_add(1).await
    }

    /// Subtracts one; returns the previous value.
    pub async fn get_and_decrement(&self) -> Result<i64> {
        self.get_and_add(-1).await
    }

    /// Sets `value`; returns the previous value.
    pub async fn get_and_set(&self, value: i64) -> Result<i64> {
        self.long(LongOp::GetAndSet(value)).await
    }

    /// Sets `update` if the value is `expect`; says whether it did.
    pub async fn compare_and_set(&self, expect: i64, update: i64) -> Result<bool> {
        let op = LongOp::CompareAndSet { expect, update };
        match self.object.call(|name| Op::AtomicLong { name, op }).await? {
            Reply::Bool(swapped) => Ok(swapped),
            other => Err(unexpected(other)),
        }
    }
}
