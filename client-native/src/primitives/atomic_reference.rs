use crate::client::{Object, unexpected};
use crate::error::Result;
use crate::value::{from_value, to_value};
use raftcp_proto::{Op, RefOp, Reply, Value};
use serde::{Serialize, de::DeserializeOwned};
use std::marker::PhantomData;

/// ```no_run
/// # async fn demo(client: raftcp::Client) -> Result<(), raftcp::Error> {
/// #[derive(serde::Serialize, serde::Deserialize, PartialEq)]
/// struct Config { timeout: i64, retries: i64 }
/// let config = client.get_atomic_reference::<Config>("config");
/// config.set_if_absent(&Config { timeout: 30, retries: 3 }).await?;
/// let current = config.get().await?;
/// # let _ = current; Ok(()) }
/// ```
///
/// A replicated value of type `T`, stored in canonical form: two values that
/// serialize to the same map compare equal whatever their key order, and a
/// Rust struct compares equal to the same object set from JavaScript.
#[derive(Debug)]
pub struct AtomicReference<T> {
    object: Object,
    _type: PhantomData<fn() -> T>,
}

impl<T> Clone for AtomicReference<T> {
    fn clone(&self) -> Self {
        Self {
            object: self.object.clone(),
            _type: PhantomData,
        }
    }
}

impl<T> AtomicReference<T> {
    pub(crate) fn new(object: Object) -> Self {
        Self {
            object,
            _type: PhantomData,
        }
    }
}

impl<T: Serialize + DeserializeOwned> AtomicReference<T> {
    /// The object name (without the group).
    pub fn name(&self) -> &str {
        self.object.name()
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

    async fn value(&self, op: RefOp) -> Result<Option<T>> {
        match self.call(op).await? {
            Reply::Value(value) => value.map(from_value).transpose(),
            other => Err(unexpected(other)),
        }
    }

    /// The current value; `None` when unset or cleared.
    pub async fn get(&self) -> Result<Option<T>> {
        self.value(RefOp::Get).await
    }

    /// Sets `value`.
    pub async fn set(&self, value: &T) -> Result<()> {
        match self.call(RefOp::Set(Some(to_value(value)?))).await? {
            Reply::Unit => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// Sets `value`; returns the previous one.
    pub async fn get_and_set(&self, value: &T) -> Result<Option<T>> {
        self.value(RefOp::GetAndSet(Some(to_value(value)?))).await
    }

    /// Sets `update` if the current value equals `expect` (`None`: unset).
    pub async fn compare_and_set(&self, expect: Option<&T>, update: Option<&T>) -> Result<bool> {
        let expect = expect.map(to_value).transpose()?;
        let update = update.map(to_value).transpose()?;
        self.bool(RefOp::CompareAndSet { expect, update }).await
    }

    /// Sets `value` only if nothing is set; says whether it did.
    pub async fn set_if_absent(&self, value: &T) -> Result<bool> {
        let update = Some(to_value(value)?);
        self.bool(RefOp::CompareAndSet {
            expect: None,
            update,
        })
        .await
    }

    /// Whether no value is set.
    pub async fn is_null(&self) -> Result<bool> {
        self.bool(RefOp::IsNull).await
    }

    /// Removes the value.
    pub async fn clear(&self) -> Result<()> {
        match self.call(RefOp::Set(None)).await? {
            Reply::Unit => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// Whether the current value equals `value` (`None`: unset), compared canonically.
    pub async fn contains(&self, value: Option<&T>) -> Result<bool> {
        let value: Option<Value> = value.map(to_value).transpose()?;
        self.bool(RefOp::Contains(value)).await
    }
}
