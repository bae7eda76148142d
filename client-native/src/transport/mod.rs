//! The seam between the runtime-neutral drivers and the network: a
//! WebSocket for the session, one HTTP POST for session-less calls. Native
//! builds use `native` (tokio-tungstenite, and a small HTTP/1.1 client);
//! wasm builds use `web` (the JavaScript host's WebSocket and `fetch`).

#[cfg(target_arch = "wasm32")]
mod fetch;
#[cfg(not(target_arch = "wasm32"))]
pub mod native;
#[cfg(not(target_arch = "wasm32"))]
mod native_http;
#[cfg(target_arch = "wasm32")]
pub mod web;

use crate::runtime::MaybeSend;
use std::future::Future;

/// Opens connections to a member's client endpoint, and posts session-less
/// calls to its `/v1/ops`.
pub trait Transport: Clone + MaybeSend + 'static {
    /// The connection type it opens.
    type Link: Link;
    /// Connects to `url` (`ws://host:port/v1/client`) with the raftcp
    /// subprotocol.
    fn connect(
        &mut self,
        url: &str,
    ) -> impl Future<Output = Result<Self::Link, String>> + MaybeSend;

    /// Why this transport can never connect, if it cannot (a JavaScript
    /// host without a WebSocket): calls that need a session then fail at
    /// once with the reason instead of retrying.
    fn check(&self) -> Result<(), String> {
        Ok(())
    }

    /// POSTs `body` to `url` (`http://host:port/v1/ops`) as
    /// `application/octet-stream`, with `token` as a Bearer token; the
    /// answer's status and body (at most [`POSTED_BODY_BYTES_MAX`]).
    /// A transport that cannot post (the default, for transports written
    /// before session-less calls) answers every post with the reason: its
    /// session-less calls are retried and then fail with a timeout.
    fn post(
        &self,
        url: &str,
        body: Vec<u8>,
        token: Option<String>,
    ) -> impl Future<Output = Result<Posted, String>> + MaybeSend {
        let _ = (body, token);
        let refused = format!("{url}: this transport does not post session-less calls");
        std::future::ready(Err(refused))
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Posted {
    /// The HTTP status code.
    pub status: u16,
    /// The whole body.
    pub body: Vec<u8>,
}

/// The largest answer body taken from `/v1/ops`: a member stops adding
/// results once they pass 1 MiB, so the last one (a value of at most
/// `VALUE_BYTES_MAX`) may pass it a little.
pub const POSTED_BODY_BYTES_MAX: usize = 2 * raftcp_proto::limits::FRAME_BYTES_MAX;

/// One open connection carrying binary frames.
pub trait Link: MaybeSend + 'static {
    /// Queues a frame; it may be buffered until [`Link::flush`].
    fn send(&mut self, frame: Vec<u8>) -> impl Future<Output = Result<(), String>> + MaybeSend;
    /// Pushes every queued frame onto the network.
    fn flush(&mut self) -> impl Future<Output = Result<(), String>> + MaybeSend;
    /// The next binary frame; `None` once the connection is gone. Must be
    /// cancel-safe: the driver races it against other work.
    fn recv(&mut self) -> impl Future<Output = Option<Vec<u8>>> + MaybeSend;
}
