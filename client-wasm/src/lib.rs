//! The npm package `raftcp`: a wasm-bindgen façade over the `raftcp` client.
//!
//! It converts and nothing else: JavaScript arguments to Rust values
//! ([`convert`]), results back to JavaScript (`bigint` for 64-bit values and
//! fences, `number` for permits and counts, `null` for "none"), errors to
//! `Error` subclasses with a stable `name` and `code` ([`errors`]), and an
//! `AbortSignal` to dropping the call ([`abort`]), which cancels the waiter
//! on the server. Sessions, retries, reconnects and heartbeats are the
//! shared Rust client.
//!
//! Every exported method takes `&self`, clones the handle it wraps and
//! returns a `Promise` ([`promise`]), so no borrow of a JavaScript-owned
//! object is held across an `await`.

#![cfg(target_arch = "wasm32")]

mod abort;
mod admin;
mod atomic_long;
mod atomic_reference;
mod client;
mod convert;
mod errors;
mod latch;
mod lock;
mod promise;
mod semaphore;
mod types;
mod watch;

pub use client::{Client, connect};
pub use watch::WatchStream;
