//! The `FencedLock` class: fences as `bigint`, `null` where no lock was
//! taken, and `withLock(fn)` that unlocks on every path.

use crate::abort::{abortable, signal_of};
use crate::convert::timeout;
use crate::errors::to_js;
use crate::promise::{Resolved, on, on_waiting, try_promise};
use js_sys::{Function, Promise};
use raftcp::Fence;
use raftcp::proto::ObjectState;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, future_to_promise};

/// A replicated reentrant mutex with fencing tokens. Each handle is its own
/// owner: two handles exclude each other even in one client.
#[wasm_bindgen]
#[derive(Debug)]
pub struct FencedLock {
    inner: raftcp::FencedLock,
}

impl FencedLock {
    pub(crate) fn new(inner: raftcp::FencedLock) -> Self {
        Self { inner }
    }
}

#[wasm_bindgen]
impl FencedLock {
    /// Its changes as an async iterator (`for await`), from its state now
    /// (read linearizably), each change once, in log order; `break`, the
    /// `signal` or `client.close()` ends the watch.
    #[wasm_bindgen(unchecked_return_type = "AsyncIterableIterator<Change<LockState>>")]
    pub fn watch(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "WaitOptions")] options: Option<JsValue>,
    ) -> JsValue {
        let signal = options.as_ref().and_then(crate::abort::signal_of);
        let handle = self.inner.clone();
        let fresh = ObjectState::Lock {
            held: false,
            fence: raftcp::Fence::INVALID,
        };
        let start = Box::pin(async move { handle.watch_states().await });
        crate::watch::watch(signal, start, crate::watch::state_value(fresh))
    }

    /// The object name (without the group).
    #[wasm_bindgen(getter)]
    pub fn name(&self) -> String {
        self.inner.name().to_owned()
    }

    /// Removes the lock, whoever holds it: waiters fail with OBJECT_DESTROYED,
    /// and so does another holder's next call. The next `lock` creates a fresh
    /// lock whose fences exceed every earlier one.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn destroy(&self) -> Promise {
        on(&self.inner, |l| async move { l.destroy().await })
    }

    /// Waits until this handle holds the lock; resolves to the fence.
    #[wasm_bindgen(unchecked_return_type = "Promise<bigint>")]
    pub fn lock(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "WaitOptions")] options: Option<JsValue>,
    ) -> Promise {
        let signal = options.as_ref().and_then(signal_of);
        on_waiting(&self.inner, signal, |l| async move { l.lock().await })
    }

    /// Takes the lock if it is free now, or within `timeoutMs`; resolves to
    /// the fence, or `null` if it was not taken.
    #[wasm_bindgen(js_name = tryLock, unchecked_return_type = "Promise<bigint | null>")]
    pub fn try_lock(
        &self,
        #[wasm_bindgen(js_name = timeoutMs, unchecked_optional_param_type = "number")]
        timeout_ms: Option<f64>,
        #[wasm_bindgen(unchecked_optional_param_type = "WaitOptions")] options: Option<JsValue>,
    ) -> Promise {
        try_promise(|| {
            let wait = timeout(timeout_ms)?.unwrap_or_default();
            let signal = options.as_ref().and_then(signal_of);
            Ok(on_waiting(&self.inner, signal, move |l| async move {
                l.try_lock_timeout(wait).await
            }))
        })
    }

    /// Releases one hold. Rejects with NOT_OWNER if this handle holds
    /// nothing, or LockOwnershipLostError if its session ended meanwhile.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn unlock(&self) -> Promise {
        on(&self.inner, |l| async move { l.unlock().await })
    }

    /// Takes the lock, runs `work(fence)` (sync or async) and unlocks on
    /// every path; resolves to what `work` returned, or rejects with what
    /// it threw (after unlocking).
    #[wasm_bindgen(js_name = withLock, unchecked_return_type = "Promise<any>")]
    pub fn with_lock(
        &self,
        #[wasm_bindgen(unchecked_param_type = "(fence: bigint) => unknown")] work: Function,
        #[wasm_bindgen(unchecked_optional_param_type = "WaitOptions")] options: Option<JsValue>,
    ) -> Promise {
        let signal = options.as_ref().and_then(signal_of);
        let lock = self.inner.clone();
        future_to_promise(async move {
            // Only taking the lock listens to the signal: once `work` runs,
            // it finishes and the lock is released normally.
            let held = abortable(signal, lock.lock()).await?.map_err(to_js)?;
            let outcome = run_work(&work, held).await;
            lock.unlock().await.map_err(to_js)?;
            outcome
        })
    }

    /// Takes the lock if it is free now, for a lease of `leaseMs` (1000 to
    /// 3600000) instead of for this client's session: a Worker can take it
    /// in one request and end it in another. Resolves to `{ fence, lease }`
    /// (`lease` is the token, a string, that renews or ends it; keep it
    /// like a password), or `null` if the lock is held. Released when the
    /// lease runs out, unless renewed or ended first. Needs no session.
    #[wasm_bindgen(js_name = tryLockLeased, unchecked_return_type = "Promise<LockLease | null>")]
    pub fn try_lock_leased(&self, #[wasm_bindgen(js_name = leaseMs)] lease_ms: f64) -> Promise {
        try_promise(|| {
            if !(lease_ms.is_finite() && lease_ms >= 0.0) {
                return Err(crate::errors::invalid(
                    "leaseMs must be a number of milliseconds",
                ));
            }
            let lease = std::time::Duration::from_millis(lease_ms.ceil() as u64);
            Ok(on(&self.inner, move |l| async move {
                let taken = l.try_lock_leased(lease).await?;
                Ok(taken.map_or(JsValue::NULL, |taken| {
                    let lease = js_sys::Object::new();
                    let _ = js_sys::Reflect::set(&lease, &"fence".into(), &taken.fence.into_js());
                    let token = taken.token.to_string().into();
                    let _ = js_sys::Reflect::set(&lease, &"lease".into(), &token);
                    lease.into()
                }))
            }))
        })
    }

    /// Gives the lease its full length again from now. Rejects with a
    /// LockOwnershipLostError once it ran out or was ended.
    #[wasm_bindgen(js_name = renewLease, unchecked_return_type = "Promise<void>")]
    pub fn renew_lease(&self, lease: &str) -> Promise {
        try_promise(|| {
            let token = crate::convert::lease_token(lease)?;
            Ok(on(&self.inner, move |l| async move {
                l.renew_lease(&token).await
            }))
        })
    }

    /// Ends the lease, releasing the lock. Rejects with a
    /// LockOwnershipLostError once it ran out or was ended.
    #[wasm_bindgen(js_name = unlockLeased, unchecked_return_type = "Promise<void>")]
    pub fn unlock_leased(&self, lease: &str) -> Promise {
        try_promise(|| {
            let token = crate::convert::lease_token(lease)?;
            Ok(on(&self.inner, move |l| async move {
                l.unlock_leased(&token).await
            }))
        })
    }

    /// Whether any handle holds the lock.
    #[wasm_bindgen(js_name = isLocked, unchecked_return_type = "Promise<boolean>")]
    pub fn is_locked(&self) -> Promise {
        on(&self.inner, |l| async move { l.is_locked().await })
    }

    /// Whether this handle holds the lock.
    #[wasm_bindgen(js_name = isLockedByMe, unchecked_return_type = "Promise<boolean>")]
    pub fn is_locked_by_me(&self) -> Promise {
        on(&self.inner, |l| async move { l.is_locked_by_me().await })
    }

    /// How many times the lock is held (by any handle).
    #[wasm_bindgen(js_name = getLockCount, unchecked_return_type = "Promise<number>")]
    pub fn get_lock_count(&self) -> Promise {
        on(&self.inner, |l| async move { l.get_lock_count().await })
    }

    /// The fence of this handle's current hold; rejects with NOT_OWNER if
    /// it holds nothing.
    #[wasm_bindgen(js_name = getFence, unchecked_return_type = "Promise<bigint>")]
    pub fn get_fence(&self) -> Promise {
        on(&self.inner, |l| async move { l.get_fence().await })
    }
}

/// Calls `work(fence)` and waits for what it returns if that is a promise.
async fn run_work(work: &Function, held: Fence) -> Result<JsValue, JsValue> {
    let returned = work.call1(&JsValue::UNDEFINED, &held.into_js())?;
    JsFuture::from(Promise::resolve(&returned)).await
}
