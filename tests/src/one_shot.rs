//! A raw `POST /v1/ops` client for tests: it sends whatever head and body
//! it is given and returns the status and body the member answered.

use raftcp_proto::{
    GroupName, IdempotencyKey, OneShot, OneShotAnswers, OneShotBatch, Op, OpError,
    PROTOCOL_VERSION, Reply,
};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Sends `head` (request line and headers, each ending in CRLF, without the
/// blank line) and `body`; returns the status code and the response body.
pub fn exchange(addr: &str, head: &str, body: &[u8]) -> Option<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .ok()?;
    stream.write_all(format!("{head}\r\n").as_bytes()).ok()?;
    // A member that refuses before reading the body may close first.
    let _ = stream.write_all(body);
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let end = response.windows(4).position(|w| w == b"\r\n\r\n")?;
    let status = std::str::from_utf8(&response[..end])
        .ok()?
        .split(' ')
        .nth(1)?
        .parse()
        .ok()?;
    Some((status, response[end + 4..].to_vec()))
}

/// A well-formed head for a body `length` long, with `token` if given.
pub fn head(addr: &str, length: usize, token: Option<&str>) -> String {
    let mut head = format!(
        "POST /v1/ops HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/octet-stream\r\n\
         content-length: {length}\r\nconnection: close\r\n"
    );
    if let Some(token) = token {
        head.push_str(&format!("authorization: Bearer {token}\r\n"));
    }
    head
}

/// `op` under `key` in the default group.
pub fn one(key: u8, op: Op) -> OneShot {
    OneShot {
        key: IdempotencyKey([key; 16]),
        group: GroupName::default_group(),
        op,
    }
}

/// Runs `ops` on the member at `addr`: one result per operation, or the
/// status and error that refused the whole request.
pub fn call(
    addr: &str,
    token: Option<&str>,
    ops: Vec<OneShot>,
) -> Result<Vec<Result<Reply, OpError>>, (u16, OpError)> {
    let batch = OneShotBatch {
        protocol_version: PROTOCOL_VERSION,
        ops,
    };
    let body = postcard::to_allocvec(&batch).unwrap();
    let (status, answer) =
        exchange(addr, &head(addr, body.len(), token), &body).expect("the member answers /v1/ops");
    match status {
        200 => Ok(postcard::from_bytes::<OneShotAnswers>(&answer)
            .expect("answers decode")
            .results),
        _ => Err((status, postcard::from_bytes(&answer).expect("an error"))),
    }
}
