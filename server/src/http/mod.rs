//! The one listening port: WebSocket upgrades on `/v1/client` and
//! `/v1/raft`, session-less operations (`ops`: `POST /v1/ops`) and plain
//! HTTP (`plain`: `/health`, `/metrics` and the www dashboard's files), all over TLS when the member has a certificate. The
//! request line is read to route and then read again (see [`Stream`]), so
//! the WebSocket handshake still sees the whole request.
//!
//! A connection is counted ([`Admission`]) before anything is read from it,
//! and its whole HTTP head and WebSocket upgrade must arrive within
//! [`HEAD_TIMEOUT`] of its accept: a half-sent request holds nothing for
//! long.

mod ops;
mod plain;
mod status;

use crate::admission::Admission;
use crate::gateway::{Gateway, connection};
use crate::limits::{
    HANDSHAKE_BYTES_MAX, HEAD_TIMEOUT, PEER_HELLO_BYTES_MAX, REQUEST_LINE_BYTES_MAX,
    TURN_AWAY_TIMEOUT,
};
use crate::raft::peer_server;
use crate::stream::Stream;
use crate::ws;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};

pub async fn accept_loop(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    admission: Arc<Admission>,
    incarnation: u64,
) {
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and similar: back off, keep serving.
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let admitted = match admission.admit(remote.ip()) {
            Ok(admitted) => admitted,
            Err(refusal) => {
                tracing::debug!("turned away a connection from {remote}: {refusal}");
                tokio::spawn(turn_away(stream, refusal.to_string()));
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let gateway = gateway.clone();
        tokio::spawn(async move {
            let deadline = Instant::now() + HEAD_TIMEOUT;
            // A silent or garbage connection is dropped; the TLS handshake
            // counts against the same deadline.
            let opened = tokio::time::timeout_at(deadline, open(stream, &gateway)).await;
            match opened {
                // The peers' reserve is for peer links only.
                Ok(Some((stream, path)))
                    if admitted.is_reserved_for_peers() && path != "/v1/raft" =>
                {
                    let reason = "the member has as many connections open as it allows";
                    turn_away(stream, reason.into()).await;
                }
                Ok(Some((stream, path))) => {
                    let from = remote.ip().to_canonical();
                    route(stream, &path, gateway, deadline, incarnation, from).await
                }
                _ => {}
            }
            drop(admitted);
        });
    }
}

/// Completes TLS (when the member serves it) and reads the request line.
async fn open(tcp: TcpStream, gateway: &Gateway) -> Option<(Stream, String)> {
    let mut stream = match &gateway.cluster.tls() {
        None => Stream::plain(tcp),
        Some(tls) => Stream::accepted(tls.acceptor().accept(tcp).await.ok()?),
    };
    let path = request_path(&mut stream).await?;
    Some((stream, path))
}

/// Answers a connection over the limits with 503 (briefly) and closes it.
async fn turn_away(mut stream: impl tokio::io::AsyncWrite + Unpin, reason: String) {
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{reason}\n",
        reason.len() + 1
    );
    let write = stream.write_all(response.as_bytes());
    let _ = tokio::time::timeout(TURN_AWAY_TIMEOUT, write).await;
}

async fn route(
    stream: Stream,
    path: &str,
    gateway: Arc<Gateway>,
    deadline: Instant,
    incarnation: u64,
    from: std::net::IpAddr,
) {
    match path {
        "/v1/client" => {
            // Only the Hello may arrive before the handshake; the link
            // takes full-size frames after it (see `connection::serve`).
            let cluster = gateway.cluster.clone();
            let allowed = |origin: Option<&str>| cluster.allows_page_from(origin);
            if let Some(socket) = upgrade(stream, HANDSHAKE_BYTES_MAX, deadline, allowed).await {
                connection::serve(socket, gateway, from.is_loopback()).await;
            }
        }
        "/v1/raft" => {
            // Only the peer's handshake may arrive before it is checked;
            // the link takes its full frame size after that. No web page
            // may open one.
            let no_pages = |origin: Option<&str>| origin.is_none();
            if let Some(socket) = upgrade(stream, PEER_HELLO_BYTES_MAX, deadline, no_pages).await {
                peer_server::serve(socket, gateway.cluster.clone(), incarnation).await;
            }
        }
        "/v1/ops" => ops::serve(stream, gateway, deadline).await,
        _ => {
            plain::serve(stream, path, &gateway.cluster, deadline).await;
        }
    }
}

/// Completes the WebSocket handshake, echoing the raftcp subprotocol when the
/// client offers it (browsers require the echo). A browser page from an
/// origin not `allowed` is answered 403.
// The callback's error type is tungstenite's, not ours to shrink.
#[allow(clippy::result_large_err)]
async fn upgrade(
    stream: Stream,
    max_message_bytes: usize,
    deadline: Instant,
    allowed: impl Fn(Option<&str>) -> bool,
) -> Option<ws::Socket> {
    let echo_subprotocol = |request: &Request, mut response: Response| {
        let origin = request
            .headers()
            .get("Origin")
            .map(|v| v.to_str().unwrap_or("?"));
        if !allowed(origin) {
            tracing::debug!("refused a WebSocket from a page of another origin");
            let mut refusal = ErrorResponse::new(Some(
                "this page's origin may not connect (see --allowed-origin)".into(),
            ));
            *refusal.status_mut() = StatusCode::FORBIDDEN;
            return Err(refusal);
        }
        let offered = request
            .headers()
            .get_all("Sec-WebSocket-Protocol")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|p| p.trim() == raftcp_proto::SUBPROTOCOL);
        if offered {
            response.headers_mut().insert(
                "Sec-WebSocket-Protocol",
                HeaderValue::from_static(raftcp_proto::SUBPROTOCOL),
            );
        }
        Ok(response)
    };
    let config = Some(ws::config(max_message_bytes));
    let upgrade = tokio_tungstenite::accept_hdr_async_with_config(stream, echo_subprotocol, config);
    tokio::time::timeout_at(deadline, upgrade).await.ok()?.ok()
}

/// The path of the request line, once it has fully arrived (it is read
/// again by whatever serves the request).
async fn request_path(stream: &mut Stream) -> Option<String> {
    let has_line = |bytes: &[u8]| bytes.windows(2).any(|w| w == b"\r\n");
    let bytes = stream.peek_until(REQUEST_LINE_BYTES_MAX, has_line).await?;
    let end = bytes.windows(2).position(|w| w == b"\r\n")?;
    let line = std::str::from_utf8(&bytes[..end]).ok()?;
    let mut parts = line.split(' ');
    let (_method, target) = (parts.next()?, parts.next()?);
    Some(target.split('?').next().unwrap_or(target).to_owned())
}
