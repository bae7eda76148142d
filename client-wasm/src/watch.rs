//! `watch()` on every handle: an async iterator of changes
//! (`js/watch.js`) over a [`WatchStream`], which wraps the client's
//! `Changes` stream. Each change is `{ position, value, jump, destroyed }`,
//! `position` a `bigint`, `value` as the handle's reads give it.

use crate::abort::abortable;
use crate::convert::from_stored;
use crate::errors::to_js;
use futures_util::{Stream, StreamExt};
use js_sys::{Object, Promise, Reflect};
use raftcp::proto::ObjectState;
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

/// `watch()`: the async iterator over the changes `start` begins; a
/// destroyed object's value is `fresh` (what a new one's reads give).
pub(crate) fn watch(signal: Option<JsValue>, start: Start, fresh: JsValue) -> JsValue {
    let started = future_to_promise(async move {
        let started = abortable(signal.clone(), start).await?;
        let changes = started.map_err(to_js)?;
        let stream = changes.map(move |item| item.map(|c| change_object(c, &fresh)).map_err(to_js));
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

/// A handle's `watch_states()`, started.
pub(crate) type Start = Pin<Box<dyn Future<Output = raftcp::Result<raftcp::Changes<ObjectState>>>>>;

fn change_object(change: raftcp::Change<ObjectState>, fresh: &JsValue) -> JsValue {
    let object = Object::new();
    let value = match change.value {
        ObjectState::Destroyed => fresh.clone(),
        state => state_value(state),
    };
    let fields = [
        ("position", js_sys::BigInt::from(change.position).into()),
        ("value", value),
        ("jump", JsValue::from_bool(change.jump)),
        ("destroyed", JsValue::from_bool(change.destroyed)),
    ];
    for (key, field) in fields {
        let _ = Reflect::set(&object, &JsValue::from_str(key), &field);
    }
    object.into()
}

/// A state as the handle's reads give it: a counter as `bigint`, a
/// reference's value, `{ held, fence }`, permits as `number`,
/// `{ count, round }`.
pub(crate) fn state_value(state: ObjectState) -> JsValue {
    let object = |fields: [(&str, JsValue); 2]| {
        let object = Object::new();
        for (key, field) in fields {
            let _ = Reflect::set(&object, &JsValue::from_str(key), &field);
        }
        JsValue::from(object)
    };
    match state {
        ObjectState::Long(value) => js_sys::BigInt::from(value).into(),
        ObjectState::Reference(value) => from_stored(value),
        ObjectState::Lock { held, fence } => object([
            ("held", JsValue::from_bool(held)),
            ("fence", js_sys::BigInt::from(fence.0).into()),
        ]),
        ObjectState::Semaphore { available } => JsValue::from(available),
        ObjectState::Latch { count, round } => object([
            ("count", JsValue::from(count)),
            ("round", JsValue::from(round)),
        ]),
        ObjectState::Destroyed => JsValue::NULL,
    }
}
