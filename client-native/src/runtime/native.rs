//! Native runtime: tokio.

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// `Send` on native builds, where the client runs on a multi-threaded
/// runtime; nothing on wasm, where JavaScript objects are never `Send`.
pub trait MaybeSend: Send {}
impl<T: Send> MaybeSend for T {}

/// `Sync` on native builds, nothing on wasm (see [`MaybeSend`]).
pub trait MaybeSync: Sync {}
impl<T: Sync> MaybeSync for T {}

/// A token being fetched: the token, or why there is none.
pub type TokenFuture = Pin<Box<dyn Future<Output = Result<String, String>> + Send>>;
/// Fetches fresh tokens (see [`crate::ClientBuilder::token_provider`]).
pub type TokenProvider = std::sync::Arc<dyn Fn() -> TokenFuture + Send + Sync>;

pub(crate) fn token_provider<F, Fut>(provider: F) -> TokenProvider
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<String, String>> + Send + 'static,
{
    std::sync::Arc::new(move || Box::pin(provider()))
}

/// The transport [`crate::Client::connect`] uses.
pub type DefaultTransport = crate::transport::native::TokioTransport;

/// A timer future; dropping it cancels the timer.
pub(crate) type Sleep = Pin<Box<tokio::time::Sleep>>;

pub(crate) fn sleep(duration: Duration) -> Sleep {
    Box::pin(tokio::time::sleep(duration))
}

pub(crate) fn spawn(task: impl Future<Output = ()> + Send + 'static) {
    tokio::spawn(task);
}

/// Monotonic milliseconds (since the first call), the engine's notion of
/// time: a step of the wall clock must not delay heartbeats.
pub(crate) fn now_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64
}

/// A number in [0, 1), varied enough to spread clients that start together.
pub(crate) fn random_unit() -> f64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    f64::from(nanos % 1000) / 1000.0
}

/// 64 bits no other client is likely to draw: std's per-process random
/// hash keys over the time and process id.
pub(crate) fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    hasher.write_u128(nanos);
    hasher.write_u32(std::process::id());
    hasher.finish()
}

/// 32 bytes from the operating system's secure generator: a lease's
/// secret.
pub(crate) fn random_secret() -> Result<[u8; 32], crate::Error> {
    use ring::rand::SecureRandom;
    let mut secret = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut secret)
        .map_err(|_| crate::Error::Config("no secure random numbers on this system".into()))?;
    Ok(secret)
}

pub(crate) fn default_client_name() -> String {
    format!("rust-{}", std::process::id())
}
