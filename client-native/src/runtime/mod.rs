//! The one seam between native and wasm builds: timers, clocks, spawning,
//! the default transport and the `Send` bound. [`native`] (tokio) and [`web`]
//! (JavaScript timers, `spawn_local`) export the same names; the rest of the
//! client is written once against them.

#[cfg(not(target_arch = "wasm32"))]
mod native;
#[cfg(not(target_arch = "wasm32"))]
pub use native::*;

#[cfg(target_arch = "wasm32")]
mod web;
#[cfg(target_arch = "wasm32")]
pub use web::*;

use futures_util::future::{Either, select};
use std::future::Future;
use std::pin::pin;
use std::time::Duration;

/// Runs `work` for at most `limit`; `None` when time ran out first (and
/// `work` was dropped).
pub(crate) async fn timeout<F: Future>(limit: Duration, work: F) -> Option<F::Output> {
    match select(pin!(work), sleep(limit)).await {
        Either::Left((output, _)) => Some(output),
        Either::Right(_) => None,
    }
}

/// `base` scaled by a factor in [0.5, 1.5) so reconnecting clients spread out.
pub(crate) fn jitter(base: Duration) -> Duration {
    base.mul_f64(0.5 + random_unit())
}
