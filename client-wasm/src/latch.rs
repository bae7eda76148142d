//! The `CountDownLatch` class.

use crate::abort::{abortable, signal_of};
use crate::convert::{count, timeout};
use crate::errors::to_js;
use crate::types::{promise, promise_js, try_promise};
use js_sys::Promise;
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
    /// The object name (without the group).
    #[wasm_bindgen(getter)]
    pub fn name(&self) -> String {
        self.inner.name().to_owned()
    }

    /// Sets the count if the latch is at zero; `false` otherwise.
    #[wasm_bindgen(js_name = trySetCount, unchecked_return_type = "Promise<boolean>")]
    pub fn try_set_count(&self, #[wasm_bindgen(js_name = count)] count_to: f64) -> Promise {
        try_promise(|| {
            let n = count(Some(count_to), 0, "count")?;
            let latch = self.inner.clone();
            Ok(promise(async move { latch.try_set_count(n).await }))
        })
    }

    /// Decrements the count; at zero every waiter is released.
    #[wasm_bindgen(js_name = countDown, unchecked_return_type = "Promise<void>")]
    pub fn count_down(&self) -> Promise {
        let latch = self.inner.clone();
        promise(async move { latch.count_down().await })
    }

    /// The current count.
    #[wasm_bindgen(js_name = getCount, unchecked_return_type = "Promise<number>")]
    pub fn get_count(&self) -> Promise {
        let latch = self.inner.clone();
        promise(async move { latch.get_count().await })
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
            let latch = self.inner.clone();
            Ok(promise_js(async move {
                let opened = match limit {
                    Some(limit) => abortable(signal, latch.await_latch_timeout(limit)).await?,
                    None => {
                        abortable(signal, async { latch.await_latch().await.map(|()| true) })
                            .await?
                    }
                };
                opened.map(JsValue::from_bool).map_err(to_js)
            }))
        })
    }
}
