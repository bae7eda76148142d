//! A synchronous client with the same method names, for code that does not
//! run an async runtime. It owns a small runtime of its own; do not call it
//! from inside an async task (blocking there would stall that runtime).
//!
//! ```no_run
//! # fn demo() -> Result<(), raftcp::Error> {
//! let client = raftcp::blocking::Client::connect(["ws://127.0.0.1:7701"])?;
//! let ids = client.get_atomic_long("sequence-generator");
//! println!("next id: {}", ids.increment_and_get()?);
//! # Ok(()) }
//! ```

use crate::error::{Error, Result};
use crate::{ClientBuilder, Fence};
use serde::{Serialize, de::DeserializeOwned};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::Runtime;

/// Generates blocking twins of async handle methods.
macro_rules! blocking {
    ($( $(#[$doc:meta])* fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $out:ty; )*) => {$(
        $(#[$doc])*
        #[doc = concat!(
            "Blocks until the async handle's `", stringify!($name), "` finishes; same result."
        )]
        pub fn $name(&self $(, $arg: $ty)*) -> Result<$out> {
            self.runtime.block_on(self.inner.$name($($arg),*))
        }
    )*};
}

/// The synchronous [`crate::Client`].
#[derive(Clone, Debug)]
pub struct Client {
    inner: crate::Client,
    runtime: Arc<Runtime>,
}

impl Client {
    /// Connects with default settings; see [`Client::connect_with`].
    pub fn connect<I, S>(endpoints: I) -> Result<Client>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Client::connect_with(crate::Client::builder().endpoints(endpoints))
    }

    /// Connects with the settings of `builder`.
    pub fn connect_with(builder: ClientBuilder) -> Result<Client> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("raftcp-client")
            .enable_all()
            .build()
            .map_err(|e| Error::Config(format!("cannot start the client runtime: {e}")))?;
        let inner = runtime.block_on(builder.connect())?;
        Ok(Client {
            inner,
            runtime: Arc::new(runtime),
        })
    }

    /// A blocking handle; see [`crate::Client::get_atomic_long`].
    pub fn get_atomic_long(&self, name: &str) -> AtomicLong {
        AtomicLong {
            inner: self.inner.get_atomic_long(name),
            runtime: self.runtime.clone(),
        }
    }

    /// A blocking handle; see [`crate::Client::get_atomic_reference`].
    pub fn get_atomic_reference<T>(&self, name: &str) -> AtomicReference<T> {
        AtomicReference {
            inner: self.inner.get_atomic_reference(name),
            runtime: self.runtime.clone(),
        }
    }

    /// A blocking handle; see [`crate::Client::get_fenced_lock`].
    pub fn get_fenced_lock(&self, name: &str) -> FencedLock {
        FencedLock {
            inner: self.inner.get_fenced_lock(name),
            runtime: self.runtime.clone(),
        }
    }

    /// A blocking handle; see [`crate::Client::get_semaphore`].
    pub fn get_semaphore(&self, name: &str) -> Semaphore {
        Semaphore {
            inner: self.inner.get_semaphore(name),
            runtime: self.runtime.clone(),
        }
    }

    /// A blocking handle; see [`crate::Client::get_count_down_latch`].
    pub fn get_count_down_latch(&self, name: &str) -> CountDownLatch {
        CountDownLatch {
            inner: self.inner.get_count_down_latch(name),
            runtime: self.runtime.clone(),
        }
    }

    /// Sessions lost so far (see [`crate::Client::sessions_lost`]).
    pub fn sessions_lost(&self) -> u64 {
        self.inner.sessions_lost()
    }

    /// Ends the session (see [`crate::Client::close`]).
    pub fn close(&self) {
        self.runtime.block_on(self.inner.close());
    }
}

/// The blocking [`crate::AtomicLong`].
#[derive(Clone, Debug)]
pub struct AtomicLong {
    inner: crate::AtomicLong,
    runtime: Arc<Runtime>,
}

