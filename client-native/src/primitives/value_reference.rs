use crate::client::{Object, unexpected};
use crate::error::Result;
use crate::watch::{Changes, mismatched};
use raftcp_proto::limits::VALUE_BYTES_MAX;
use raftcp_proto::{ObjectKind, ObjectState};
use raftcp_proto::{Op, OpError, RefOp, Reply, Value};

/// `value` in canonical form, refused here (as the cluster would refuse it)
/// when too large, so it never travels.
fn checked(value: Option<Value>) -> Result<Option<Value>> {
    let Some(value) = value.map(Value::canonical) else {
        return Ok(None);
    };
    let bytes = value.encoded_len();
    if bytes > VALUE_BYTES_MAX {
        return Err(OpError::ValueTooLarge {
            bytes: bytes as u64,
            max: VALUE_BYTES_MAX as u64,
        }
        .into());
    }
    Ok(Some(value))
}

/// An AtomicReference read and written as canonical [`Value`]s, with no
/// conversion: the layer under [`crate::AtomicReference`], and what the
/// JavaScript package converts its values to. The same object as
/// `get_atomic_reference::<T>(name)` for any `T`.
#[derive(Clone, Debug)]
pub struct ValueReference {
    object: Object,
}

impl ValueReference {
    /// Watches the reference: a stream of its value (`None` when unset),
    /// from the value now, each change once, in log order. Dropping the
    /// stream ends the watch.
    pub async fn watch(&self) -> Result<Changes<Option<Value>>> {
        Changes::start(
            &self.object,
            ObjectKind::AtomicReference,
            |state| match state {
                ObjectState::Reference(value) => Ok(value),
                ObjectState::Destroyed => Ok(None),
                other => Err(mismatched(other)),
            },
        )
        .await
    }

    /// [`Self::watch`] with each state as the protocol carries it
    /// ([`raftcp_proto::ObjectState`]), for wrappers such as the npm
    /// package.
    pub async fn watch_states(&self) -> Result<Changes<ObjectState>> {
        Changes::carried(&self.object, ObjectKind::AtomicReference).await
    }

    pub(crate) fn new(object: Object) -> Self {
        Self { object }
    }

    /// The object name (without the group).
    pub fn name(&self) -> &str {
        self.object.name()
    }

    pub(crate) fn object(&self) -> &Object {
        &self.object
    }

    async fn call(&self, op: RefOp) -> Result<Reply> {
        self.object
            .call(|name| Op::AtomicReference { name, op })
            .await
    }

    async fn bool(&self, op: RefOp) -> Result<bool> {
        match self.call(op).await? {
            Reply::Bool(b) => Ok(b),
            other => Err(unexpected(other)),
        }
    }

    async fn value(&self, op: RefOp) -> Result<Option<Value>> {
        match self.call(op).await? {
            Reply::Value(value) => Ok(value),
            other => Err(unexpected(other)),
        }
    }

    async fn unit(&self, op: RefOp) -> Result<()> {
        match self.call(op).await? {
            Reply::Unit => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// The current value; `None` when unset or cleared.
    pub async fn get(&self) -> Result<Option<Value>> {
        self.value(RefOp::Get).await
    }

    /// Sets `value` (`None` clears).
    pub async fn set(&self, value: Option<Value>) -> Result<()> {
        self.unit(RefOp::Set(checked(value)?)).await
    }

    /// Sets `value`; returns the previous one.
    pub async fn get_and_set(&self, value: Option<Value>) -> Result<Option<Value>> {
        self.value(RefOp::GetAndSet(checked(value)?)).await
    }

    /// Sets `update` if the current value equals `expect` (`None`: unset).
    pub async fn compare_and_set(
        &self,
        expect: Option<Value>,
        update: Option<Value>,
    ) -> Result<bool> {
        let expect = checked(expect)?;
        let update = checked(update)?;
        self.bool(RefOp::CompareAndSet { expect, update }).await
    }

    /// Whether no value is set.
    pub async fn is_null(&self) -> Result<bool> {
        self.bool(RefOp::IsNull).await
    }

    /// Removes the reference; its next use finds it unset.
    pub async fn destroy(&self) -> Result<()> {
        self.unit(RefOp::Destroy).await
    }

    /// Whether the current value equals `value` (`None`: unset), compared canonically.
    pub async fn contains(&self, value: Option<Value>) -> Result<bool> {
        self.bool(RefOp::Contains(value.map(Value::canonical)))
            .await
    }
}
