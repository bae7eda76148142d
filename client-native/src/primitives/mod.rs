//! Typed handles for the five primitives. A handle is a name (plus, for
//! locks and semaphores, an owner id); creating one costs no round trip.

mod atomic_long;
mod atomic_reference;
mod latch;
mod leases;
mod lock;
mod semaphore;
mod value_reference;

pub use atomic_long::AtomicLong;
pub use atomic_reference::AtomicReference;
pub use latch::CountDownLatch;
pub use leases::{LeaseToken, LockLease};
pub use lock::FencedLock;
pub use semaphore::Semaphore;
pub use value_reference::ValueReference;

use std::time::Duration;

/// Timeouts travel as whole milliseconds.
fn millis(timeout: Duration) -> u64 {
    u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX)
}
