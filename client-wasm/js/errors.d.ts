/** Codes the cluster gives for refused operations. */
export type OperationErrorCode =
  | "SESSION_EXPIRED"
  | "NOT_OWNER"
  | "LOCK_OWNERSHIP_LOST"
  | "NOT_ENOUGH_PERMITS"
  | "LOCK_ACQUIRE_LIMIT_REACHED"
  | "INVALID_NAME"
  | "INVALID_ARGUMENT"
  | "VALUE_TOO_LARGE"
  | "TOO_MANY_WAITERS"
  | "TOO_MANY_OBJECTS"
  | "TOO_MANY_SESSIONS"
  | "TOO_MANY_UNACKNOWLEDGED"
  | "REQUEST_ACKNOWLEDGED"
  | "CANCELLED"
  | "UNKNOWN_GROUP"
  | "NOT_LEADER"
  | "UNAVAILABLE"
  | "TOO_MANY_WAITING_REQUESTS"
  | "UNAUTHENTICATED"
  | "PERMISSION_DENIED"
  | "TOKEN_EXPIRED"
  | "OBJECT_DESTROYED"
  | "QUOTA_EXCEEDED"
  | "ADMIN_REFUSED"
  | "TOO_MANY_WATCHES"
  | "SESSION_REQUIRED"
  | "IDEMPOTENCY_KEY_REUSED"
  | "TOO_MANY_KEYS";

/** Every code a RaftcpError can carry. */
export type RaftcpErrorCode =
  | OperationErrorCode
  | "TIMEOUT"
  | "UNREACHABLE"
  | "CLOSED"
  | "PROTOCOL"
  | "INVALID_VALUE"
  | "UNEXPECTED_REPLY"
  | "CONFIG"
  | "ABORTED";

/** Base class of every error the package throws. */
export class RaftcpError extends Error {
  readonly code: RaftcpErrorCode;
}
/** The cluster refused the operation. */
export class OperationError extends RaftcpError {
  readonly code: OperationErrorCode;
}
/** A lock this handle held was released because its session ended. */
export class LockOwnershipLostError extends OperationError {
  readonly code: "LOCK_OWNERSHIP_LOST";
}
/** No answer in time; a mutation may or may not have been applied.
 * UNREACHABLE: no member could be reached meanwhile (the message says why:
 * a certificate the host does not trust, a refused connection, ...). */
export class TimeoutError extends RaftcpError {
  readonly code: "TIMEOUT" | "UNREACHABLE";
}
/** The client was closed before the call finished. */
export class ClosedError extends RaftcpError {
  readonly code: "CLOSED";
}
/** The server refused the protocol, or answered out of shape. */
export class ProtocolError extends RaftcpError {
  readonly code: "PROTOCOL" | "UNEXPECTED_REPLY";
}
/** An argument or value that raftcp cannot take or store. */
export class InvalidValueError extends RaftcpError {
  readonly code: "INVALID_VALUE";
}
/** Bad connect() options. */
export class ConfigError extends RaftcpError {
  readonly code: "CONFIG";
}
/** The call's AbortSignal fired; a queued wait was cancelled on the server. */
export class AbortError extends RaftcpError {
  readonly code: "ABORTED";
}
