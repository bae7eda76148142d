//! What the Raft log carries and what applying an entry produces.

use super::one_shots::{OneShotKey, OpFingerprint};
use raftcp_proto::{Op, OpError, Reply, RequestId, SessionId};
use serde::{Deserialize, Deserializer, Serialize};
use std::cell::Cell;
use std::sync::Arc;

/// One Raft log entry's payload. `time_ms` is the proposing leader's clock
/// (machine time at its election plus monotonic time since, so setting a
/// member's wall clock changes nothing); the machine keeps
/// `now = max(previous now, time_ms)`, so time never goes backwards, even
/// across leaders.
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
    /// A client operation as logs written before [`CommandKind::Request`]
    /// existed hold it (still read from them): a `Request` acknowledging
    /// nothing around its watermark.
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
    /// of every command in the batch. Encoded as a plain sequence; a batch
    /// inside a batch is refused when decoded (see [`unnested`]). An
    /// `Arc<Vec<_>>` rather than `Arc<[_]>`: a decoded or gathered `Vec`
    /// becomes one without copying its commands.
    Batch(#[serde(deserialize_with = "unnested")] Arc<Vec<CommandKind>>),
    /// A client operation, deduplicated by `(session, request)`. The
    /// session's cached answers below `acked_below` are forgotten, except
    /// those of `acked_except` (requests that still wait).
    Request {
        session: SessionId,
        request: RequestId,
        acked_below: RequestId,
        /// Boxed: every command is as large as the largest, and this one
        /// is nearly always empty.
        acked_except: Box<[RequestId]>,
        op: Op,
    },
    /// A client's handshake, as protocol 3 makes it: the session can be
    /// resumed only by whoever presents its `owner`'s secret. The session
    /// id is this entry's log position.
    OpenOwnedSession {
        client_name: String,
        ttl_ms: u64,
        owner: SessionOwner,
    },
    /// A client resumes its session on a new connection: it gets a fresh
    /// TTL when `owner` matches the one it was opened with, and is refused
    /// as expired otherwise (a wrong secret and a gone session look alike).
    ResumeSession {
        session: SessionId,
        owner: SessionOwner,
    },
    /// A session-less operation (see `super::one_shots`), run once per
    /// `key`; answered as a `Request` is.
    OneShot {
        key: OneShotKey,
        fingerprint: OpFingerprint,
        op: Op,
    },
}

/// Who may resume a session: the SHA-256 of its resume secret (the secret
/// itself is never replicated) and the token subject that opened it, if
/// any.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionOwner {
    pub secret_hash: [u8; 32],
    pub subject: Option<String>,
}

/// The result of a client request at apply time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Outcome {
    Done(Result<Reply, OpError>),
    /// The request waits in a queue; a [`Completion`] will carry its result.
    Pending,
    /// Kept in a session's cache only: the client acknowledged around this
    /// request (it is in `acked_except`) before it was applied, so when it
    /// arrives it is executed although its id is below the watermark.
    Awaited,
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
    Batch(#[serde(deserialize_with = "unnested")] Vec<CommandResponse>),
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

thread_local! {
    /// Whether this thread is decoding the contents of a batch.
    static IN_BATCH: Cell<bool> = const { Cell::new(false) };
}

/// Decodes a batch's contents, refusing a batch nested inside it. Batches
/// are one level deep by construction, and a hostile peer frame or log
/// record of thousands of nested batches would otherwise overflow the
/// decoder's stack and abort the process.
fn unnested<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    if IN_BATCH.with(Cell::get) {
        return Err(serde::de::Error::custom("a batch cannot contain a batch"));
    }
    /// Clears the flag on every exit, errors included.
    struct Leave;
    impl Drop for Leave {
        fn drop(&mut self) {
            IN_BATCH.with(|flag| flag.set(false));
        }
    }
    IN_BATCH.with(|flag| flag.set(true));
    let _leave = Leave;
    T::deserialize(deserializer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested_batches(depth: usize) -> Vec<u8> {
        // CommandKind::Batch is variant 8, a sequence of length 1 each level.
        let mut bytes = [8u8, 1].repeat(depth);
        bytes.push(3); // ExpireSessions
        bytes
    }

    #[test]
    fn one_level_of_batch_decodes() {
        let batch = CommandKind::Batch(vec![CommandKind::ExpireSessions].into());
        let bytes = postcard::to_allocvec(&batch).unwrap();
        assert_eq!(bytes, nested_batches(1));
        assert_eq!(postcard::from_bytes::<CommandKind>(&bytes).unwrap(), batch);
    }

    #[test]
    fn nested_batches_are_an_error_not_a_stack_overflow() {
        for depth in [2, 100_000] {
            let decoded = postcard::from_bytes::<CommandKind>(&nested_batches(depth));
            assert!(decoded.is_err(), "depth {depth}");
        }
        let response = [5u8, 1].repeat(100_000);
        assert!(postcard::from_bytes::<CommandResponse>(&response).is_err());
        // The flag is cleared after an error.
        let ok = postcard::from_bytes::<CommandKind>(&nested_batches(1));
        assert!(ok.is_ok());
    }
}
