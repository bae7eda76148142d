//! The `Semaphore` class: permits as `number`, JavaScript default arguments
//! where the seed API has them.

use crate::abort::signal_of;
use crate::convert::{count, timeout};
use crate::promise::{on, on_waiting, try_promise};
use js_sys::Promise;
use raftcp::proto::ObjectState;
use wasm_bindgen::prelude::*;

/// A replicated counting semaphore; permits are held by this handle.
#[wasm_bindgen]
#[derive(Debug)]
pub struct Semaphore {
    inner: raftcp::Semaphore,
}

impl Semaphore {
    pub(crate) fn new(inner: raftcp::Semaphore) -> Self {
        Self { inner }
    }
}

#[wasm_bindgen]
impl Semaphore {
    /// Its changes as an async iterator (`for await`), from its state now
    /// (read linearizably), each change once, in log order; `break`, the
    /// `signal` or `client.close()` ends the watch.
    #[wasm_bindgen(unchecked_return_type = "AsyncIterableIterator<Change<number>>")]
    pub fn watch(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "WaitOptions")] options: Option<JsValue>,
    ) -> JsValue {
        let signal = options.as_ref().and_then(crate::abort::signal_of);
        let handle = self.inner.clone();
        let fresh = ObjectState::Semaphore { available: 0 };
        let start = Box::pin(async move { handle.watch_states().await });
        crate::watch::watch(signal, start, crate::watch::state_value(fresh))
    }

    /// The object name (without the group).
    #[wasm_bindgen(getter)]
    pub fn name(&self) -> String {
        self.inner.name().to_owned()
    }

    /// Removes the semaphore with its permits: waiters fail with
    /// OBJECT_DESTROYED, and so does another holder's next acquire, release or
    /// drain. The next use finds a fresh, uninitialized semaphore.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn destroy(&self) -> Promise {
        on(&self.inner, |s| async move { s.destroy().await })
    }

    /// Sets the permit count once; `false` if it was already initialized.
    #[wasm_bindgen(unchecked_return_type = "Promise<boolean>")]
    pub fn init(&self, permits: f64) -> Promise {
        try_promise(|| {
            let permits = count(Some(permits), 0, "permits")?;
            Ok(on(
                &self.inner,
                move |s| async move { s.init(permits).await },
            ))
        })
    }

    /// Waits until `permits` (default 1) are available and takes them.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn acquire(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "number")] permits: Option<f64>,
        #[wasm_bindgen(unchecked_optional_param_type = "WaitOptions")] options: Option<JsValue>,
    ) -> Promise {
        try_promise(|| {
            let permits = count(permits, 1, "permits")?;
            let signal = options.as_ref().and_then(signal_of);
            Ok(on_waiting(&self.inner, signal, move |s| async move {
                s.acquire_many(permits).await
            }))
        })
    }

    /// Takes `permits` (default 1) if they are available within
    /// `timeoutMs` (default 0: only if available now); says whether it did.
    #[wasm_bindgen(js_name = tryAcquire, unchecked_return_type = "Promise<boolean>")]
    pub fn try_acquire(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "number")] permits: Option<f64>,
        #[wasm_bindgen(js_name = timeoutMs, unchecked_optional_param_type = "number")]
        timeout_ms: Option<f64>,
        #[wasm_bindgen(unchecked_optional_param_type = "WaitOptions")] options: Option<JsValue>,
    ) -> Promise {
        try_promise(|| {
            let permits = count(permits, 1, "permits")?;
            let wait = timeout(timeout_ms)?.unwrap_or_default();
            let signal = options.as_ref().and_then(signal_of);
            Ok(on_waiting(&self.inner, signal, move |s| async move {
                s.try_acquire_many(permits, wait).await
            }))
        })
    }

    /// Takes `permits` if they are available now, for a lease of `leaseMs`
    /// (1000 to 3600000) instead of for this client's session; resolves to
    /// the lease token (a string: keep it like a password) that renews or
    /// ends it, or `null` if they are not available. They return to the
    /// semaphore when the lease runs out, unless renewed or ended first.
    /// Needs no session.
    #[wasm_bindgen(js_name = tryAcquireLeased, unchecked_return_type = "Promise<string | null>")]
    pub fn try_acquire_leased(
        &self,
        permits: f64,
        #[wasm_bindgen(js_name = leaseMs)] lease_ms: f64,
    ) -> Promise {
        try_promise(|| {
            let permits = count(Some(permits), 1, "permits")?;
            let lease = crate::convert::lease_length(lease_ms)?;
            Ok(on(&self.inner, move |s| async move {
                let token = s.try_acquire_leased(permits, lease).await?;
                Ok(token.map_or(JsValue::NULL, |t| t.to_string().into()))
            }))
        })
    }

    /// Gives the lease its full length again from now. Rejects with a
    /// LockOwnershipLostError once it ran out or was ended.
    #[wasm_bindgen(js_name = renewLease, unchecked_return_type = "Promise<void>")]
    pub fn renew_lease(&self, lease: &str) -> Promise {
        try_promise(|| {
            let token = crate::convert::lease_token(lease)?;
            Ok(on(&self.inner, move |s| async move {
                s.renew_lease(&token).await
            }))
        })
    }

    /// Ends the lease, returning its permits. Rejects with a
    /// LockOwnershipLostError once it ran out or was ended.
    #[wasm_bindgen(js_name = releaseLeased, unchecked_return_type = "Promise<void>")]
    pub fn release_leased(&self, lease: &str) -> Promise {
        try_promise(|| {
            let token = crate::convert::lease_token(lease)?;
            Ok(on(&self.inner, move |s| async move {
                s.release_leased(&token).await
            }))
        })
    }

    /// Returns `permits` (default 1) this handle holds.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn release(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "number")] permits: Option<f64>,
    ) -> Promise {
        try_promise(|| {
            let permits = count(permits, 1, "permits")?;
            Ok(on(&self.inner, move |s| async move {
                s.release_many(permits).await
            }))
        })
    }

    /// Permits available now.
    #[wasm_bindgen(js_name = availablePermits, unchecked_return_type = "Promise<number>")]
    pub fn available_permits(&self) -> Promise {
        on(&self.inner, |s| async move { s.available_permits().await })
    }

    /// Takes every available permit; returns how many.
    #[wasm_bindgen(js_name = drainPermits, unchecked_return_type = "Promise<number>")]
    pub fn drain_permits(&self) -> Promise {
        on(&self.inner, |s| async move { s.drain_permits().await })
    }

    /// Removes up to `permits` available permits (never below zero).
    #[wasm_bindgen(js_name = reducePermits, unchecked_return_type = "Promise<void>")]
    pub fn reduce_permits(&self, permits: f64) -> Promise {
        try_promise(|| {
            let permits = count(Some(permits), 0, "permits")?;
            Ok(on(&self.inner, move |s| async move {
                s.reduce_permits(permits).await
            }))
        })
    }

    /// Adds `permits` to the pool, granting waiters in order.
    #[wasm_bindgen(js_name = increasePermits, unchecked_return_type = "Promise<void>")]
    pub fn increase_permits(&self, permits: f64) -> Promise {
        try_promise(|| {
            let permits = count(Some(permits), 0, "permits")?;
            Ok(on(&self.inner, move |s| async move {
                s.increase_permits(permits).await
            }))
        })
    }
}
