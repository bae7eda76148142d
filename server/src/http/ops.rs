//! `POST /v1/ops`: session-less operations over plain HTTP, one request per
//! connection, for callers that cannot keep a WebSocket (an edge worker
//! lives for one request). The body is a postcard
//! [`raftcp_proto::OneShotBatch`]; status 200 answers with a postcard
//! [`raftcp_proto::OneShotAnswers`], any other status with one postcard
//! [`OpError`] for the whole request.
//!
//! The body must be declared (`content-length`, at most
//! [`ONE_SHOT_BODY_BYTES_MAX`]) and arrive within [`ONE_SHOT_BODY_TIMEOUT`]
//! of the head. A token comes as `authorization: Bearer …` and is checked
//! as a WebSocket client's. The content type must be
//! `application/octet-stream`: a page of another site can make a browser
//! send a "simple" cross-site POST (`text/plain`, no preflight), never this
//! one; pages of allowed origins get CORS answers.

use super::plain::{header, header_values, read_head};
use crate::gateway::Gateway;
use crate::gateway::access::Access;
use crate::gateway::one_shot;
use crate::limits::{
    HTTP_RESPONSE_TIMEOUT, ONE_SHOT_BODY_BYTES_MAX, ONE_SHOT_BODY_TIMEOUT, ONE_SHOTS_PER_BATCH_MAX,
};
use crate::stream::Stream;
use raftcp_proto::{OneShotAnswers, OneShotBatch, OpError, PROTOCOL_VERSION};
use std::fmt::Write as _;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

const CONTENT_TYPE: &str = "application/octet-stream";

