//! Rust calls as JavaScript promises: every exported method clones the
//! handle it wraps and runs the call on the clone, so no borrow of a
//! JavaScript-owned object is held across an `await`.

use crate::abort::abortable;
use crate::errors::to_js;
use js_sys::Promise;
use raftcp::Fence;
use std::future::Future;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

/// Runs `op` on a clone of `handle`; the promise resolves to its result as
/// JavaScript, or rejects with a `RaftcpError`.
pub(crate) fn on<H, F, Fut, T>(handle: &H, op: F) -> Promise
where
    H: Clone + 'static,
    F: FnOnce(H) -> Fut + 'static,
    Fut: Future<Output = raftcp::Result<T>> + 'static,
    T: Resolved,
{
    // Not `on_waiting(handle, None, op)`: that would build the abort
    // machinery into every method (+8% .wasm).
    let handle = handle.clone();
    future_to_promise(async move { op(handle).await.map(Resolved::into_js).map_err(to_js) })
}

/// [`on`] for a call that may wait: when `signal` (an `AbortSignal`) fires,
/// the call is dropped, which cancels its waiter on the server, and the
/// promise rejects with an `AbortError`.
pub(crate) fn on_waiting<H, F, Fut, T>(handle: &H, signal: Option<JsValue>, op: F) -> Promise
where
    H: Clone + 'static,
    F: FnOnce(H) -> Fut + 'static,
    Fut: Future<Output = raftcp::Result<T>> + 'static,
    T: Resolved,
{
    let handle = handle.clone();
    future_to_promise(async move {
        abortable(signal, op(handle))
            .await?
            .map(Resolved::into_js)
            .map_err(to_js)
    })
}

/// A promise from `start`, or one rejected with the error `start` gave
/// (for arguments that fail to convert), so every method reports errors
/// the same way: as a rejection, never a synchronous throw.
pub(crate) fn try_promise(start: impl FnOnce() -> Result<Promise, JsValue>) -> Promise {
    start().unwrap_or_else(|error| Promise::reject(&error))
}

/// What a promise resolves to, for each result type of the client.
pub(crate) trait Resolved {
    fn into_js(self) -> JsValue;
}

impl Resolved for () {
    fn into_js(self) -> JsValue {
        JsValue::UNDEFINED
    }
}

impl Resolved for bool {
    fn into_js(self) -> JsValue {
        JsValue::from_bool(self)
    }
}

/// Permits and counts: `number`.
impl Resolved for u32 {
    fn into_js(self) -> JsValue {
        JsValue::from(self)
    }
}

/// AtomicLong values: `bigint`.
impl Resolved for i64 {
    fn into_js(self) -> JsValue {
        js_sys::BigInt::from(self).into()
    }
}

impl Resolved for Fence {
    fn into_js(self) -> JsValue {
        js_sys::BigInt::from(self.0).into()
    }
}

/// A lock not taken: `null`.
impl Resolved for Option<Fence> {
    fn into_js(self) -> JsValue {
        self.map_or(JsValue::NULL, Resolved::into_js)
    }
}

impl Resolved for JsValue {
    fn into_js(self) -> JsValue {
        self
    }
}
