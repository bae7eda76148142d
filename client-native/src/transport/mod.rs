//! The seam between the runtime-neutral driver and a concrete WebSocket.
//! Native builds use `native` (tokio-tungstenite); wasm builds use `web`
//! (the JavaScript host's WebSocket).

#[cfg(not(target_arch = "wasm32"))]
pub mod native;
#[cfg(target_arch = "wasm32")]
pub mod web;

use crate::runtime::MaybeSend;
use std::future::Future;

/// Opens connections to a member's client endpoint.
pub trait Transport: MaybeSend + 'static {
    /// The connection type it opens.
    type Link: Link;
    /// Connects to `url` (`ws://host:port/v1/client`) with the raftcp
    /// subprotocol.
    fn connect(
        &mut self,
        url: &str,
    ) -> impl Future<Output = Result<Self::Link, String>> + MaybeSend;
}

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
