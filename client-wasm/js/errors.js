// Errors thrown by the raftcp package. Every one is a RaftcpError with a
// stable `code`; the subclass (and its `name`) says which family it is in.

export class RaftcpError extends Error {
  constructor(message, code) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

/** The cluster refused the operation (NOT_OWNER, VALUE_TOO_LARGE, ...). */
export class OperationError extends RaftcpError {}

/** A lock this handle held was released because its session ended. */
export class LockOwnershipLostError extends OperationError {}

/** No answer in time; a mutation may or may not have been applied. */
export class TimeoutError extends RaftcpError {}

/** The client was closed before the call finished. */
export class ClosedError extends RaftcpError {}

/** The server refused the protocol; reconnecting will not help. */
export class ProtocolError extends RaftcpError {}

/** An argument or value that raftcp cannot take or store. */
export class InvalidValueError extends RaftcpError {}

/** Bad connect() options: no endpoints, no WebSocket, bad timeout. */
export class ConfigError extends RaftcpError {}

/** The call's AbortSignal fired; a queued wait was cancelled on the server. */
export class AbortError extends RaftcpError {}

const classes = {
  OperationError,
  LockOwnershipLostError,
  TimeoutError,
  ClosedError,
  ProtocolError,
  InvalidValueError,
  ConfigError,
  AbortError,
};

/** Called by the wasm module to build the error it throws. */
export function raftcpError(kind, code, message) {
  const ErrorClass = classes[kind] ?? RaftcpError;
  return new ErrorClass(message, code);
}
