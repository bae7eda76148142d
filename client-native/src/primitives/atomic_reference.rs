use super::ValueReference;
use crate::client::Object;
use crate::error::Result;
use crate::value::{from_value, to_value};
use crate::watch::{Changes, mismatched};
use raftcp_proto::{ObjectKind, ObjectState};
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
    values: ValueReference,
    _type: PhantomData<fn() -> T>,
}

impl<T> Clone for AtomicReference<T> {
    fn clone(&self) -> Self {
        Self {
            values: self.values.clone(),
            _type: PhantomData,
        }
    }
}

impl<T> AtomicReference<T> {
    pub(crate) fn new(object: Object) -> Self {
        Self {
            values: ValueReference::new(object),
            _type: PhantomData,
        }
    }
}

impl<T: Serialize + DeserializeOwned> AtomicReference<T> {
    /// Watches the reference: a stream of its value (`None` when unset),
    /// from the value now, each change once, in log order. Dropping the
    /// stream ends the watch.
    pub async fn watch(&self) -> Result<Changes<Option<T>>> {
        Changes::start(
            self.values.object(),
            ObjectKind::AtomicReference,
            typed::<T>,
        )
        .await
    }

    /// The object name (without the group).
    pub fn name(&self) -> &str {
        self.values.name()
    }

    /// The current value; `None` when unset or cleared.
    pub async fn get(&self) -> Result<Option<T>> {
        self.values.get().await?.map(from_value).transpose()
    }

    /// Sets `value`.
    pub async fn set(&self, value: &T) -> Result<()> {
        self.values.set(Some(to_value(value)?)).await
    }

    /// Sets `value`; returns the previous one.
    pub async fn get_and_set(&self, value: &T) -> Result<Option<T>> {
        let previous = self.values.get_and_set(Some(to_value(value)?)).await?;
        previous.map(from_value).transpose()
    }

    /// Sets `update` if the current value equals `expect` (`None`: unset).
    pub async fn compare_and_set(&self, expect: Option<&T>, update: Option<&T>) -> Result<bool> {
        let expect = expect.map(to_value).transpose()?;
        let update = update.map(to_value).transpose()?;
        self.values.compare_and_set(expect, update).await
    }

    /// Sets `value` only if nothing is set; says whether it did.
    pub async fn set_if_absent(&self, value: &T) -> Result<bool> {
        let update = Some(to_value(value)?);
        self.values.compare_and_set(None, update).await
    }

    /// Whether no value is set.
    pub async fn is_null(&self) -> Result<bool> {
        self.values.is_null().await
    }

    /// Removes the value.
    pub async fn clear(&self) -> Result<()> {
        self.values.set(None).await
    }

    /// Removes the reference; its next use finds it unset.
    pub async fn destroy(&self) -> Result<()> {
        self.values.destroy().await
    }

    /// Whether the current value equals `value` (`None`: unset), compared canonically.
    pub async fn contains(&self, value: Option<&T>) -> Result<bool> {
        self.values.contains(value.map(to_value).transpose()?).await
    }
}

/// A reference's state as `T`.
fn typed<T: DeserializeOwned>(state: ObjectState) -> Result<Option<T>> {
    match state {
        ObjectState::Reference(value) => value.map(from_value).transpose(),
        other => Err(mismatched(other)),
    }
}
