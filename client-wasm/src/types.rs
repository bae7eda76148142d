//! TypeScript declarations for what the exported signatures name, and the
//! one helper that turns a Rust call into a JavaScript promise.

use crate::errors::to_js;
use js_sys::Promise;
use std::future::Future;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &str = r#"
/** What an AtomicReference stores: JSON-like data plus bigint and bytes.
 * Maps compare equal whatever their key order. */
export type Value =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | Value[]
  | { [key: string]: Value };

/** Options for connect(). */
export interface ConnectOptions {
  /** A WebSocket constructor, for runtimes without a global one
   * (Node 20: `import { WebSocket } from "ws"`). */
  WebSocket?: unknown;
  /** How long a call may take before it fails with a TimeoutError
   * (default 30000). Waits by design (lock, acquire, awaitLatch) are not
   * limited; a call with its own timeout gets this much on top. */
  requestTimeoutMs?: number;
  /** Shown in server logs (default "js"). */
  clientName?: string;
  /** Move to the leader when a member names it (default true). */
  followLeader?: boolean;
}

/** Options for calls that may wait. */
export interface WaitOptions {
  /** Aborting rejects the call with an AbortError and cancels its queued
   * wait on the server. */
  signal?: AbortSignal;
}
"#;

/// Runs `work` as a promise: its value on success, a `RaftcpError` on
/// failure.
pub(crate) fn promise<F, T>(work: F) -> Promise
where
    F: Future<Output = raftcp::Result<T>> + 'static,
    T: Resolved,
{
    future_to_promise(async move { work.await.map(Resolved::into_js).map_err(to_js) })
}

/// What a promise resolves to, for the result types of the client.
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

impl Resolved for u32 {
    fn into_js(self) -> JsValue {
        JsValue::from(self)
    }
}

impl Resolved for JsValue {
    fn into_js(self) -> JsValue {
        self
    }
}

/// Like [`promise`], for work that already produces JavaScript errors.
pub(crate) fn promise_js<F>(work: F) -> Promise
where
    F: Future<Output = Result<JsValue, JsValue>> + 'static,
{
    future_to_promise(work)
}

/// A promise from `start`, or one rejected with the error `start` gave
/// (for arguments that fail to convert), so every method reports errors
/// the same way: as a rejection, never a synchronous throw.
pub(crate) fn try_promise(start: impl FnOnce() -> Result<Promise, JsValue>) -> Promise {
    start().unwrap_or_else(|error| Promise::reject(&error))
}
