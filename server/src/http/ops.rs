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

use super::plain::{header, read_head};
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
    let origin = header(&head, "origin").filter(|o| cluster.allows_page_from(Some(o)));
    let mut cors = String::new();
    if let Some(origin) = origin {
        let _ = write!(
            cors,
            "access-control-allow-origin: {origin}\r\nvary: origin\r\n"
        );
    }
    let method = head.split(' ').next().unwrap_or("");
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
            Ok(answers) => ("200 OK", encode(&answers)),
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
}

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
) -> Result<OneShotAnswers, Refused> {
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
    let length = header(head, "content-length").and_then(|v| v.parse::<usize>().ok());
    let Some(length) = length.filter(|_| header(head, "transfer-encoding").is_none()) else {
        let reason = "the body's length must be given (content-length)";
        return Err(refused("411 Length Required", reason));
    };
    if length > ONE_SHOT_BODY_BYTES_MAX {
        let reason =
            format!("the body is {length} bytes: at most {ONE_SHOT_BODY_BYTES_MAX} allowed");
        return Err(refused("413 Content Too Large", reason));
    }
    // Checked before the body is read: a refused caller sends nothing more.
    let token = header(head, "authorization").and_then(|v| v.strip_prefix("Bearer "));
    let authenticator = gateway.cluster.authenticator().map(|a| &**a);
    let access = Access::from_token(authenticator, token.map(str::trim))
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
    let results = one_shot::answer(gateway, &access, batch.ops, length).await;
    Ok(OneShotAnswers { results })
}

/// The body, `length` bytes of which `start` already arrived with the head.
async fn read_body(stream: &mut Stream, start: Vec<u8>, length: usize) -> Result<Vec<u8>, Refused> {
    if start.len() > length {
        return Err(invalid("more bytes than content-length"));
    }
    let mut body = start;
    let missing = length - body.len();
    body.resize(length, 0);
    let offset = length - missing;
    let read = tokio::time::timeout(
        ONE_SHOT_BODY_TIMEOUT,
        stream.read_exact(&mut body[offset..]),
    );
    match read.await {
        Ok(Ok(_)) => Ok(body),
        Ok(Err(_)) => Err(invalid("the body ended before content-length")),
        Err(_) => Err(refused(
            "408 Request Timeout",
            format!("the body did not arrive within {ONE_SHOT_BODY_TIMEOUT:?}"),
        )),
    }
}
