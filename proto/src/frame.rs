//! Client link frames: one enum per direction. A binary WebSocket message
//! from a client carries one or more frames back to back (at most
//! `FRAME_BYTES_MAX` bytes in all; see [`crate::codec::decode_each`]); one
//! from the server carries exactly one. Variant order is wire format:
//! append only.

use crate::error::OpError;
use crate::ids::{RequestId, ResumeSecret, SessionId};
use crate::name::GroupName;
use crate::op::Op;
use crate::reply::Reply;
use serde::{Deserialize, Serialize};

/// Client to server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ClientFrame {
    /// First frame on every connection; nothing else is accepted before it.
    Hello(Hello),
    /// An operation. Mutations are applied once per `(session, id)`, however
    /// often they are sent.
    Request(Request),
    /// Sent when the caller abandons a waiting request (dropped future, JS
    /// AbortSignal): the server cancels its waiter, once.
    Cancel { id: RequestId },
    /// Sent every `heartbeat_ms` while the connection is otherwise idle; keeps
    /// the session and the connection alive.
    Heartbeat,
    /// Sent by `close()`: ends the session and releases what it holds.
    CloseSession,
    /// A fresh token for the connection (the last one expired or is about
    /// to); requests after it are checked against it. Its subject must be
    /// the session's.
    Authenticate { token: String },
    /// An admin operation ([`crate::admin`]), answered by a `Response` with
    /// the same id. Ids come from the same sequence as requests'; admin
    /// operations are not deduplicated but safe to retry.
    Admin {
        id: RequestId,
        op: crate::admin::AdminOp,
    },
    /// Start watching an object, or resume a watch after a reconnect: its
    /// changes arrive in `Event::Changes` (see [`crate::watch`]). At most
    /// [`crate::limits::WATCHES_PER_SESSION_MAX`] per connection.
    Watch(crate::watch::WatchRequest),
    /// Stop a watch; changes already on the way may still arrive.
    Unwatch { watch: crate::watch::WatchId },
}

/// The handshake. Its first field never moves: a server reads the version
/// even of a `Hello` it cannot decode (see [`hello_version`]) and refuses
/// other versions by name. The rest may change with the version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// Must equal the server's [`crate::PROTOCOL_VERSION`].
    pub protocol_version: u32,
    /// Free text shown in server logs and metrics.
    pub client_name: String,
    /// A session from an earlier connection to resume (any member).
    pub resume: Option<Resume>,
    /// A token (JWT) from the application, when the cluster needs one.
    pub auth: Option<String>,
}

/// A session to resume, with the secret its `Welcome` carried.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resume {
    pub session: SessionId,
    pub secret: ResumeSecret,
}

/// The protocol version of a message whose first frame is a `Hello`, even
/// one of another version that does not decode as this version's `Hello`.
pub fn hello_version(bytes: &[u8]) -> Option<u32> {
    // Postcard: the variant index, then the first field, both varints.
    match postcard::take_from_bytes::<(u32, u32)>(bytes) {
        Ok(((0, version), _)) => Some(version),
        _ => None,
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// Unique within the session; reused unchanged by retries.
    pub id: RequestId,
    pub group: GroupName,
    /// Every request below this id has had its response delivered, except
    /// those in `acked_except`, so the server may forget those responses.
    pub acked_below: RequestId,
    /// Requests below `acked_below` that still wait for their answer (a
    /// `lock()` queued behind another holder), ascending, at most
    /// [`crate::limits::ACKED_EXCEPT_MAX`]: the server keeps them, so one
    /// long wait does not hold the watermark back. A request once left out
    /// is acknowledged for good.
    pub acked_except: Vec<RequestId>,
    pub op: Op,
}

/// Server to client.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ServerFrame {
    /// Answer to a valid `Hello`.
    Welcome(Welcome),
    /// Answer to a `Hello` that cannot be served (version mismatch, unknown or
    /// expired resumed session); the server closes the connection after it.
    Refused { reason: String },
    /// The result of a request, sent once per delivery of its request.
    Response(Response),
    /// Something the client did not ask about.
    Event(Event),
    /// The frame the client sent could not be decoded or was not allowed at
    /// this point; the connection is closed after it.
    ProtocolError { reason: String },
    /// Answer to `Heartbeat`.
    HeartbeatAck,
    /// The `Hello`'s token was refused (`UNAUTHENTICATED` or
    /// `TOKEN_EXPIRED`); the connection is closed after it. Unlike
    /// `Refused`, it says nothing about the session: a client resuming one
    /// keeps it and tries again with a fresh token.
    TokenRefused(OpError),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    pub session: SessionId,
    /// Present it with `session` to resume the session on a later
    /// connection; keep it as secret as a password.
    pub resume_secret: ResumeSecret,
    pub ttl_ms: u64,
    pub heartbeat_ms: u64,
    /// WebSocket URL of the current leader, when known.
    pub leader_hint: Option<String>,
    pub members: Vec<Member>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub node_id: u64,
    /// WebSocket URL of the member's client endpoint.
    pub url: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub id: RequestId,
    pub result: Result<Reply, OpError>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Event {
    /// The session ended; every handle of it has lost what it held.
    SessionExpired { session: SessionId },
    /// The leader moved; smart clients reconnect there.
    LeaderChanged { leader_hint: Option<String> },
    /// Watched objects changed (a watch's first change: its state then):
    /// at most [`crate::limits::CHANGES_PER_FRAME_MAX`], in log order for
    /// each watch.
    Changes(Vec<crate::watch::Change>),
    /// A watch was refused or stopped by the server (access, limits, a
    /// name that cannot exist); the client does not resend it.
    WatchEnded(crate::watch::WatchEnded),
}
