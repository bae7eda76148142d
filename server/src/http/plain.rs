//! Plain HTTP on the member port: `/health`, `/metrics` and the www
//! dashboard's files (`crate::www`), one request per connection, `GET` and
//! `HEAD` only. The head must arrive by the connection's deadline and the
//! response be taken within [`HTTP_RESPONSE_TIMEOUT`].
//!
//! The dashboard's pages run under a content security policy that lets
//! them talk to the cluster's members and nothing else, and other sites
//! may not frame them (the dashboard can close sessions). Of browser pages,
//! only the members' own may read `/health` and `/metrics` (CORS).

use super::status::{health, metrics};
use crate::cluster::Cluster;
use crate::limits::{HTTP_HEAD_BYTES_MAX, HTTP_RESPONSE_TIMEOUT};
use crate::stream::Stream;
use std::borrow::Cow;
use std::fmt::Write as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

/// A plain HTTP answer, before its headers are written.
struct Answer<'a> {
    status: &'static str,
    content_type: &'static str,
    body: Cow<'a, [u8]>,
    kind: AnswerKind,
    /// The body is the gzipped copy (the client accepts gzip).
    gzipped: bool,
    /// A gzipped copy exists: the answer depends on `accept-encoding`.
    has_gzipped: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum AnswerKind {
    /// A dashboard page (HTML): its policy says what it may run and reach.
    Page,
    /// `/health` or `/metrics`: the members' own pages may read it.
    Status,
    /// Anything else: a script, the wasm, an error.
    Other,
}

impl<'a> Answer<'a> {
    fn text(
        status: &'static str,
        content_type: &'static str,
        body: String,
        kind: AnswerKind,
    ) -> Self {
        Answer {
            status,
            content_type,
            body: Cow::Owned(body.into_bytes()),
            kind,
            gzipped: false,
            has_gzipped: false,
        }
    }
}

/// Answers one plain HTTP request whose head arrives by `deadline`.
pub(super) async fn serve(mut stream: Stream, path: &str, cluster: &Cluster, deadline: Instant) {
    let read_head = tokio::time::timeout_at(deadline, read_head(&mut stream));
    let Ok(Some(head)) = read_head.await else {
        return;
    };
    let head = String::from_utf8_lossy(&head);
    let method = head.split(' ').next().unwrap_or("");
    let gzip = header(&head, "accept-encoding").is_some_and(accepts_gzip);
    let answer = answer(cluster, method, path, gzip);
    let mut response = format!(
        "HTTP/1.1 {}\r\ncontent-type: {}\r\ncontent-length: {}\r\n\
         x-content-type-options: nosniff\r\ncache-control: no-cache\r\nconnection: close\r\n",
        answer.status,
        answer.content_type,
        answer.body.len()
    );
    match answer.kind {
        AnswerKind::Page => response.push_str(&page_policy(cluster)),
        // Ignored for scripts and wasm; stops an SVG or a text file opened
        // directly from running anything.
        AnswerKind::Other => response
            .push_str("content-security-policy: default-src 'none'; frame-ancestors 'none'\r\n"),
        AnswerKind::Status => {
            // The dashboard on one member reads the others' /health and
            // /metrics; no other page may (an `--allowed-origin` page
            // drives the cluster through its client, not these).
            let origin = header(&head, "origin").filter(|o| cluster.is_member_page(o));
            if let Some(origin) = origin {
                let _ = write!(response, "access-control-allow-origin: {origin}\r\n");
            }
            response.push_str("vary: origin\r\n");
        }
    }
    if answer.status.starts_with("405") {
        response.push_str("allow: GET, HEAD\r\n");
    }
    if answer.gzipped {
        response.push_str("content-encoding: gzip\r\n");
    }
    if answer.has_gzipped {
        response.push_str("vary: accept-encoding\r\n");
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
/// a reset); `None` if it does not end within [`HTTP_HEAD_BYTES_MAX`].
pub(super) async fn read_head(stream: &mut Stream) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    let mut chunk = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() >= HTTP_HEAD_BYTES_MAX {
            return None;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => head.extend_from_slice(&chunk[..n]),
        }
    }
    Some(head)
}

/// The value of header `name` in an HTTP head (not in a body after it).
pub(super) fn header<'h>(head: &'h str, name: &str) -> Option<&'h str> {
    header_values(head, name).next()
}

/// Every value of header `name` in an HTTP head, in order.
pub(super) fn header_values<'h>(head: &'h str, name: &str) -> impl Iterator<Item = &'h str> {
    head.split("\r\n")
        .skip(1)
        .take_while(|line| !line.is_empty())
        .filter_map(move |line| {
            let (key, value) = line.split_once(':')?;
            key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
        })
}

