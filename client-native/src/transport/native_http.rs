//! A small HTTP/1.1 client for `POST /v1/ops`: one request per connection
//! (members answer with `connection: close`), `https://` through rustls
//! with the same roots as `wss://`.

use super::{POSTED_BODY_BYTES_MAX, Posted};
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// An answer's status line and headers may take this much.
const HEAD_BYTES_MAX: usize = 16 * 1024;
/// A member that does not take the connection by then is given up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

pub(super) async fn post(
    tls: &Arc<ClientConfig>,
    url: &str,
    body: Vec<u8>,
    token: Option<String>,
) -> Result<Posted, String> {
    let (secure, rest) = match url.split_once("://") {
        Some(("http", rest)) => (false, rest),
        Some(("https", rest)) => (true, rest),
        _ => return Err(format!("{url}: only http:// and https:// are posted to")),
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (host, port) = host_and_port(authority, if secure { 443 } else { 80 })
        .ok_or_else(|| format!("{url}: no host and port"))?;
    if token
        .as_deref()
        .is_some_and(|t| t.chars().any(char::is_control))
    {
        return Err("the token holds control characters".into());
    }
    let connect = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((host, port)));
    let stream = connect
        .await
        .map_err(|_| format!("connect {url}: no connection within {CONNECT_TIMEOUT:?}"))?
        .map_err(|e| format!("connect {url}: {e}"))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nhost: {authority}\r\ncontent-type: application/octet-stream\r\n\
         content-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    if let Some(token) = token {
        head.push_str(&format!("authorization: Bearer {token}\r\n"));
    }
    head.push_str("\r\n");
    let answer = if secure {
        let name = ServerName::try_from(host.to_owned()).map_err(|e| format!("{url}: {e}"))?;
        let stream = TlsConnector::from(tls.clone())
            .connect(name, stream)
            .await
            .map_err(|e| format!("TLS with {url}: {e}"))?;
        exchange(stream, head, body).await
    } else {
        exchange(stream, head, body).await
    };
    answer.map_err(|e| format!("POST {url}: {e}"))
}

/// `host:port`, `[v6]:port` or a bare host with the scheme's port.
fn host_and_port(authority: &str, default_port: u16) -> Option<(&str, u16)> {
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => (host, port.parse().ok()?),
        _ => (authority, default_port),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (!host.is_empty()).then_some((host, port))
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    head: String,
    body: Vec<u8>,
) -> Result<Posted, String> {
    let sent = async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(&body).await?;
        stream.flush().await
    };
    sent.await.map_err(|e| e.to_string())?;
    let mut received = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        if let Some(answer) = parse(&received)? {
            return Ok(answer);
        }
        match stream.read(&mut chunk).await {
            Ok(0) => return Err("the member closed before answering in full".into()),
            Ok(n) => received.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(e.to_string()),
        }
        if received.len() > HEAD_BYTES_MAX + POSTED_BODY_BYTES_MAX {
            return Err("the answer is too large".into());
        }
    }
}

/// The answer in `received`, once all of it (by its content-length) is.
fn parse(received: &[u8]) -> Result<Option<Posted>, String> {
    // Searched within the head's bound only: parsing after every read of
    // a large body must not scan the body again each time.
    let searched = &received[..received.len().min(HEAD_BYTES_MAX + 4)];
    let Some(head_end) = searched.windows(4).position(|w| w == b"\r\n\r\n") else {
        if received.len() > HEAD_BYTES_MAX {
            return Err("the answer's head is too large".into());
        }
        return Ok(None);
    };
    let head = std::str::from_utf8(&received[..head_end]).map_err(|_| "a head that is not text")?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .filter(|code| (200..600).contains(code))
        .ok_or("no final status in the answer")?;
    let headers: Vec<(&str, &str)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim(), value.trim()))
        .collect();
    let named = |wanted: &'static str| {
        headers
            .iter()
            .filter(move |(name, _)| name.eq_ignore_ascii_case(wanted))
    };
    if named("transfer-encoding").next().is_some() {
        return Err("a chunked answer (members send a content-length)".into());
    }
    let mut lengths = named("content-length").map(|(_, value)| *value);
    let length: usize = match (lengths.next(), lengths.next()) {
        (Some(value), None) if value.bytes().all(|b| b.is_ascii_digit()) => {
            value.parse().map_err(|_| "an unreadable content-length")?
        }
        _ => return Err("the answer has no single plain content-length".into()),
    };
    if length > POSTED_BODY_BYTES_MAX {
        return Err(format!("an answer of {length} bytes is too large"));
    }
    let body = &received[head_end + 4..];
    Ok((body.len() >= length).then(|| Posted {
        status,
        body: body[..length].to_vec(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_complete_at_its_content_length() {
        let answer = b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 3\r\n\r\nab";
        assert!(parse(answer).unwrap().is_none());
        let answer = b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 3\r\n\r\nabc";
        let posted = parse(answer).unwrap().unwrap();
        assert_eq!((posted.status, posted.body.as_slice()), (401, &b"abc"[..]));
        assert!(parse(b"HTTP/1.1 200 OK\r\n\r\n").is_err());
        assert!(parse(b"HTTP/1.1 100 Continue\r\ncontent-length: 0\r\n\r\n").is_err());
        let twice = b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 1\r\n\r\na";
        assert!(parse(twice).is_err());
        assert!(parse(b"HTTP/1.1 200 OK\r\ncontent-length: +1\r\n\r\na").is_err());
        let chunked =
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 1\r\n\r\na";
        assert!(parse(chunked).is_err());
    }

    #[test]
    fn authorities_give_host_and_port() {
        assert_eq!(
            host_and_port("127.0.0.1:7701", 80),
            Some(("127.0.0.1", 7701))
        );
        assert_eq!(host_and_port("[::1]:7701", 80), Some(("::1", 7701)));
        assert_eq!(host_and_port("[::1]", 443), Some(("::1", 443)));
        assert_eq!(
            host_and_port("example.com", 443),
            Some(("example.com", 443))
        );
        assert_eq!(host_and_port(":80", 80), None);
    }
}
