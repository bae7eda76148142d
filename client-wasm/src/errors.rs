//! `raftcp::Error` as the package's JavaScript error classes
//! (`js/errors.js`): the class says the family, `code` is stable.

use raftcp::{Error, OpError};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/js/errors.js")]
extern "C" {
    #[wasm_bindgen(js_name = raftcpError)]
    fn raftcp_error(kind: &str, code: &str, message: &str) -> JsValue;
}

/// The JavaScript error for a failed call.
pub(crate) fn to_js(error: Error) -> JsValue {
    let message = error.to_string();
    let (kind, code) = match &error {
        Error::Server(OpError::LockOwnershipLost { .. }) => {
            ("LockOwnershipLostError", "LOCK_OWNERSHIP_LOST")
        }
        Error::Server(op) => ("OperationError", op.code()),
        Error::Timeout(_) => ("TimeoutError", "TIMEOUT"),
        Error::Unreachable { .. } => ("TimeoutError", "UNREACHABLE"),
        Error::Closed => ("ClosedError", "CLOSED"),
        Error::Protocol(_) => ("ProtocolError", "PROTOCOL"),
        Error::UnexpectedReply(_) => ("ProtocolError", "UNEXPECTED_REPLY"),
        Error::Value(_) => ("InvalidValueError", "INVALID_VALUE"),
        Error::Config(_) => ("ConfigError", "CONFIG"),
    };
    raftcp_error(kind, code, &message)
}

/// An argument the package cannot use.
pub(crate) fn invalid(message: impl AsRef<str>) -> JsValue {
    raftcp_error("InvalidValueError", "INVALID_VALUE", message.as_ref())
}

/// A bad `connect()` option.
pub(crate) fn config(message: impl AsRef<str>) -> JsValue {
    raftcp_error("ConfigError", "CONFIG", message.as_ref())
}

/// The call's `AbortSignal` fired.
pub(crate) fn aborted() -> JsValue {
    raftcp_error("AbortError", "ABORTED", "the operation was aborted")
}
