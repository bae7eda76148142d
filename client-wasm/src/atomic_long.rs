//! The `AtomicLong` class: values out as `bigint`, in as `bigint` or a
//! safe-integer `number`.

use crate::convert::long;
use crate::promise::{Resolved, on, try_promise};
use js_sys::Promise;
use raftcp::proto::ObjectState;
use std::future::Future;
use wasm_bindgen::prelude::*;

/// A replicated 64-bit counter.
#[wasm_bindgen]
#[derive(Debug)]
pub struct AtomicLong {
    inner: raftcp::AtomicLong,
}

impl AtomicLong {
    pub(crate) fn new(inner: raftcp::AtomicLong) -> Self {
        Self { inner }
    }

    /// Runs `op` with `value` checked as a 64-bit integer.
    fn with_long<F, Fut, T>(&self, value: &JsValue, what: &str, op: F) -> Promise
    where
        F: FnOnce(raftcp::AtomicLong, i64) -> Fut + 'static,
        Fut: Future<Output = raftcp::Result<T>> + 'static,
        T: Resolved,
    {
        try_promise(|| {
            let value = long(value, what)?;
            Ok(on(&self.inner, move |c| op(c, value)))
        })
    }
}

#[wasm_bindgen]
impl AtomicLong {
    /// Its changes as an async iterator (`for await`), from its state now
    /// (read linearizably), each change once, in log order; `break`, the
    /// `signal` or `client.close()` ends the watch.
    #[wasm_bindgen(unchecked_return_type = "AsyncIterableIterator<Change<bigint>>")]
    pub fn watch(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "WaitOptions")] options: Option<JsValue>,
    ) -> JsValue {
        let signal = options.as_ref().and_then(crate::abort::signal_of);
        let handle = self.inner.clone();
        let fresh = ObjectState::Long(0);
        let start = Box::pin(async move { handle.watch_states().await });
        crate::watch::watch(signal, start, crate::watch::state_value(fresh))
    }

    /// The object name (without the group).
    #[wasm_bindgen(getter)]
    pub fn name(&self) -> String {
        self.inner.name().to_owned()
    }

    /// Removes the counter; its next use starts from 0.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn destroy(&self) -> Promise {
        on(&self.inner, |c| async move { c.destroy().await })
    }

    /// The current value.
    #[wasm_bindgen(unchecked_return_type = "Promise<bigint>")]
    pub fn get(&self) -> Promise {
        on(&self.inner, |c| async move { c.get().await })
    }

    /// Sets the value.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn set(
        &self,
        #[wasm_bindgen(unchecked_param_type = "bigint | number")] value: JsValue,
    ) -> Promise {
        self.with_long(
            &value,
            "value",
            |c, value| async move { c.set(value).await },
        )
    }

    /// Adds `delta`; returns the new value.
    #[wasm_bindgen(js_name = addAndGet, unchecked_return_type = "Promise<bigint>")]
    pub fn add_and_get(
        &self,
        #[wasm_bindgen(unchecked_param_type = "bigint | number")] delta: JsValue,
    ) -> Promise {
        self.with_long(&delta, "delta", |c, delta| async move {
            c.add_and_get(delta).await
        })
    }

    /// Adds `delta`; returns the previous value.
    #[wasm_bindgen(js_name = getAndAdd, unchecked_return_type = "Promise<bigint>")]
    pub fn get_and_add(
        &self,
        #[wasm_bindgen(unchecked_param_type = "bigint | number")] delta: JsValue,
    ) -> Promise {
        self.with_long(&delta, "delta", |c, delta| async move {
            c.get_and_add(delta).await
        })
    }

    /// Adds one; returns the new value.
    #[wasm_bindgen(js_name = incrementAndGet, unchecked_return_type = "Promise<bigint>")]
    pub fn increment_and_get(&self) -> Promise {
        on(&self.inner, |c| async move { c.increment_and_get().await })
    }

    /// Subtracts one; returns the new value.
    #[wasm_bindgen(js_name = decrementAndGet, unchecked_return_type = "Promise<bigint>")]
    pub fn decrement_and_get(&self) -> Promise {
        on(&self.inner, |c| async move { c.decrement_and_get().await })
    }

    /// Adds one; returns the previous value.
    #[wasm_bindgen(js_name = getAndIncrement, unchecked_return_type = "Promise<bigint>")]
    pub fn get_and_increment(&self) -> Promise {
        on(&self.inner, |c| async move { c.get_and_increment().await })
    }

    /// Subtracts one; returns the previous value.
    #[wasm_bindgen(js_name = getAndDecrement, unchecked_return_type = "Promise<bigint>")]
    pub fn get_and_decrement(&self) -> Promise {
        on(&self.inner, |c| async move { c.get_and_decrement().await })
    }

    /// Sets `value`; returns the previous value.
    #[wasm_bindgen(js_name = getAndSet, unchecked_return_type = "Promise<bigint>")]
    pub fn get_and_set(
        &self,
        #[wasm_bindgen(unchecked_param_type = "bigint | number")] value: JsValue,
    ) -> Promise {
        self.with_long(&value, "value", |c, value| async move {
            c.get_and_set(value).await
        })
    }

    /// Sets `update` if the value is `expect`; says whether it did.
    #[wasm_bindgen(js_name = compareAndSet, unchecked_return_type = "Promise<boolean>")]
    pub fn compare_and_set(
        &self,
        #[wasm_bindgen(unchecked_param_type = "bigint | number")] expect: JsValue,
        #[wasm_bindgen(unchecked_param_type = "bigint | number")] update: JsValue,
    ) -> Promise {
        try_promise(|| {
            let expect = long(&expect, "expect")?;
            let update = long(&update, "update")?;
            Ok(on(&self.inner, move |c| async move {
                c.compare_and_set(expect, update).await
            }))
        })
    }
}
