//! Errors an operation can end with. Variant order is wire format: append only.
//!
//! Messages are lower-case, carry the values involved and have no trailing
//! period. [`OpError::code`] is the stable machine-readable name (JS `code`).

use crate::ids::{RequestId, SessionId};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum OpError {
    /// The session expired (missed heartbeats) or was closed; what it held is
    /// released. Outcomes of its unanswered requests are unknown.
    #[error("session {session} is expired or closed")]
    SessionExpired { session: SessionId },
    /// Unlock, release or get_fence by a handle that does not hold the object.
    #[error("{kind} \"{name}\" is not held by this handle")]
    NotOwner { kind: String, name: String },
    /// A handle lost a lock it held because its session ended. Produced by the
    /// client, which knows what the handle held.
    #[error("lock \"{name}\" was lost: the session holding it expired")]
    LockOwnershipLost { name: String },
    #[error("semaphore \"{name}\": release of {requested} permits but this handle holds {held}")]
    NotEnoughPermits {
        name: String,
        held: u32,
        requested: u32,
    },
    #[error("lock \"{name}\" is already held {limit} times by this handle (the reentrancy limit)")]
    LockAcquireLimitReached { name: String, limit: u32 },
    #[error("invalid name: {reason}")]
    InvalidName { reason: String },
    #[error("invalid argument: {reason}")]
    InvalidArgument { reason: String },
    #[error("value is {bytes} bytes encoded: at most {max} allowed")]
    ValueTooLarge { bytes: u64, max: u64 },
    #[error("\"{name}\" already has {max} waiters")]
    TooManyWaiters { name: String, max: u64 },
    #[error("the group already holds {max} objects")]
    TooManyObjects { max: u64 },
    #[error("the group already has {max} sessions")]
    TooManySessions { max: u64 },
    #[error(
        "session {session} has {max} unacknowledged responses: acknowledge before sending more"
    )]
    TooManyUnacknowledged { session: SessionId, max: u64 },
    /// A request id below the session's acknowledgement watermark: its
    /// response was already acknowledged, so a retry cannot be answered.
    #[error("request {request} was already acknowledged (watermark {acked_below})")]
    RequestAcknowledged {
        request: RequestId,
        acked_below: RequestId,
    },
    /// A waiting operation cancelled by its client.
    #[error("the wait was cancelled")]
    Cancelled,
    #[error("unknown group \"{group}\"")]
    UnknownGroup { group: String },
    /// This member cannot serve the request; data for the client engine,
    /// which retries on the hinted leader.
    #[error("this member is not the leader (leader: {})", leader_hint.as_deref().unwrap_or("unknown"))]
    NotLeader { leader_hint: Option<String> },
    /// The cluster cannot answer now (no quorum, shutting down); retryable.
    #[error("unavailable: {reason}")]
    Unavailable { reason: String },
    /// A request that may wait (`lock`, `acquire`, `await`) from a session
    /// that already has the most requests waiting.
    #[error("session {session} already has {max} requests waiting")]
    TooManyWaitingRequests { session: SessionId, max: u64 },
    /// The cluster needs a token and none, or no valid one, was presented.
    #[error("unauthenticated: {reason}")]
    Unauthenticated { reason: String },
    /// The connection's token does not allow this operation on this
    /// object; nothing was changed.
    #[error("permission denied: the token does not allow this on {kind} \"{name}\"")]
    PermissionDenied { kind: String, name: String },
    /// The connection's token expired: present a fresh one (the client's
    /// token provider does it) and retry; nothing was changed.
    #[error("the token expired")]
    TokenExpired,
    /// The object was destroyed while this request waited on it, or after
    /// this handle acquired it; the name now refers to a fresh object.
    #[error("{kind} \"{name}\" was destroyed")]
    ObjectDestroyed { kind: String, name: String },
    /// The group's state is at its byte quota: operations that could grow
    /// it are refused (nothing changed) until objects are destroyed or
    /// released. Reads, destroy, unlock, release, reduce, count-down and
    /// clear still work.
    #[error(
        "the group holds {used} bytes, at its quota of {max}: destroy or release objects first"
    )]
    QuotaExceeded { used: u64, max: u64 },
    /// An admin operation that cannot be carried out as asked (a change
    /// that would lose the majority without `force`, a member that does
    /// not exist, a change while another is under way); nothing changed.
    #[error("refused: {reason}")]
    AdminRefused { reason: String },
    /// A watch on a connection that already holds the most watches.
    #[error("the connection already has {max} watches")]
    TooManyWatches { max: u64 },
    /// A session-less call of an operation that holds, waits or asks who
    /// holds: it needs a session (a connected client).
    #[error("{op} needs a session: call it through a connected client")]
    SessionRequired { op: String },
    /// A session-less mutation with the key of another operation (same
    /// key, different operation); nothing changed.
    #[error("the idempotency key was already used for another operation")]
    IdempotencyKeyReused,
    /// The group already keeps the most answers to session-less mutations;
    /// retry after older ones expire.
    #[error("the group already keeps {max} answers to session-less operations")]
    TooManyKeys { max: u64 },
}

