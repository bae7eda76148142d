//! The `AtomicReference` class: JSON-like values (plus `bigint` and
//! `Uint8Array`), compared canonically; `null` means "no value".

use crate::convert::{from_stored, to_stored};
use crate::promise::{on, try_promise};
use js_sys::Promise;
use raftcp::ValueReference;
use raftcp::proto::ObjectState;
use wasm_bindgen::prelude::*;

/// A replicated value.
#[wasm_bindgen]
#[derive(Debug)]
pub struct AtomicReference {
    inner: ValueReference,
}

impl AtomicReference {
    pub(crate) fn new(inner: ValueReference) -> Self {
        Self { inner }
    }
}

#[wasm_bindgen]
impl AtomicReference {
    /// Its changes as an async iterator (`for await`), from its state now
    /// (read linearizably), each change once, in log order; `break`, the
    /// `signal` or `client.close()` ends the watch.
    #[wasm_bindgen(unchecked_return_type = "AsyncIterableIterator<Change<Value>>")]
    pub fn watch(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "WaitOptions")] options: Option<JsValue>,
    ) -> JsValue {
        let signal = options.as_ref().and_then(crate::abort::signal_of);
        let handle = self.inner.clone();
        let fresh = ObjectState::Reference(None);
        let start = Box::pin(async move { handle.watch_states().await });
        crate::watch::watch(signal, start, crate::watch::state_value(fresh))
    }

    /// The object name (without the group).
    #[wasm_bindgen(getter)]
    pub fn name(&self) -> String {
        self.inner.name().to_owned()
    }

    /// Removes the reference; its next use finds it null.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn destroy(&self) -> Promise {
        on(&self.inner, |r| async move { r.destroy().await })
    }

    /// The current value; `null` when unset or cleared.
    #[wasm_bindgen(unchecked_return_type = "Promise<Value>")]
    pub fn get(&self) -> Promise {
        on(&self.inner, move |r| async move {
            r.get().await.map(from_stored)
        })
    }

    /// Sets `value` (`null` clears).
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn set(&self, #[wasm_bindgen(unchecked_param_type = "Value")] value: JsValue) -> Promise {
        try_promise(|| {
            let value = to_stored(&value)?;
            Ok(on(&self.inner, move |r| async move { r.set(value).await }))
        })
    }

    /// Sets `value`; returns the previous one.
    #[wasm_bindgen(js_name = getAndSet, unchecked_return_type = "Promise<Value>")]
    pub fn get_and_set(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Value")] value: JsValue,
    ) -> Promise {
        try_promise(|| {
            let value = to_stored(&value)?;
            Ok(on(&self.inner, move |r| async move {
                r.get_and_set(value).await.map(from_stored)
            }))
        })
    }

    /// Sets `update` if the current value equals `expect` (`null`: unset);
    /// says whether it did.
    #[wasm_bindgen(js_name = compareAndSet, unchecked_return_type = "Promise<boolean>")]
    pub fn compare_and_set(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Value")] expect: JsValue,
        #[wasm_bindgen(unchecked_param_type = "Value")] update: JsValue,
    ) -> Promise {
        try_promise(|| {
            let expect = to_stored(&expect)?;
            let update = to_stored(&update)?;
            Ok(on(&self.inner, move |r| async move {
                r.compare_and_set(expect, update).await
            }))
        })
    }

    /// Sets `value` only if nothing is set; says whether it did.
    #[wasm_bindgen(js_name = setIfAbsent, unchecked_return_type = "Promise<boolean>")]
    pub fn set_if_absent(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Value")] value: JsValue,
    ) -> Promise {
        try_promise(|| {
            let value = to_stored(&value)?;
            Ok(on(&self.inner, move |r| async move {
                r.compare_and_set(None, value).await
            }))
        })
    }

    /// Whether no value is set.
    #[wasm_bindgen(js_name = isNull, unchecked_return_type = "Promise<boolean>")]
    pub fn is_null(&self) -> Promise {
        on(&self.inner, move |r| async move { r.is_null().await })
    }

    /// Removes the value.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn clear(&self) -> Promise {
        on(&self.inner, move |r| async move { r.set(None).await })
    }

    /// Whether the current value equals `value` (`null`: unset).
    #[wasm_bindgen(unchecked_return_type = "Promise<boolean>")]
    pub fn contains(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Value")] value: JsValue,
    ) -> Promise {
        try_promise(|| {
            let value = to_stored(&value)?;
            Ok(on(
                &self.inner,
                move |r| async move { r.contains(value).await },
            ))
        })
    }
}
