//! The one listening port: WebSocket upgrades on `/v1/client` and
//! `/v1/raft`, plain HTTP for `/health`, `/metrics` and the www dashboard's
//! files (`crate::www`), all over TLS when
//! the member has a certificate. The request line is read to route and then
//! read again (see [`Stream`]), so the WebSocket handshake still sees the
//! whole request.
//!
//! A connection is counted ([`Admission`]) before anything is read from it,
//! and its whole HTTP head and WebSocket upgrade must arrive within
//! [`HEAD_TIMEOUT`] of its accept: a half-sent request holds nothing for
//! long.

use crate::admission::Admission;
use crate::cluster::Cluster;
use crate::gateway::{Gateway, connection};
use crate::limits::{
    HANDSHAKE_BYTES_MAX, HEAD_TIMEOUT, HTTP_HEAD_BYTES_MAX, HTTP_RESPONSE_TIMEOUT,
    PEER_HELLO_BYTES_MAX, REQUEST_LINE_BYTES_MAX, TURN_AWAY_TIMEOUT,
};
use crate::raft::peer_server;
use crate::stream::Stream;
use crate::ws;
use openraft::ServerState;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
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
        _ => {
            serve_http(stream, path, &gateway.cluster, deadline).await;
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

/// A plain HTTP answer: status, content type, body, and whether a page of
/// another member may read it (CORS).
struct Answer<'a> {
    status: &'static str,
    content_type: &'static str,
    body: std::borrow::Cow<'a, [u8]>,
    /// The dashboard's pages: may not be framed by other sites, and may
    /// run only their own scripts (and compile the client's wasm).
    page: bool,
    /// The body is gzipped (the client accepts it).
    gzipped: bool,
}

impl<'a> Answer<'a> {
    fn text(status: &'static str, content_type: &'static str, body: String) -> Self {
        let body = std::borrow::Cow::Owned(body.into_bytes());
        Answer {
            status,
            content_type,
            body,
            page: false,
            gzipped: false,
        }
    }
}

/// The policy the dashboard's pages run under: their own files only, the
/// client's wasm compiled, WebSockets and reads to the members (which
/// check `Origin` themselves), never inside another site's frame.
const PAGE_SECURITY_HEADERS: &str = "content-security-policy: default-src 'self'; \
     script-src 'self' 'wasm-unsafe-eval'; connect-src 'self' ws: wss: http: https:; \
     img-src 'self' data:; style-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
     form-action 'none'\r\nx-frame-options: DENY\r\nreferrer-policy: no-referrer\r\n";

/// Answers one plain HTTP request whose head arrives by `deadline`.
async fn serve_http(mut stream: Stream, path: &str, cluster: &Cluster, deadline: Instant) {
    let read_head = tokio::time::timeout_at(deadline, read_head(&mut stream));
    let Ok(Some(head)) = read_head.await else {
        return;
    };
    let head = String::from_utf8_lossy(&head);
    let method = head.split(' ').next().unwrap_or("");
    let origin = header(&head, "origin");
    let accepts_gzip = header(&head, "accept-encoding").is_some_and(|a| a.contains("gzip"));
    let answer = answer(cluster, method, path, accepts_gzip);
    let mut response = format!(
        "HTTP/1.1 {}\r\ncontent-type: {}\r\ncontent-length: {}\r\n\
         x-content-type-options: nosniff\r\ncache-control: no-cache\r\nconnection: close\r\n",
        answer.status,
        answer.content_type,
        answer.body.len()
    );
    if answer.page {
        response.push_str(PAGE_SECURITY_HEADERS);
    }
    if answer.gzipped {
        response.push_str("content-encoding: gzip\r\nvary: accept-encoding\r\n");
    }
    // The dashboard on one member reads the others' /health and /metrics.
    if let Some(origin) = origin.filter(|o| cluster.allows_page_from(Some(o))) {
        let _ = write!(
            response,
            "access-control-allow-origin: {origin}\r\nvary: origin\r\n"
        );
    }
    response.push_str("\r\n");
    let send = async {
        stream.write_all(response.as_bytes()).await?;
        if method != "HEAD" {
            stream.write_all(&answer.body).await?;
        }
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(HTTP_RESPONSE_TIMEOUT, send).await;
}

/// The request head, read whole (so the client sees a clean response, not
/// a reset), up to [`HTTP_HEAD_BYTES_MAX`].
async fn read_head(stream: &mut Stream) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    let mut chunk = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < HTTP_HEAD_BYTES_MAX {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => head.extend_from_slice(&chunk[..n]),
        }
    }
    Some(head)
}

/// The value of header `name` in an HTTP head.
fn header<'h>(head: &'h str, name: &str) -> Option<&'h str> {
    head.split("\r\n").skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

