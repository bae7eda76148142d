//! `watch()` on every handle: an async iterator of changes
//! (`js/watch.js`) over a [`WatchStream`], which wraps the client's
//! `Changes` stream. Each change is `{ position, value, jump, destroyed }`,
//! `position` a `bigint`, `value` as the handle's reads give it.

use crate::abort::abortable;
use crate::errors::to_js;
use futures_util::{Stream, StreamExt};
use js_sys::{Object, Promise, Reflect};
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Poll, Waker};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

#[wasm_bindgen(module = "/js/watch.js")]
extern "C" {
    /// The async iterator over the stream `started` resolves to.
    fn changes(started: Promise) -> JsValue;
}

type Changes = Pin<Box<dyn Stream<Item = Result<JsValue, JsValue>>>>;

/// One watch's changes, taken by `nextChange()`; `close()` ends the watch.
#[wasm_bindgen]
pub struct WatchStream {
    state: Rc<RefCell<State>>,
    /// Aborting rejects the pending `nextChange()` and ends the watch.
    signal: Option<JsValue>,
}

impl std::fmt::Debug for WatchStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchStream").finish_non_exhaustive()
    }
}

#[derive(Default)]
struct State {
    /// `None` once closed.
    changes: Option<Changes>,
    /// The pending `nextChange()`, woken by `close()`.
    waker: Option<Waker>,
}

impl State {
    fn close(&mut self) {
        self.changes = None;
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }
}

#[wasm_bindgen]
impl WatchStream {
    /// The next change, or `null` once the watch ended (the client
    /// closed, or `close()`); rejects with the error that ended it.
    #[wasm_bindgen(js_name = nextChange, unchecked_return_type = "Promise<unknown>")]
    pub fn next_change(&self) -> Promise {
        let state = self.state.clone();
        let signal = self.signal.clone();
        future_to_promise(async move {
            let next = std::future::poll_fn(|cx| {
                let mut state = state.borrow_mut();
                let Some(changes) = state.changes.as_mut() else {
                    return Poll::Ready(None);
                };
                let polled = changes.as_mut().poll_next(cx);
                if polled.is_pending() {
                    state.waker = Some(cx.waker().clone());
                }
                polled
            });
            match abortable(signal, next).await {
                Ok(Some(Ok(change))) => Ok(change),
                Ok(None) => Ok(JsValue::NULL),
                Ok(Some(Err(error))) | Err(error) => {
                    state.borrow_mut().close();
                    Err(error)
                }
            }
        })
    }

    /// Ends the watch (on the server too).
    pub fn close(&self) {
        self.state.borrow_mut().close();
    }
}

/// `watch()`: the async iterator over the changes `start` begins,
/// each one's value made JavaScript by `value`.
pub(crate) fn watch<T, Fut>(signal: Option<JsValue>, start: Fut, value: fn(T) -> JsValue) -> JsValue
where
    T: Default + 'static,
    Fut: Future<Output = raftcp::Result<raftcp::Changes<T>>> + 'static,
{
    let started = future_to_promise(async move {
        let started = abortable(signal.clone(), start).await?;
        let stream = started.map_err(to_js)?.map(move |item| {
            item.map(|change| change_object(change, value))
                .map_err(to_js)
        });
        let state = State {
            changes: Some(Box::pin(stream)),
            waker: None,
        };
        let stream = WatchStream {
            state: Rc::new(RefCell::new(state)),
            signal,
        };
        Ok(stream.into())
    });
    changes(started)
}

fn change_object<T>(change: raftcp::Change<T>, value: fn(T) -> JsValue) -> JsValue {
    let object = Object::new();
    let fields = [
        ("position", js_sys::BigInt::from(change.position).into()),
        ("value", value(change.value)),
        ("jump", JsValue::from_bool(change.jump)),
        ("destroyed", JsValue::from_bool(change.destroyed)),
    ];
    for (key, field) in fields {
        let _ = Reflect::set(&object, &JsValue::from_str(key), &field);
    }
    object.into()
}

/// `{ held, fence }`, `fence` a `bigint` (`0n` while free).
pub(crate) fn lock_state(state: raftcp::LockState) -> JsValue {
    let object = Object::new();
    let _ = Reflect::set(&object, &"held".into(), &JsValue::from_bool(state.held));
    let fence = js_sys::BigInt::from(state.fence.0);
    let _ = Reflect::set(&object, &"fence".into(), &fence.into());
    object.into()
}

/// `{ count, round }`.
pub(crate) fn latch_state(state: raftcp::LatchState) -> JsValue {
    let object = Object::new();
    let _ = Reflect::set(&object, &"count".into(), &JsValue::from(state.count));
    let _ = Reflect::set(&object, &"round".into(), &JsValue::from(state.round));
    object.into()
}
