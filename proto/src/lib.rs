//! Wire types of raftcp: what clients and servers say to each other, and the
//! operations the Raft log carries. No I/O, no async; compiles to wasm32.
//!
//! # Postcard evolution rules
//!
//! Postcard has no schema: an enum variant is its index, a struct is its fields
//! in order. Every type here is therefore frozen once released:
//!
//! 1. Append enum variants at the end only; never reorder, rename-by-moving or
//!    remove one (retire it by documenting it as unused).
//! 2. Never add, remove or reorder struct fields. A new field means a new
//!    variant or a new protocol version ([`PROTOCOL_VERSION`]).
//! 3. No `usize`/`isize` (width differs between wasm32 and x86_64), no serde
//!    `flatten`, `untagged` or `skip_serializing_if`: postcard cannot decode them.
//! 4. Decoding is strict ([`codec::decode`]): oversize input, trailing bytes and
//!    unknown variants are errors, never panics.
//!
//! The golden-byte tests in `tests/golden.rs` pin one encoding of every variant,
//! so breaking a rule fails CI.

pub mod admin;
pub mod codec;
pub mod error;
pub mod frame;
pub mod ids;
pub mod limits;
pub mod name;
pub mod one_shot;
pub mod op;
pub mod reply;
pub mod value;
pub mod watch;

pub use admin::{AdminOp, AdminReply};
pub use codec::{CodecError, decode, encode};
pub use error::OpError;
pub use frame::{
    ClientFrame, Event, Hello, Member, Request, Response, Resume, ServerFrame, Welcome,
    hello_version,
};
pub use ids::{Fence, HandleId, RequestId, ResumeSecret, SessionId};
pub use name::GroupName;
pub use one_shot::{IdempotencyKey, OneShot, OneShotAnswers, OneShotBatch};
pub use op::{LatchOp, LeaseId, LeaseSecret, LockOp, LongOp, Op, RefOp, SemaphoreOp};
pub use reply::{Lease, Reply};
pub use value::Value;
pub use watch::{Change, ObjectKind, ObjectState, WatchEnded, WatchId, WatchRequest};

/// Version carried in [`Hello`]; the WebSocket subprotocol is [`SUBPROTOCOL`].
/// A `Hello` starts with its version whatever the version, so a server
/// answers a client of another version with a `Refused` that says which
/// version it speaks.
///
/// - 1: the first release.
/// - 2: [`Request::acked_except`] (acknowledging around waiting requests).
/// - 3: sessions are resumed with a secret: [`Welcome::resume_secret`],
///   [`Hello::resume`].
pub const PROTOCOL_VERSION: u32 = 3;

/// WebSocket subprotocol name negotiated on `/v1/client` and `/v1/raft`.
/// It names the framing (binary postcard messages), which has not changed;
/// the protocol's version is checked in `Hello`, so it stays `raftcp.v1`.
pub const SUBPROTOCOL: &str = "raftcp.v1";
