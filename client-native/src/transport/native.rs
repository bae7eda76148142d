//! tokio-tungstenite transport.

use super::{Link, Transport};
use futures_util::{SinkExt, StreamExt};
use raftcp_proto::limits::FRAME_BYTES_MAX;
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Opens WebSockets with tokio-tungstenite.
#[derive(Debug, Default)]
pub struct TokioTransport;

/// One tokio-tungstenite WebSocket.
#[derive(Debug)]
pub struct TokioLink {
    socket: WebSocketStream<TcpStream>,
}

impl Transport for TokioTransport {
    type Link = TokioLink;

    async fn connect(&mut self, url: &str) -> Result<TokioLink, String> {
        let mut request = url.into_client_request().map_err(|e| e.to_string())?;
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static(raftcp_proto::SUBPROTOCOL),
        );
        let uri = request.uri();
        if uri.scheme_str() != Some("ws") {
            // Never downgrade: a `wss://` endpoint asked for encryption,
            // which this transport does not speak yet (docs/security.md).
            return Err(format!(
                "{url}: only ws:// is supported by the native client so far; it will not \
                 connect to a wss:// endpoint without TLS"
            ));
        }
        let host = uri.host().ok_or_else(|| format!("{url}: no host"))?;
        let port = uri.port_u16().unwrap_or(80);
        let stream = TcpStream::connect((host, port))
            .await
            .map_err(|e| format!("connect {url}: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        // Small frames: a small read buffer (tungstenite zero-fills it per read).
        let config = WebSocketConfig::default()
            .read_buffer_size(8 * 1024)
            .max_message_size(Some(FRAME_BYTES_MAX))
            .max_frame_size(Some(FRAME_BYTES_MAX));
        let (socket, _) =
            tokio_tungstenite::client_async_with_config(request, stream, Some(config))
                .await
                .map_err(|e| format!("websocket handshake with {url}: {e}"))?;
        Ok(TokioLink { socket })
    }
}

impl Link for TokioLink {
    async fn send(&mut self, frame: Vec<u8>) -> Result<(), String> {
        self.socket
            .feed(Message::binary(frame))
            .await
            .map_err(|e| e.to_string())
    }

    async fn flush(&mut self) -> Result<(), String> {
        self.socket.flush().await.map_err(|e| e.to_string())
    }

    async fn recv(&mut self) -> Option<Vec<u8>> {
        loop {
            match self.socket.next().await? {
                Ok(Message::Binary(bytes)) => return Some(bytes.to_vec()),
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => continue,
            }
        }
    }
}
