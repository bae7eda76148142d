//! WebSocket plumbing shared by the peer link and the client gateway.

use crate::stream::Stream;
use crate::tls::{self, Tls};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

pub type Socket = WebSocketStream<Stream>;

const READ_BUFFER_BYTES: usize = 8 * 1024;

/// Bounds every message and frame read from the socket: a larger one is an
/// error on that connection only.
pub fn config(max_message_bytes: usize) -> WebSocketConfig {
    // tungstenite zero-fills its read buffer up to this size on every read;
    // the 128 KiB default made that memset ~5% of CPU. Frames are small.
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_BYTES)
        .max_message_size(Some(max_message_bytes))
        .max_frame_size(Some(max_message_bytes))
}

/// Opens a WebSocket to `ws://{addr}{path}` (`wss://` with `tls`) with the
/// raftcp subprotocol.
pub async fn dial(
    addr: &str,
    path: &str,
    max_message_bytes: usize,
    tls: Option<&Tls>,
) -> Result<Socket, String> {
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    // Small frames dominate; do not let Nagle hold them back.
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    let (stream, scheme) = match tls {
        None => (Stream::plain(tcp), "ws"),
        Some(tls) => {
            let name = tls::server_name(addr)?;
            let encrypted = tls.connector().connect(name, tcp).await;
            let encrypted = encrypted.map_err(|e| format!("TLS with {addr}: {e}"))?;
            (Stream::dialed(encrypted), "wss")
        }
    };
    let mut request = format!("{scheme}://{addr}{path}")
        .into_client_request()
        .map_err(|e| e.to_string())?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static(raftcp_proto::SUBPROTOCOL),
    );
    let config = Some(config(max_message_bytes));
    let (socket, _) = tokio_tungstenite::client_async_with_config(request, stream, config)
        .await
        .map_err(|e| format!("websocket handshake with {addr}: {e}"))?;
    Ok(socket)
}
