//! What the Raft log carries and what applying an entry produces.

use raftcp_proto::{Op, OpError, Reply, RequestId, SessionId};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// One Raft log entry's payload. `time_ms` is the proposing leader's wall
/// clock; the machine keeps `now = max(previous now, time_ms)`, so time
/// never goes backwards even across leaders with skewed clocks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Command {
    pub time_ms: u64,
    pub kind: CommandKind,
}

/// Variant order is log format: append only.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum CommandKind {
    /// A client's handshake. The session id is this entry's log index.
    OpenSession { client_name: String, ttl_ms: u64 },
    /// Batched keep-alives from one gateway: each named session gets a fresh TTL.
    Heartbeat { sessions: Vec<SessionId> },
    /// `close()`: ends the session and releases what it holds.
    CloseSession { session: SessionId },
    /// Proposed by the leader when a session deadline has passed; expires
    /// every session whose deadline is at or before the machine's `now`.
    ExpireSessions,
    /// Proposed by the leader when a wait deadline has passed; times out every
    /// waiter whose deadline is at or before the machine's `now`.
    ExpireWaits,
    /// Proposed by a new leader on taking office: every session gets a fresh
    /// TTL, so an election never expires healthy clients.
    RenewAllSessions,
    /// A client operation, deduplicated by `(session, request)`.
    Client {
        session: SessionId,
        request: RequestId,
        acked_below: RequestId,
        op: Op,
    },
    /// The client abandoned a waiting request; its waiter completes with
    /// `Cancelled`, unless it already completed.
    Cancel {
        session: SessionId,
        request: RequestId,
    },
    /// Several commands in one Raft entry, applied in order, each at its own
    /// log position (see [`super::Machine::apply_entry`]). Gateways batch the
    /// commands of concurrent requests so the per-entry cost of Raft (log
    /// record, fsync share, replication, apply) is paid once for many.
    /// Shared, because the leader hands each entry to every follower's
    /// replication and to its own apply: a copy each would be a deep copy
    /// of every command in the batch. Encoded as a plain sequence.
    Batch(Arc<[CommandKind]>),
}

/// The result of a client request at apply time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Outcome {
    Done(Result<Reply, OpError>),
    /// The request waits in a queue; a [`Completion`] will carry its result.
    Pending,
}

/// The direct answer to an entry, delivered to whoever proposed it.
/// Variant order is wire format (it crosses the peer link): append only.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum CommandResponse {
    SessionOpened {
        session: SessionId,
    },
    /// Heartbeats for sessions that no longer exist, so their clients learn it.
    Heartbeat {
        unknown: Vec<SessionId>,
    },
    Client(Outcome),
    Done,
    Refused(OpError),
    /// One response per command of a [`CommandKind::Batch`], in order.
    Batch(Vec<CommandResponse>),
}

/// A waiting request finished in this entry (granted, timed out, cancelled or
/// ended with its session). The node holding the client's connection delivers it.
#[derive(Clone, Debug, PartialEq)]
pub struct Completion {
    pub session: SessionId,
    pub request: RequestId,
    pub result: Result<Reply, OpError>,
}

/// Side effects of one apply, in the order they happened.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    Completed(Completion),
    /// The session expired or was closed; its connection should be told.
    SessionEnded(SessionId),
}

/// Everything applying one entry produced.
#[derive(Clone, Debug, PartialEq)]
pub struct Applied {
    pub response: CommandResponse,
    pub effects: Vec<Effect>,
}
