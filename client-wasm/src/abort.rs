//! `{ signal }` on waiting calls: when the signal fires, the call is
//! dropped, which sends the server a cancel for the queued waiter, and the
//! promise rejects with an `AbortError`.

use crate::convert::option;
use crate::errors::aborted;
use futures_util::future::{Either, select};
use raftcp::Callback;
use std::future::Future;
use std::pin::{Pin, pin};
use std::task::{Context, Poll};
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// Any object shaped like a standard `AbortSignal`.
    #[derive(Debug, Clone)]
    type Signal;
    #[wasm_bindgen(method, getter)]
    fn aborted(this: &Signal) -> bool;
    #[wasm_bindgen(method, js_name = addEventListener)]
    fn add_event_listener(this: &Signal, kind: &str, listener: &js_sys::Function);
    #[wasm_bindgen(method, js_name = removeEventListener)]
    fn remove_event_listener(this: &Signal, kind: &str, listener: &js_sys::Function);
}

/// The `signal` of a `{ signal }` options bag, if any.
pub(crate) fn signal_of(options: &JsValue) -> Option<JsValue> {
    option(options, "signal")
}

/// Runs `work` until it finishes or `signal` fires.
pub(crate) async fn abortable<F: Future>(
    signal: Option<JsValue>,
    work: F,
) -> Result<F::Output, JsValue> {
    let Some(signal) = signal else {
        return Ok(work.await);
    };
    let signal: Signal = signal.unchecked_into();
    if signal.aborted() {
        return Err(aborted());
    }
    let fired = Fired::listen(signal);
    match select(pin!(work), fired).await {
        Either::Left((output, _)) => Ok(output),
        Either::Right(_) => Err(aborted()),
    }
}

/// Resolves when the signal fires; stops listening when dropped.
#[derive(Debug)]
struct Fired {
    signal: Signal,
    listener: Callback,
}

impl Fired {
    fn listen(signal: Signal) -> Self {
        let listener = Callback::new();
        signal.add_event_listener("abort", listener.function());
        Fired { signal, listener }
    }
}

impl Future for Fired {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.listener).poll(cx)
    }
}

impl Drop for Fired {
    fn drop(&mut self) {
        self.signal
            .remove_event_listener("abort", self.listener.function());
    }
}
