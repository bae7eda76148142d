//! The byte stream under every connection on the member port: plain TCP,
//! TLS accepted from a client or peer, or TLS dialed to a peer. The bytes
//! read to route a connection (its request line) are kept and read again,
//! so the WebSocket handshake still sees the whole request.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::{client, server};

#[derive(Debug)]
pub struct Stream {
    /// Bytes already read from `inner` that are read again first.
    replay: Vec<u8>,
    replayed: usize,
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    Plain(TcpStream),
    Accepted(Box<server::TlsStream<TcpStream>>),
    Dialed(Box<client::TlsStream<TcpStream>>),
}

impl Stream {
    pub fn plain(stream: TcpStream) -> Self {
        Self::new(Inner::Plain(stream))
    }

    pub fn accepted(stream: server::TlsStream<TcpStream>) -> Self {
        Self::new(Inner::Accepted(Box::new(stream)))
    }

    pub fn dialed(stream: client::TlsStream<TcpStream>) -> Self {
        Self::new(Inner::Dialed(Box::new(stream)))
    }

    fn new(inner: Inner) -> Self {
        Stream {
            replay: Vec::new(),
            replayed: 0,
            inner,
        }
    }

    /// Reads until `done` holds of everything read so far, or `limit` bytes
    /// were read without it (`None`), or the stream ends. What was read is
    /// read again later.
    pub async fn peek_until(
        &mut self,
        limit: usize,
        done: impl Fn(&[u8]) -> bool,
    ) -> Option<&[u8]> {
        use tokio::io::AsyncReadExt;
        let mut chunk = [0u8; 1024];
        while !done(&self.replay) {
            if self.replay.len() >= limit {
                return None;
            }
            let room = (limit - self.replay.len()).min(chunk.len());
            let n = match &mut self.inner {
                Inner::Plain(s) => s.read(&mut chunk[..room]).await,
                Inner::Accepted(s) => s.read(&mut chunk[..room]).await,
                Inner::Dialed(s) => s.read(&mut chunk[..room]).await,
            }
            .ok()?;
            if n == 0 {
                return None;
            }
            self.replay.extend_from_slice(&chunk[..n]);
        }
        Some(&self.replay)
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.replayed < this.replay.len() {
            let rest = &this.replay[this.replayed..];
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            this.replayed += n;
            if this.replayed == this.replay.len() {
                this.replay = Vec::new();
                this.replayed = 0;
            }
            return Poll::Ready(Ok(()));
        }
        match &mut this.inner {
            Inner::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Inner::Accepted(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Inner::Dialed(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.inner {
            Inner::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Inner::Accepted(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Inner::Dialed(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.inner {
            Inner::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Inner::Accepted(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
            Inner::Dialed(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.inner {
            Inner::Plain(s) => s.is_write_vectored(),
            Inner::Accepted(s) => s.is_write_vectored(),
            Inner::Dialed(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.inner {
            Inner::Plain(s) => Pin::new(s).poll_flush(cx),
            Inner::Accepted(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Inner::Dialed(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.inner {
            Inner::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Inner::Accepted(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Inner::Dialed(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
