//! The raftcp client.
//!
//! Today this crate holds the runtime-neutral [`engine`]: the sans-IO core
//! that numbers requests, keeps the session, acknowledges answers, resends
//! in-flight requests with their original ids after a reconnect and decides
//! when to heartbeat. The tokio and web-sys transports and the typed handles
//! (`AtomicLong`, `FencedLock`, …) are thin drivers around it and arrive with
//! the working-cluster and npm issues.

pub mod engine;

pub use raftcp_proto as proto;