/// A request refused as a whole: its status and why.
struct Refused(&'static str, OpError);

fn refused(status: &'static str, reason: impl Into<String>) -> Refused {
    let reason = reason.into();
    Refused(status, OpError::InvalidArgument { reason })
}

fn invalid(reason: impl Into<String>) -> Refused {
    refused("400 Bad Request", reason)
}

/// Answers one `/v1/ops` request whose head arrives by `deadline`.
pub(super) async fn serve(mut stream: Stream, gateway: Arc<Gateway>, deadline: Instant) {
    let read = tokio::time::timeout_at(deadline, read_head(&mut stream));
    let Ok(Some(mut received)) = read.await else {
        return;
    };
    let Some(head_end) = received.windows(4).position(|w| w == b"\r\n\r\n") else {
        return;
    };
    let body_start = received.split_off(head_end + 4);
    let head = String::from_utf8_lossy(&received).into_owned();
    let cluster = &gateway.cluster;
    // Echoed below: never one that could end the header line.
    let origin = header(&head, "origin")
        .filter(|o| !o.chars().any(char::is_control) && cluster.allows_page_from(Some(o)));
    let mut cors = String::new();
    if let Some(origin) = origin {
        let _ = write!(
            cors,
            "access-control-allow-origin: {origin}\r\nvary: origin\r\n"
        );
    }
    let method = head.split(' ').next().unwrap_or("");
    // Budgets the answers hold until they are written.
    let mut holding = Vec::new();
    let (status, body) = match method {
        "OPTIONS" if origin.is_some() => {
            // A browser asks first whether its page may send this.
            cors.push_str(
                "access-control-allow-methods: POST\r\n\
                 access-control-allow-headers: authorization, content-type\r\n\
                 access-control-max-age: 600\r\n",
            );
            ("204 No Content", Vec::new())
        }
        "POST" => match answer(&mut stream, &gateway, &head, body_start).await {
            Ok(answered) => {
                holding = answered.reserved;
                let results = answered.results;
                ("200 OK", encode(&OneShotAnswers { results }))
            }
            Err(Refused(status, error)) => (status, encode(&error)),
        },
        _ => {
            let reason = format!("{method} is not served on /v1/ops: POST");
            cors.push_str("allow: POST\r\n");
            (
                "405 Method Not Allowed",
                encode(&OpError::InvalidArgument { reason }),
            )
        }
    };
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {CONTENT_TYPE}\r\ncontent-length: {}\r\n\
         x-content-type-options: nosniff\r\ncache-control: no-store\r\nconnection: close\r\n\
         {cors}\r\n",
        body.len()
    );
    let send = async {
        stream.write_all(response.as_bytes()).await?;
        stream.write_all(&body).await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(HTTP_RESPONSE_TIMEOUT, send).await;
    drop(holding);
    // A refused request's body may still be on its way: closing with unread
    // bytes resets the connection, which can destroy the answer before the
    // client reads it. Take (and drop) a little of it first.
    let mut drained = 0;
    let mut sink = [0u8; 4096];
    let drain = async {
        while drained < DRAIN_BYTES_MAX {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(n) => drained += n,
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, drain).await;
}

/// What is read and dropped of a refused request's body, and for how long.
const DRAIN_BYTES_MAX: usize = 2 * ONE_SHOT_BODY_BYTES_MAX;
const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    // Answers and errors always encode; an empty body then says "broken".
    postcard::to_allocvec(value).unwrap_or_default()
}

/// Checks the request, reads its body and runs its operations.
async fn answer(
    stream: &mut Stream,
    gateway: &Arc<Gateway>,
    head: &str,
    body_start: Vec<u8>,
) -> Result<one_shot::Answered, Refused> {
    let origin = header(head, "origin");
    if !gateway.cluster.allows_page_from(origin) {
        let reason = "this page's origin may not call the cluster (see --allowed-origin)";
        let error = OpError::PermissionDenied {
            kind: "origin".into(),
            name: reason.into(),
        };
        return Err(Refused("403 Forbidden", error));
    }
    let content_type = header(head, "content-type").unwrap_or("");
    if !content_type.eq_ignore_ascii_case(CONTENT_TYPE) {
        let reason = format!("content-type must be {CONTENT_TYPE}");
        return Err(refused("415 Unsupported Media Type", reason));
    }
    let Some(length) = content_length(head) else {
        let reason = "the body's length must be given (content-length)";
        return Err(refused("411 Length Required", reason));
    };
    if length > ONE_SHOT_BODY_BYTES_MAX {
        let reason =
            format!("the body is {length} bytes: at most {ONE_SHOT_BODY_BYTES_MAX} allowed");
        return Err(refused("413 Content Too Large", reason));
    }
    // Checked before the body is read: a refused caller sends nothing more.
    let token = header(head, "authorization").and_then(bearer);
    let authenticator = gateway.cluster.authenticator().map(|a| &**a);
    let access = Access::from_token(authenticator, token)
        .map_err(|error| Refused("401 Unauthorized", error))?;
    let body = read_body(stream, body_start, length).await?;
    let batch: OneShotBatch =
        raftcp_proto::codec::decode_bounded(&body, ONE_SHOT_BODY_BYTES_MAX)
            .map_err(|error| invalid(format!("the body does not decode: {error}")))?;
    if batch.protocol_version != PROTOCOL_VERSION {
        return Err(invalid(format!(
            "protocol version {} is not supported; this server speaks {PROTOCOL_VERSION}",
            batch.protocol_version
        )));
    }
    if batch.ops.len() > ONE_SHOTS_PER_BATCH_MAX {
        return Err(invalid(format!(
            "{} operations in one request: at most {ONE_SHOTS_PER_BATCH_MAX} allowed",
            batch.ops.len()
        )));
    }
    Ok(one_shot::answer(gateway, &access, batch.ops).await)
}

/// The body's length: one `content-length` of digits only, and no
/// `transfer-encoding` (a request that could be read two ways is refused).
fn content_length(head: &str) -> Option<usize> {
    if header(head, "transfer-encoding").is_some() {
        return None;
    }
    let mut lengths = header_values(head, "content-length");
    let length = lengths.next()?;
    let digits = !length.is_empty() && length.bytes().all(|b| b.is_ascii_digit());
    match (digits, lengths.next()) {
        (true, None) => length.parse().ok(),
        _ => None,
    }
}

/// The token of an `authorization: Bearer …` value (the scheme's case does
/// not matter).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(char::is_whitespace)?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The body, `length` bytes of which `start` already arrived with the head.
async fn read_body(stream: &mut Stream, start: Vec<u8>, length: usize) -> Result<Vec<u8>, Refused> {
    if start.len() > length {
        return Err(invalid("more bytes than content-length"));
    }
    let mut body = start;
    let missing = (length - body.len()) as u64;
    // Grows as bytes arrive: a declared length alone claims no memory.
    let mut rest = (&mut *stream).take(missing);
    let read = tokio::time::timeout(ONE_SHOT_BODY_TIMEOUT, rest.read_to_end(&mut body));
    match read.await {
        Ok(Ok(_)) if body.len() == length => Ok(body),
        Ok(_) => Err(invalid("the body ended before content-length")),
        Err(_) => Err(refused(
            "408 Request Timeout",
            format!("the body did not arrive within {ONE_SHOT_BODY_TIMEOUT:?}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_has_one_plain_length() {
        let head = |headers: &str| format!("POST /v1/ops HTTP/1.1\r\n{headers}\r\n");
        assert_eq!(content_length(&head("Content-Length: 12\r\n")), Some(12));
        assert_eq!(content_length(&head("content-length:0\r\n")), Some(0));
        for refused in [
            "",
            "content-length: 1\r\ncontent-length: 1\r\n",
            "content-length: +5\r\n",
            "content-length: 5 5\r\n",
            "content-length: -1\r\n",
            "content-length: \r\n",
            "content-length: 99999999999999999999999\r\n",
            "content-length: 5\r\ntransfer-encoding: chunked\r\n",
        ] {
            assert_eq!(content_length(&head(refused)), None, "{refused:?}");
        }
    }

    #[test]
    fn the_bearer_scheme_is_matched_in_any_case() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer\tabc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearerabc"), None);
    }
}
