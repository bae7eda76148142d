//! [`ClientBuilder`]: connection settings with documented defaults.

use crate::client::{Client, StartSettings};
use crate::driver::Tokens;
use crate::error::{Error, Result};
use crate::runtime::{self, DefaultTransport, MaybeSend, MaybeSync};
use crate::transport::Transport;
use std::future::Future;
use std::time::Duration;

/// How long a call may take before it fails with [`Error::Timeout`]. A call
/// that waits by design (`lock()`, `acquire()`, `await_latch()`) is not
/// limited; one with its own timeout gets this much on top of it.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Settings for [`Client`]. Start with [`Client::builder`].
///
/// ```no_run
/// # async fn demo() -> Result<(), raftcp::Error> {
/// use std::time::Duration;
/// let client = raftcp::Client::builder()
///     .endpoints(["ws://127.0.0.1:7701", "ws://127.0.0.1:7702"])
///     .request_timeout(Duration::from_secs(5))
///     .client_name("billing-worker")
///     .connect()
///     .await?;
/// # let _ = client; Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct ClientBuilder {
    endpoints: Vec<String>,
    request_timeout: Duration,
    client_name: String,
    follow_leader: bool,
    tokens: Tokens,
    session_less_over_http: bool,
    /// Extra trusted CA certificates (PEM) for `wss://`.
    #[cfg(not(target_arch = "wasm32"))]
    ca_pem: Option<Vec<u8>>,
}

impl Client {
    /// Settings beyond the endpoints: request timeout, client name, leader following.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            endpoints: Vec::new(),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            client_name: runtime::default_client_name(),
            follow_leader: true,
            tokens: Tokens::None,
            session_less_over_http: false,
            #[cfg(not(target_arch = "wasm32"))]
            ca_pem: None,
        }
    }
}

impl ClientBuilder {
    /// Members to connect to (`ws://host:port`, `ws://host:port/v1/client`
    /// or `host:port`); any subset of the cluster works. Required.
    pub fn endpoints<I, S>(mut self, endpoints: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.endpoints = endpoints
            .into_iter()
            .map(|e| client_url(e.as_ref()))
            .collect();
        self
    }

    /// Default [`DEFAULT_REQUEST_TIMEOUT`] (30 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Whether to move to the leader when a member names it (default
    /// `true`): requests then skip the member-to-leader hop. With `false`
    /// the client stays on the member it reached.
    pub fn follow_leader(mut self, follow: bool) -> Self {
        self.follow_leader = follow;
        self
    }

    /// A token (JWT) for a cluster that needs one (`--auth-jwks`). When it
    /// expires, calls fail with `TOKEN_EXPIRED`; a
    /// [`ClientBuilder::token_provider`] renews it instead.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.tokens = Tokens::Fixed(token.into());
        self
    }

    /// Fetches a token before each connection and whenever the current one
    /// expires (typically from the application's backend). Calls refused
    /// for an expired token are sent again with the fresh one, on the same
    /// session; nothing they asked for happened before.
    pub fn token_provider<F, Fut>(mut self, provider: F) -> Self
    where
        F: Fn() -> Fut + MaybeSend + MaybeSync + 'static,
        Fut: Future<Output = std::result::Result<String, String>> + MaybeSend + 'static,
    {
        self.tokens = Tokens::Provider(runtime::token_provider(provider));
        self
    }

    /// Shown in server logs. Default `rust-<process id>` (`js` on wasm).
    pub fn client_name(mut self, name: impl Into<String>) -> Self {
        self.client_name = name.into();
        self
    }

    /// Sends calls that need no session (every AtomicLong and
    /// AtomicReference call, a latch's `count_down`, `try_set_count`,
    /// `get_count` and `destroy`, the reads of locks and semaphores that do
    /// not ask who holds, leased locks) as HTTP requests to the members'
    /// `/v1/ops`, each exactly once by an idempotency key, and open the
    /// WebSocket session only for the first call that needs one (locks,
    /// permits, waits, watches, admin). For callers that live for one
    /// request, such as edge workers: no session is opened and closed per
    /// request. Off by default.
    ///
    /// Calls made without awaiting each other may run in any order. A call
    /// is sent again (same key) for at most
    /// [`raftcp_proto::limits::ONE_SHOT_SEND_WINDOW_MS`] (20 s) after it
    /// was made, then fails with [`Error::Timeout`], its outcome unknown:
    /// a later attempt could run it twice.
    pub fn session_less_over_http(mut self, on: bool) -> Self {
        self.session_less_over_http = on;
        self
    }

    /// Starts the client. It connects in the background (trying the
    /// endpoints in turn with jittered back-off) and opens a session; calls
    /// made before that wait for it, within their timeout.
    pub async fn connect(self) -> Result<Client> {
        #[cfg(not(target_arch = "wasm32"))]
        if let Some(pem) = &self.ca_pem {
            let transport = DefaultTransport::with_ca_pem(pem).map_err(Error::Config)?;
            return self.connect_with(transport).await;
        }
        self.connect_with(DefaultTransport::default()).await
    }

    /// Also trust the CA certificates in `pem` for `wss://` endpoints (a
    /// cluster with a private CA); the public web roots stay trusted.
    /// Native only: browsers and other JavaScript hosts use their own
    /// trust store.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn ca_pem(mut self, pem: impl AsRef<[u8]>) -> Self {
        self.ca_pem = Some(pem.as_ref().to_vec());
        self
    }

    /// [`ClientBuilder::connect`] over a given transport (on wasm, for
    /// example, a WebSocket constructor other than the global one).
    pub async fn connect_with<T: Transport>(self, transport: T) -> Result<Client> {
        if self.endpoints.is_empty() {
            return Err(Error::Config("no endpoints given".into()));
        }
        if self.request_timeout.is_zero() {
            return Err(Error::Config("request timeout must be positive".into()));
        }
        let settings = StartSettings {
            endpoints: self.endpoints,
            name: self.client_name,
            request_timeout: self.request_timeout,
            follow_leader: self.follow_leader,
            tokens: self.tokens,
            session_less_over_http: self.session_less_over_http,
        };
        Ok(Client::start(transport, settings))
    }
}

/// `host:port` and `ws://host:port` both mean that member's client
/// endpoint; `wss://host:port` is the same over TLS.
fn client_url(endpoint: &str) -> String {
    let with_scheme = if endpoint.contains("://") {
        endpoint.to_owned()
    } else {
        format!("ws://{endpoint}")
    };
    let after_scheme = with_scheme.split_once("://").map_or("", |(_, rest)| rest);
    if after_scheme.contains('/') {
        with_scheme
    } else {
        format!("{with_scheme}/v1/client")
    }
}