impl AtomicLong {
    blocking! {
        fn get(&self) -> i64;
        fn set(&self, value: i64) -> ();
        fn add_and_get(&self, delta: i64) -> i64;
        fn get_and_add(&self, delta: i64) -> i64;
        fn increment_and_get(&self) -> i64;
        fn decrement_and_get(&self) -> i64;
        fn get_and_increment(&self) -> i64;
        fn get_and_decrement(&self) -> i64;
        fn get_and_set(&self, value: i64) -> i64;
        fn compare_and_set(&self, expect: i64, update: i64) -> bool;
        fn destroy(&self) -> ();
    }
}

/// The blocking [`crate::AtomicReference`].
#[derive(Debug)]
pub struct AtomicReference<T> {
    inner: crate::AtomicReference<T>,
    runtime: Arc<Runtime>,
}

impl<T: Serialize + DeserializeOwned> AtomicReference<T> {
    blocking! {
        fn get(&self) -> Option<T>;
        fn set(&self, value: &T) -> ();
        fn get_and_set(&self, value: &T) -> Option<T>;
        fn compare_and_set(&self, expect: Option<&T>, update: Option<&T>) -> bool;
        fn set_if_absent(&self, value: &T) -> bool;
        fn is_null(&self) -> bool;
        fn clear(&self) -> ();
        fn contains(&self, value: Option<&T>) -> bool;
        fn destroy(&self) -> ();
    }
}

/// The blocking [`crate::FencedLock`].
#[derive(Clone, Debug)]
pub struct FencedLock {
    inner: crate::FencedLock,
    runtime: Arc<Runtime>,
}

impl FencedLock {
    blocking! {
        fn lock(&self) -> Fence;
        fn try_lock(&self) -> Option<Fence>;
        fn try_lock_timeout(&self, timeout: Duration) -> Option<Fence>;
        fn unlock(&self) -> ();
        fn is_locked(&self) -> bool;
        fn is_locked_by_me(&self) -> bool;
        fn get_lock_count(&self) -> u32;
        fn get_fence(&self) -> Fence;
        fn destroy(&self) -> ();
    }

    /// Runs `work` holding the lock and unlocks on every path, panics
    /// included (the panic continues after the unlock).
    pub fn with_lock<R>(&self, work: impl FnOnce(Fence) -> R) -> Result<R> {
        let fence = self.lock()?;
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| work(fence)));
        let unlocked = self.unlock();
        match outcome {
            Ok(result) => unlocked.map(|()| result),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

/// The blocking [`crate::Semaphore`].
#[derive(Clone, Debug)]
pub struct Semaphore {
    inner: crate::Semaphore,
    runtime: Arc<Runtime>,
}

impl Semaphore {
    blocking! {
        fn init(&self, permits: u32) -> bool;
        fn acquire(&self) -> ();
        fn acquire_many(&self, permits: u32) -> ();
        fn try_acquire(&self) -> bool;
        fn try_acquire_many(&self, permits: u32, timeout: Duration) -> bool;
        fn release(&self) -> ();
        fn release_many(&self, permits: u32) -> ();
        fn available_permits(&self) -> u32;
        fn drain_permits(&self) -> u32;
        fn reduce_permits(&self, permits: u32) -> ();
        fn increase_permits(&self, permits: u32) -> ();
        fn destroy(&self) -> ();
    }
}

/// The blocking [`crate::CountDownLatch`].
#[derive(Clone, Debug)]
pub struct CountDownLatch {
    inner: crate::CountDownLatch,
    runtime: Arc<Runtime>,
}

impl CountDownLatch {
    blocking! {
        fn try_set_count(&self, count: u32) -> bool;
        fn count_down(&self) -> ();
        fn get_count(&self) -> u32;
        fn await_latch(&self) -> ();
        fn await_latch_timeout(&self, timeout: Duration) -> bool;
        fn destroy(&self) -> ();
    }
}