/// Whether an `accept-encoding` value takes gzip (`gzip;q=0` refuses it).
fn accepts_gzip(accepted: &str) -> bool {
    accepted.split(',').any(|coding| {
        let mut parts = coding.split(';').map(str::trim);
        let name = parts.next().unwrap_or("");
        let weight = |p: &str| {
            let (key, value) = p.split_once('=')?;
            let is_q = key.trim().eq_ignore_ascii_case("q");
            is_q.then(|| value.trim().parse::<f32>().ok()).flatten()
        };
        let refused = parts.filter_map(weight).any(|q| q <= 0.0);
        (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
    })
}

/// The content security policy of a dashboard page: its own scripts and
/// styles only (no inline ones), the client's wasm compiled, connections to
/// the cluster's current members only (a member added later needs a
/// reload), never inside another site's frame.
fn page_policy(cluster: &Cluster) -> String {
    let (web, socket) = match cluster.tls() {
        Some(_) => ("https", "wss"),
        None => ("http", "ws"),
    };
    let members: String = cluster
        .member_addrs()
        .values()
        .map(|addr| format!(" {web}://{addr} {socket}://{addr}"))
        .collect();
    format!(
        "content-security-policy: default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
         connect-src 'self'{members}; style-src 'self'; frame-ancestors 'none'; \
         base-uri 'none'; form-action 'none'\r\nx-frame-options: DENY\r\n\
         referrer-policy: no-referrer\r\ncross-origin-opener-policy: same-origin\r\n"
    )
}

fn answer<'a>(cluster: &'a Cluster, method: &str, path: &str, gzip: bool) -> Answer<'a> {
    if method != "GET" && method != "HEAD" {
        let body = format!("{method} is not served here\n");
        return Answer::text(
            "405 Method Not Allowed",
            "text/plain",
            body,
            AnswerKind::Other,
        );
    }
    match path {
        "/health" => {
            let (status, body) = health(cluster);
            Answer::text(status, "application/json", body, AnswerKind::Status)
        }
        "/metrics" => {
            let content_type = "text/plain; version=0.0.4";
            Answer::text("200 OK", content_type, metrics(cluster), AnswerKind::Status)
        }
        _ => match (cluster.www(), path) {
            (Some(www), _) => match www.get(path) {
                Some(asset) => {
                    let gzipped = asset.gzipped.as_ref().filter(|_| gzip);
                    let is_page = asset.content_type.starts_with("text/html");
                    Answer {
                        status: "200 OK",
                        content_type: asset.content_type,
                        body: Cow::Borrowed(gzipped.unwrap_or(&asset.bytes)),
                        kind: if is_page {
                            AnswerKind::Page
                        } else {
                            AnswerKind::Other
                        },
                        gzipped: gzipped.is_some(),
                        has_gzipped: asset.gzipped.is_some(),
                    }
                }
                None => not_found(path),
            },
            (None, "/") => Answer {
                status: "200 OK",
                content_type: "text/html; charset=utf-8",
                body: Cow::Borrowed(crate::www::NOT_BUILT_PAGE.as_bytes()),
                kind: AnswerKind::Page,
                gzipped: false,
                has_gzipped: false,
            },
            (None, _) => not_found(path),
        },
    }
}

fn not_found(path: &str) -> Answer<'static> {
    let body = format!("no such path: {path}\n");
    Answer::text("404 Not Found", "text/plain", body, AnswerKind::Other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_read_from_the_head_only() {
        let head = "GET / HTTP/1.1\r\nHost: m\r\nACCEPT-Encoding :  gzip, br \r\n\r\norigin: x";
        assert_eq!(header(head, "accept-encoding"), Some("gzip, br"));
        assert_eq!(header(head, "host"), Some("m"));
        assert_eq!(header(head, "origin"), None, "a body line is not a header");
        assert_eq!(
            header("GET /x HTTP/1.1\r\norigin: y\r\n\r\n", "origin"),
            Some("y")
        );
    }

    #[test]
    fn gzip_unless_refused() {
        for yes in ["gzip", "br, gzip", "GZIP;q=0.5", "*", "gzip; q=1"] {
            assert!(accepts_gzip(yes), "{yes}");
        }
        for no in ["", "br", "gzip;q=0", "gzip; q=0.0", "identity", "x-gzip2"] {
            assert!(!accepts_gzip(no), "{no}");
        }
    }
}