impl OpError {
    /// Stable machine-readable code, shared with the JS package.
    pub fn code(&self) -> &'static str {
        match self {
            OpError::SessionExpired { .. } => "SESSION_EXPIRED",
            OpError::NotOwner { .. } => "NOT_OWNER",
            OpError::LockOwnershipLost { .. } => "LOCK_OWNERSHIP_LOST",
            OpError::NotEnoughPermits { .. } => "NOT_ENOUGH_PERMITS",
            OpError::LockAcquireLimitReached { .. } => "LOCK_ACQUIRE_LIMIT_REACHED",
            OpError::InvalidName { .. } => "INVALID_NAME",
            OpError::InvalidArgument { .. } => "INVALID_ARGUMENT",
            OpError::ValueTooLarge { .. } => "VALUE_TOO_LARGE",
            OpError::TooManyWaiters { .. } => "TOO_MANY_WAITERS",
            OpError::TooManyObjects { .. } => "TOO_MANY_OBJECTS",
            OpError::TooManySessions { .. } => "TOO_MANY_SESSIONS",
            OpError::TooManyUnacknowledged { .. } => "TOO_MANY_UNACKNOWLEDGED",
            OpError::RequestAcknowledged { .. } => "REQUEST_ACKNOWLEDGED",
            OpError::Cancelled => "CANCELLED",
            OpError::UnknownGroup { .. } => "UNKNOWN_GROUP",
            OpError::NotLeader { .. } => "NOT_LEADER",
            OpError::Unavailable { .. } => "UNAVAILABLE",
            OpError::TooManyWaitingRequests { .. } => "TOO_MANY_WAITING_REQUESTS",
            OpError::Unauthenticated { .. } => "UNAUTHENTICATED",
            OpError::PermissionDenied { .. } => "PERMISSION_DENIED",
            OpError::TokenExpired => "TOKEN_EXPIRED",
            OpError::ObjectDestroyed { .. } => "OBJECT_DESTROYED",
            OpError::QuotaExceeded { .. } => "QUOTA_EXCEEDED",
            OpError::AdminRefused { .. } => "ADMIN_REFUSED",
            OpError::TooManyWatches { .. } => "TOO_MANY_WATCHES",
            OpError::SessionRequired { .. } => "SESSION_REQUIRED",
            OpError::IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED",
            OpError::TooManyKeys { .. } => "TOO_MANY_KEYS",
        }
    }

    /// Whether the client engine may retry the same request (same id) on
    /// another member without the user seeing the error.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            OpError::NotLeader { .. } | OpError::Unavailable { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_carry_values() {
        let e = OpError::NotEnoughPermits {
            name: "pool".into(),
            held: 1,
            requested: 3,
        };
        assert_eq!(
            e.to_string(),
            "semaphore \"pool\": release of 3 permits but this handle holds 1"
        );
        let e = OpError::NotLeader { leader_hint: None };
        assert_eq!(
            e.to_string(),
            "this member is not the leader (leader: unknown)"
        );
        assert_eq!(OpError::Cancelled.code(), "CANCELLED");
    }
}