fn answer<'a>(cluster: &'a Cluster, method: &str, path: &str, accepts_gzip: bool) -> Answer<'a> {
    if method != "GET" && method != "HEAD" {
        let body = format!("{method} is not served here\n");
        return Answer::text("405 Method Not Allowed", "text/plain", body);
    }
    match path {
        "/health" => {
            let (status, body) = health(cluster);
            Answer::text(status, "application/json", body)
        }
        "/metrics" => Answer::text("200 OK", "text/plain; version=0.0.4", metrics(cluster)),
        _ => match (cluster.www(), path) {
            (Some(www), _) => match www.get(path) {
                Some(asset) => {
                    let gzipped = asset.gzipped.as_ref().filter(|_| accepts_gzip);
                    Answer {
                        status: "200 OK",
                        content_type: asset.content_type,
                        body: std::borrow::Cow::Borrowed(gzipped.unwrap_or(&asset.bytes)),
                        page: asset.content_type.starts_with("text/html"),
                        gzipped: gzipped.is_some(),
                    }
                }
                None => not_found(path),
            },
            (None, "/") => Answer {
                status: "200 OK",
                content_type: "text/html; charset=utf-8",
                body: std::borrow::Cow::Borrowed(crate::www::NOT_BUILT_PAGE.as_bytes()),
                page: true,
                gzipped: false,
            },
            (None, _) => not_found(path),
        },
    }
}

fn not_found(path: &str) -> Answer<'static> {
    let body = format!("no such path: {path}\n");
    Answer::text("404 Not Found", "text/plain", body)
}

/// `200` with the node's Raft view when a leader is known, `503` otherwise.
fn health(cluster: &Cluster) -> (&'static str, String) {
    let m = cluster.raft_metrics();
    let leader = m.current_leader;
    let state = match m.state {
        ServerState::Leader => "leader",
        ServerState::Follower => "follower",
        ServerState::Candidate => "candidate",
        ServerState::Learner => "learner",
        ServerState::Shutdown => "shutdown",
    };
    let cut_off = cluster.is_cut_off();
    let state_bytes = cluster.replica().state_bytes();
    let max_state_bytes = cluster.settings().max_state_bytes;
    let quota_alarm = state_bytes >= max_state_bytes;
    let json = format!(
        "{{\"node\":{},\"state\":\"{state}\",\"leader\":{},\"term\":{},\"last_log_index\":{},\
         \"commit_index\":{},\"applied_index\":{},\"cut_off\":{cut_off},\
         \"state_bytes\":{state_bytes},\"max_state_bytes\":{max_state_bytes},\
         \"quota_alarm\":{quota_alarm}}}\n",
        cluster.id(),
        leader.map_or("null".to_owned(), |l| l.to_string()),
        m.current_term,
        m.last_log_index.unwrap_or(0),
        m.local_committed.as_ref().map_or(0, |c| c.index),
        m.last_applied.as_ref().map_or(0, |a| a.index),
    );
    // A follower cut off from its leader may still name it (pre-vote).
    let status = if leader.is_some() && !cut_off {
        "200 OK"
    } else {
        "503 Service Unavailable"
    };
    (status, json)
}

fn metrics(cluster: &Cluster) -> String {
    let m = cluster.raft_metrics();
    let (stats, snapshots_installed) = {
        let replica = cluster.replica().lock();
        (replica.machine.stats(), replica.snapshots_installed)
    };
    let mut out = String::new();
    let gauges: [(&str, u64); 14] = [
        ("raftcp_node_id", cluster.id()),
        ("raftcp_raft_term", m.current_term),
        (
            "raftcp_raft_is_leader",
            u64::from(m.state == ServerState::Leader),
        ),
        ("raftcp_raft_leader", m.current_leader.unwrap_or(0)),
        (
            "raftcp_raft_commit_index",
            m.local_committed.as_ref().map_or(0, |c| c.index),
        ),
        (
            "raftcp_raft_applied_index",
            m.last_applied.as_ref().map_or(0, |a| a.index),
        ),
        ("raftcp_sessions", stats.sessions as u64),
        ("raftcp_objects", stats.objects as u64),
        ("raftcp_waiters", stats.waiters as u64),
        ("raftcp_watchers", cluster.watches().watchers() as u64),
        ("raftcp_snapshots_installed", snapshots_installed),
        ("raftcp_cut_off", u64::from(cluster.is_cut_off())),
        ("raftcp_state_bytes", cluster.replica().state_bytes()),
        ("raftcp_state_bytes_max", cluster.settings().max_state_bytes),
    ];
    for (name, value) in gauges {
        let _ = writeln!(out, "# TYPE {name} gauge\n{name} {value}");
    }
    let connections = cluster.metrics().connections_open.load(Ordering::Relaxed);
    let protocol_errors = cluster.metrics().protocol_errors.load(Ordering::Relaxed);
    let _ = writeln!(
        out,
        "# TYPE raftcp_client_connections gauge\nraftcp_client_connections {connections}"
    );
    let _ = writeln!(
        out,
        "# TYPE raftcp_protocol_errors_total counter\nraftcp_protocol_errors_total {protocol_errors}"
    );
    cluster.metrics().render_operations(&mut out);
    out
}
