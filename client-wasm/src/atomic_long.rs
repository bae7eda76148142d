//! The `AtomicLong` class: values in and out as `bigint` (a safe-integer
//! `number` is accepted as input).

use crate::convert::{bigint, long};
use crate::types::{promise_js, try_promise};
use js_sys::Promise;
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

    /// Runs `op` on a clone of the handle and resolves to a `bigint`.
    fn run<F, Fut>(&self, op: F) -> Promise
    where
        F: FnOnce(raftcp::AtomicLong) -> Fut + 'static,
        Fut: std::future::Future<Output = raftcp::Result<i64>> + 'static,
    {
        let counter = self.inner.clone();
        promise_js(async move { op(counter).await.map(bigint).map_err(crate::errors::to_js) })
    }
}

#[wasm_bindgen]
impl AtomicLong {
    /// The object name (without the group).
    #[wasm_bindgen(getter)]
    pub fn name(&self) -> String {
        self.inner.name().to_owned()
    }

    /// The current value.
    #[wasm_bindgen(unchecked_return_type = "Promise<bigint>")]
    pub fn get(&self) -> Promise {
        self.run(|c| async move { c.get().await })
    }

    /// Sets the value.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn set(
        &self,
        #[wasm_bindgen(unchecked_param_type = "bigint | number")] value: JsValue,
    ) -> Promise {
        try_promise(|| {
            let value = long(&value, "value")?;
            let counter = self.inner.clone();
            Ok(crate::types::promise(
                async move { counter.set(value).await },
            ))
        })
    }

    /// Adds `delta`; returns the new value.
    #[wasm_bindgen(js_name = addAndGet, unchecked_return_type = "Promise<bigint>")]
    pub fn add_and_get(
        &self,
        #[wasm_bindgen(unchecked_param_type = "bigint | number")] delta: JsValue,
    ) -> Promise {
        try_promise(|| {
            let delta = long(&delta, "delta")?;
            Ok(self.run(move |c| async move { c.add_and_get(delta).await }))
        })
    }

    /// Adds `delta`; returns the previous value.
    #[wasm_bindgen(js_name = getAndAdd, unchecked_return_type = "Promise<bigint>")]
    pub fn get_and_add(
        &self,
        #[wasm_bindgen(unchecked_param_type = "bigint | number")] delta: JsValue,
    ) -> Promise {
        try_promise(|| {
            let delta = long(&delta, "delta")?;
            Ok(self.run(move |c| async move { c.get_and_add(delta).await }))
        })
    }

    /// Adds one; returns the new value.
    #[wasm_bindgen(js_name = incrementAndGet, unchecked_return_type = "Promise<bigint>")]
    pub fn increment_and_get(&self) -> Promise {
        self.run(|c| async move { c.increment_and_get().await })
    }

    /// Subtracts one; returns the new value.
    #[wasm_bindgen(js_name = decrementAndGet, unchecked_return_type = "Promise<bigint>")]
    pub fn decrement_and_get(&self) -> Promise {
        self.run(|c| async move { c.decrement_and_get().await })
    }

    /// Adds one; returns the previous value.
    #[wasm_bindgen(js_name = getAndIncrement, unchecked_return_type = "Promise<bigint>")]
    pub fn get_and_increment(&self) -> Promise {
        self.run(|c| async move { c.get_and_increment().await })
    }

    /// Subtracts one; returns the previous value.
    #[wasm_bindgen(js_name = getAndDecrement, unchecked_return_type = "Promise<bigint>")]
    pub fn get_and_decrement(&self) -> Promise {
        self.run(|c| async move { c.get_and_decrement().await })
    }

    /// Sets `value`; returns the previous value.
    #[wasm_bindgen(js_name = getAndSet, unchecked_return_type = "Promise<bigint>")]
    pub fn get_and_set(
        &self,
        #[wasm_bindgen(unchecked_param_type = "bigint | number")] value: JsValue,
    ) -> Promise {
        try_promise(|| {
            let value = long(&value, "value")?;
            Ok(self.run(move |c| async move { c.get_and_set(value).await }))
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
            let counter = self.inner.clone();
            Ok(crate::types::promise(async move {
                counter.compare_and_set(expect, update).await
            }))
        })
    }
}
