//! The client's error type.

use raftcp_proto::OpError;

/// Why a call failed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Error {
    /// The cluster answered with an error (not owner, value too large,
    /// session expired, …). Match on [`OpError`] for the details. A token
    /// the cluster refuses at the handshake (`Unauthenticated`, or
    /// `TokenExpired` with no token provider to renew it) ends the client:
    /// every call after it fails the same way; connect a new one.
    #[error(transparent)]
    Server(#[from] OpError),
    /// No answer within the time allowed (see
    /// [`crate::ClientBuilder::request_timeout`]). The call was cancelled, but
    /// a mutation may or may not have been applied.
    #[error("no answer within {0:?}; the outcome is unknown")]
    Timeout(std::time::Duration),
    /// No answer within the time allowed while no member could be reached:
    /// `reason` is the last connection's failure (a certificate the client
    /// does not trust, a refused connection, a member's TLS setting). As
    /// with [`Error::Timeout`], a mutation sent on an earlier connection
    /// may or may not have been applied.
    #[error("no member reachable within {limit:?}: {reason}")]
    Unreachable {
        /// The time allowed.
        limit: std::time::Duration,
        /// Why the last connection attempt failed.
        reason: String,
    },
    /// The client was closed (or dropped) before the call finished.
    #[error("the client is closed")]
    Closed,
    /// The server refused the protocol (version mismatch, malformed frames);
    /// reconnecting will not help.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// A value could not be converted to or from the stored form.
    #[error("value conversion: {0}")]
    Value(String),
    /// The server answered with a reply of the wrong shape for the call.
    #[error("unexpected reply: {0}")]
    UnexpectedReply(String),
    /// No endpoint was given, or none could be parsed.
    #[error("invalid configuration: {0}")]
    Config(String),
}

/// The client's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
