#![deny(missing_docs)]
//! The raftcp client: strongly consistent AtomicLong, AtomicReference,
//! FencedLock, Semaphore and CountDownLatch, replicated with Raft.
//!
//! ```no_run
//! # async fn demo() -> Result<(), raftcp::Error> {
//! let client = raftcp::Client::connect(["ws://127.0.0.1:7701"]).await?;
//! let counter = client.get_atomic_long("sequence-generator");
//! let id = counter.increment_and_get().await?;
//!
//! let lock = client.get_fenced_lock("resource-lock");
//! let fence = lock.lock().await?;
//! // ... pass `fence` to the guarded resource, which rejects older fences ...
//! lock.unlock().await?;
//! # let _ = (id, fence);
//! # Ok(()) }
//! ```
//!
//! Under the API is the runtime-neutral [`engine`] (request ids, session,
//! acknowledgements, resends with the original ids, heartbeats) driven over a
//! small [`transport`] trait, so the same core runs natively and in wasm.

mod admin;
#[cfg(not(target_arch = "wasm32"))]
pub mod blocking;
mod builder;
mod client;
mod driver;
pub mod engine;
mod error;
mod one_shots;
mod primitives;
mod runtime;
pub mod transport;
mod value;
mod watch;

pub use admin::Admin;
pub use builder::{ClientBuilder, DEFAULT_REQUEST_TIMEOUT};
pub use client::Client;
pub use error::{Error, Result};
pub use primitives::{
    AtomicLong, AtomicReference, CountDownLatch, FencedLock, LeaseToken, LockLease, Semaphore,
    ValueReference,
};
pub use raftcp_proto as proto;
pub use raftcp_proto::{Fence, OpError};
/// wasm only: a host callback as a future (for the JavaScript façade).
#[cfg(target_arch = "wasm32")]
pub use runtime::Callback;
pub use runtime::MaybeSend;
pub use watch::{CHANGES_BUFFERED_MAX, Change, Changes, LatchState, LockState};

/// The README's Rust snippets compile as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

/// This crate's own README (the one crates.io shows) compiles too.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct CrateReadmeDoctests;
