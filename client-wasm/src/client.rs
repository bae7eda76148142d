//! `connect()` and the `Client` class.

use crate::admin::ClusterAdmin;
use crate::atomic_long::AtomicLong;
use crate::atomic_reference::AtomicReference;
use crate::convert::{count, option};
use crate::errors::{config, invalid};
use crate::latch::CountDownLatch;
use crate::lock::FencedLock;
use crate::semaphore::Semaphore;
use js_sys::{Array, Function, Promise};
use raftcp::transport::Transport;
use raftcp::transport::web::WebTransport;
use std::time::Duration;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

/// Connects to a raftcp cluster through any of `endpoints`
/// (`ws://host:port`). The client connects in the background and opens a
/// session; calls made before that wait for it, within their timeout.
#[wasm_bindgen(unchecked_return_type = "Promise<Client>")]
pub fn connect(
    #[wasm_bindgen(unchecked_param_type = "string | string[]")] endpoints: JsValue,
    #[wasm_bindgen(unchecked_optional_param_type = "ConnectOptions")] options: Option<JsValue>,
) -> Promise {
    future_to_promise(async move {
        let options = options.unwrap_or(JsValue::UNDEFINED);
        let mut builder = raftcp::Client::builder().endpoints(endpoint_list(&endpoints)?);
        if let Some(ms) = option(&options, "requestTimeoutMs") {
            match ms.as_f64() {
                Some(ms) if ms.is_finite() && ms >= 1.0 => {
                    builder = builder.request_timeout(Duration::from_millis(ms as u64));
                }
                _ => return Err(config("requestTimeoutMs must be a number of at least 1")),
            }
        }
        if let Some(name) = option(&options, "clientName") {
            let name = name
                .as_string()
                .ok_or_else(|| config("clientName must be a string"))?;
            builder = builder.client_name(name);
        }
        if let Some(follow) = option(&options, "followLeader") {
            builder = builder.follow_leader(follow.is_truthy());
        }
        if let Some(token) = option(&options, "token") {
            let token = token
                .as_string()
                .ok_or_else(|| config("token must be a string"))?;
            builder = builder.token(token);
        }
        if let Some(provider) = option(&options, "tokenProvider") {
            let provider = provider
                .dyn_into::<Function>()
                .map_err(|_| config("tokenProvider must be a function returning a token"))?;
            builder = builder.token_provider(move || fetch_token(provider.clone()));
        }
        let over_http = match option(&options, "transport").map(|t| t.as_string()) {
            None => false,
            Some(Some(t)) if t == "websocket" => false,
            Some(Some(t)) if t == "http" => true,
            Some(_) => return Err(config("transport must be \"websocket\" or \"http\"")),
        };
        builder = builder.session_less_over_http(over_http);
        let transport = match option(&options, "WebSocket") {
            Some(constructor) => WebTransport::with_constructor(
                constructor
                    .dyn_into::<Function>()
                    .map_err(|_| config("WebSocket must be a constructor"))?,
            ),
            None => WebTransport::default(),
        };
        if !over_http {
            // Over HTTP, a runtime without WebSockets still runs every
            // session-less call; the others fail with a ConfigError.
            transport.check().map_err(config)?;
        }
        let client = builder
            .connect_with(transport)
            .await
            .map_err(crate::errors::to_js)?;
        Ok(Client { inner: client }.into())
    })
}

fn endpoint_list(endpoints: &JsValue) -> Result<Vec<String>, JsValue> {
    if let Some(one) = endpoints.as_string() {
        return Ok(vec![one]);
    }
    let list = endpoints
        .dyn_ref::<Array>()
        .ok_or_else(|| config("endpoints must be a string or an array of strings"))?;
    list.iter()
        .map(|endpoint| {
            endpoint
                .as_string()
                .ok_or_else(|| config("endpoints must be strings"))
        })
        .collect()
}

/// A connection to a raftcp cluster with one session. Handles need no
/// round trip to create; every handle shares the session.
#[wasm_bindgen]
#[derive(Debug)]
pub struct Client {
    inner: raftcp::Client,
}

#[wasm_bindgen]
impl Client {
    /// The AtomicLong `name` (`name@group` picks a group).
    #[wasm_bindgen(js_name = getAtomicLong)]
    pub fn get_atomic_long(&self, name: &str) -> AtomicLong {
        AtomicLong::new(self.inner.get_atomic_long(name))
    }

    /// The AtomicReference `name`.
    #[wasm_bindgen(js_name = getAtomicReference)]
    pub fn get_atomic_reference(&self, name: &str) -> AtomicReference {
        AtomicReference::new(self.inner.get_value_reference(name))
    }

    /// A lock handle: reentrant with itself, exclusive with every other
    /// handle. `reentrancyLimit` caps how many times this handle may hold
    /// it at once (1: not reentrant); throws an InvalidValueError if it is
    /// not a whole number of at least 1.
    #[wasm_bindgen(js_name = getFencedLock)]
    pub fn get_fenced_lock(
        &self,
        name: &str,
        #[wasm_bindgen(js_name = reentrancyLimit, unchecked_optional_param_type = "number")]
        reentrancy_limit: Option<f64>,
    ) -> Result<FencedLock, JsValue> {
        let lock = match reentrancy_limit {
            Some(limit) => match count(Some(limit), 0, "reentrancyLimit")? {
                0 => return Err(invalid("reentrancyLimit must be at least 1")),
                limit => self.inner.get_fenced_lock_with_limit(name, limit),
            },
            None => self.inner.get_fenced_lock(name),
        };
        Ok(FencedLock::new(lock))
    }

    /// A Semaphore handle; permits it acquires are held by this handle.
    #[wasm_bindgen(js_name = getSemaphore)]
    pub fn get_semaphore(&self, name: &str) -> Semaphore {
        Semaphore::new(self.inner.get_semaphore(name))
    }

    /// The CountDownLatch `name`.
    #[wasm_bindgen(js_name = getCountDownLatch)]
    pub fn get_count_down_latch(&self, name: &str) -> CountDownLatch {
        CountDownLatch::new(self.inner.get_count_down_latch(name))
    }

    /// The cluster's admin operations: members and their changes,
    /// sessions, objects. The token needs the `admin` rule.
    pub fn admin(&self) -> ClusterAdmin {
        ClusterAdmin::new(self.inner.admin())
    }

    /// How many sessions ended under this client (what they held was
    /// released); 0 for a client that kept in touch with the cluster.
    #[wasm_bindgen(getter, js_name = sessionsLost)]
    pub fn sessions_lost(&self) -> f64 {
        self.inner.sessions_lost() as f64
    }

    /// Ends the session: locks and permits it holds are released, pending
    /// calls fail with a ClosedError, and the socket closes.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn close(&self) -> Promise {
        let client = self.inner.clone();
        future_to_promise(async move {
            client.close().await;
            Ok(JsValue::UNDEFINED)
        })
    }
}

/// Calls a JavaScript token provider: it may return the token or a
/// promise of it.
async fn fetch_token(provider: Function) -> Result<String, String> {
    let returned = provider
        .call0(&JsValue::UNDEFINED)
        .map_err(|e| format!("tokenProvider threw: {e:?}"))?;
    let token = wasm_bindgen_futures::JsFuture::from(js_sys::Promise::resolve(&returned))
        .await
        .map_err(|e| format!("tokenProvider rejected: {e:?}"))?;
    token
        .as_string()
        .ok_or_else(|| "tokenProvider must give a string".to_owned())
}
