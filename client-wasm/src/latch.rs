//! The `CountDownLatch` class.

use crate::abort::signal_of;
use crate::convert::{count, timeout};
use crate::promise::{on, on_waiting, try_promise};
use js_sys::Promise;
use raftcp::proto::ObjectState;
use wasm_bindgen::prelude::*;

/// A replicated countdown latch.
#[wasm_bindgen]
#[derive(Debug)]
pub struct CountDownLatch {
    inner: raftcp::CountDownLatch,
}

impl CountDownLatch {
    pub(crate) fn new(inner: raftcp::CountDownLatch) -> Self {
        Self { inner }
    }
}

#[wasm_bindgen]
impl CountDownLatch {
    /// Its changes as an async iterator (`for await`), from its state now
    /// (read linearizably), each change once, in log order; `break`, the
    /// `signal` or `client.close()` ends the watch.
    #[wasm_bindgen(unchecked_return_type = "AsyncIterableIterator<Change<LatchState>>")]
    pub fn watch(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "WaitOptions")] options: Option<JsValue>,
    ) -> JsValue {
        let signal = options.as_ref().and_then(crate::abort::signal_of);
        let handle = self.inner.clone();
        let fresh = ObjectState::Latch { count: 0, round: 0 };
        let start = Box::pin(async move { handle.watch_states().await });
        crate::watch::watch(signal, start, crate::watch::state_value(fresh))
    }

    /// The object name (without the group).
    #[wasm_bindgen(getter)]
    pub fn name(&self) -> String {
        self.inner.name().to_owned()
    }

    /// Removes the latch: waiters fail with OBJECT_DESTROYED; the next use finds
    /// a count of 0.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn destroy(&self) -> Promise {
        on(&self.inner, |l| async move { l.destroy().await })
    }

    /// Sets the count if the latch is at zero; `false` otherwise.
    #[wasm_bindgen(js_name = trySetCount, unchecked_return_type = "Promise<boolean>")]
    pub fn try_set_count(&self, #[wasm_bindgen(js_name = count)] count_to: f64) -> Promise {
        try_promise(|| {
            let n = count(Some(count_to), 0, "count")?;
            Ok(on(
                &self.inner,
                move |l| async move { l.try_set_count(n).await },
            ))
        })
    }

    /// Decrements the count; at zero every waiter is released.
    #[wasm_bindgen(js_name = countDown, unchecked_return_type = "Promise<void>")]
    pub fn count_down(&self) -> Promise {
        on(&self.inner, |l| async move { l.count_down().await })
    }

    /// The current count.
    #[wasm_bindgen(js_name = getCount, unchecked_return_type = "Promise<number>")]
    pub fn get_count(&self) -> Promise {
        on(&self.inner, |l| async move { l.get_count().await })
    }

    /// Waits until the count reaches zero, at most `timeoutMs` if given;
    /// says whether it did (always `true` without a timeout).
    #[wasm_bindgen(js_name = awaitLatch, unchecked_return_type = "Promise<boolean>")]
    pub fn await_latch(
        &self,
        #[wasm_bindgen(js_name = timeoutMs, unchecked_optional_param_type = "number")]
        timeout_ms: Option<f64>,
        #[wasm_bindgen(unchecked_optional_param_type = "WaitOptions")] options: Option<JsValue>,
    ) -> Promise {
        try_promise(|| {
            let limit = timeout(timeout_ms)?;
            let signal = options.as_ref().and_then(signal_of);
            Ok(on_waiting(&self.inner, signal, move |l| async move {
                match limit {
                    Some(limit) => l.await_latch_timeout(limit).await,
                    None => l.await_latch().await.map(|()| true),
                }
            }))
        })
    }
}
