//! `{ signal }` on waiting calls: when the signal fires, the call is
//! dropped, which sends the server a cancel for the queued waiter, and the
//! promise rejects with an `AbortError`.

use crate::convert::option;
use crate::errors::aborted;
use futures_util::future::{Either, select};
use std::cell::RefCell;
use std::future::Future;
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
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

#[derive(Debug, Default)]
struct FiredState {
    fired: bool,
    waker: Option<Waker>,
}

/// Resolves when the signal fires; stops listening when dropped.
#[derive(Debug)]
struct Fired {
    signal: Signal,
    state: Rc<RefCell<FiredState>>,
    listener: Closure<dyn FnMut()>,
}

impl Fired {
    fn listen(signal: Signal) -> Self {
        let state = Rc::new(RefCell::new(FiredState::default()));
        let shared = state.clone();
        let listener = Closure::<dyn FnMut()>::new(move || {
            let waker = {
                let mut state = shared.borrow_mut();
                state.fired = true;
                state.waker.take()
            };
            if let Some(waker) = waker {
                waker.wake();
            }
        });
        signal.add_event_listener("abort", listener.as_ref().unchecked_ref());
        Fired {
            signal,
            state,
            listener,
        }
    }
}

impl Future for Fired {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.state.borrow_mut();
        if state.fired {
            return Poll::Ready(());
        }
        state.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for Fired {
    fn drop(&mut self) {
        self.signal
            .remove_event_listener("abort", self.listener.as_ref().unchecked_ref());
    }
}
