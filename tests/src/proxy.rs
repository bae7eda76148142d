//! A fault-injecting TCP proxy. Every peer link and client link of a fault
//! test runs through one, so a test can cut a link in either direction,
//! like a firewall dropping packets, while both processes keep running.
//!
//! Bytes in a blocked direction are read and thrown away, so the sender sees
//! nothing wrong and the receiver hears nothing. When the link heals, every
//! connection that lost bytes is closed (a stream with a hole in it would be
//! garbage); the ends notice and dial again, as after a real partition.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// One proxied link: a listener that forwards to `upstream`.
#[derive(Debug)]
pub struct FaultyLink {
    pub addr: SocketAddr,
    state: Arc<LinkState>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Debug)]
struct LinkState {
    upstream: SocketAddr,
    /// Bytes from the dialer towards `upstream` are dropped.
    block_forward: AtomicBool,
    /// Bytes from `upstream` back to the dialer are dropped.
    block_backward: AtomicBool,
    /// Bumped on every heal; connections that lost bytes then close.
    heals: watch::Sender<u64>,
}

impl FaultyLink {
    /// Listens on a fresh port of 127.0.0.2 (members listen on 127.0.0.1,
    /// so a proxy can never take a port a member is about to bind); needs a
    /// Tokio runtime.
    pub async fn start(upstream: SocketAddr) -> std::io::Result<FaultyLink> {
        let listener = TcpListener::bind("127.0.0.2:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(LinkState {
            upstream,
            block_forward: AtomicBool::new(false),
            block_backward: AtomicBool::new(false),
            heals: watch::channel(0).0,
        });
        let task = tokio::spawn(accept_loop(listener, state.clone()));
        Ok(FaultyLink { addr, state, task })
    }

    /// Drops bytes in the chosen directions from now on.
    pub fn block(&self, forward: bool, backward: bool) {
        if forward {
            self.state.block_forward.store(true, Ordering::SeqCst);
        }
        if backward {
            self.state.block_backward.store(true, Ordering::SeqCst);
        }
    }

    /// Lets bytes through again and closes connections that lost some.
    pub fn heal(&self) {
        self.state.block_forward.store(false, Ordering::SeqCst);
        self.state.block_backward.store(false, Ordering::SeqCst);
        self.state.heals.send_modify(|n| *n += 1);
    }

    pub fn is_blocked(&self) -> bool {
        self.state.block_forward.load(Ordering::SeqCst)
            || self.state.block_backward.load(Ordering::SeqCst)
    }
}

impl Drop for FaultyLink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<LinkState>) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    connections.spawn(serve(stream, state.clone()));
                }
            }
            // Reap finished connections; aborting the loop aborts the rest.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve(dialer: TcpStream, state: Arc<LinkState>) {
    let _ = dialer.set_nodelay(true);
    let mut heals = state.heals.subscribe();
    let lossy = Arc::new(AtomicBool::new(false));
    let cut_both_ways =
        state.block_forward.load(Ordering::SeqCst) && state.block_backward.load(Ordering::SeqCst);
    let upstream = if cut_both_ways {
        // Like a SYN into a firewall: the dialer waits, nothing is reached.
        lossy.store(true, Ordering::SeqCst);
        None
    } else {
        match TcpStream::connect(state.upstream).await {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                Some(stream)
            }
            Err(_) => return, // The member is down: the dialer sees a close.
        }
    };
    let healed_after_loss = async {
        loop {
            if heals.changed().await.is_err() {
                return;
            }
            if lossy.load(Ordering::SeqCst) {
                return;
            }
        }
    };
    let (dialer_read, dialer_write) = dialer.into_split();
    match upstream {
        None => {
            tokio::select! {
                _ = drain(dialer_read) => {}
                _ = healed_after_loss => {}
            }
        }
        Some(upstream) => {
            let (up_read, up_write) = upstream.into_split();
            let forward = pump(dialer_read, up_write, &state.block_forward, &lossy);
            let backward = pump(up_read, dialer_write, &state.block_backward, &lossy);
            tokio::select! {
                _ = forward => {}
                _ = backward => {}
                _ = healed_after_loss => {}
            }
        }
    }
}

/// Copies `from` to `to`, dropping what arrives while `blocked`.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    blocked: &AtomicBool,
    lossy: &AtomicBool,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if blocked.load(Ordering::SeqCst) {
            lossy.store(true, Ordering::SeqCst);
            continue;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

async fn drain(mut from: tokio::net::tcp::OwnedReadHalf) {
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = stream.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        addr
    }

    async fn read_some(stream: &mut TcpStream) -> Option<Vec<u8>> {
        let mut buf = [0u8; 16];
        let read =
            tokio::time::timeout(std::time::Duration::from_millis(300), stream.read(&mut buf))
                .await;
        match read {
            Ok(Ok(n)) => Some(buf[..n].to_vec()),
            _ => None,
        }
    }

    #[tokio::test]
    async fn forwards_drops_while_blocked_and_closes_lossy_connections_on_heal() {
        let link = FaultyLink::start(echo_server().await).await.unwrap();
        let mut stream = TcpStream::connect(link.addr).await.unwrap();
        stream.write_all(b"ping").await.unwrap();
        assert_eq!(read_some(&mut stream).await.unwrap(), b"ping");

        // One way: the echo's answer is dropped.
        link.block(false, true);
        stream.write_all(b"lost").await.unwrap();
        assert_eq!(read_some(&mut stream).await, None);

        // Healing closes the connection that lost bytes (read returns 0).
        link.heal();
        assert_eq!(read_some(&mut stream).await.unwrap(), b"");

        // A new connection works again.
        let mut fresh = TcpStream::connect(link.addr).await.unwrap();
        fresh.write_all(b"back").await.unwrap();
        assert_eq!(read_some(&mut fresh).await.unwrap(), b"back");
    }

    #[tokio::test]
    async fn a_connection_made_during_a_full_cut_reaches_nothing() {
        let link = FaultyLink::start(echo_server().await).await.unwrap();
        link.block(true, true);
        let mut stream = TcpStream::connect(link.addr).await.unwrap();
        stream.write_all(b"hello").await.unwrap();
        assert_eq!(read_some(&mut stream).await, None);
        link.heal();
        assert_eq!(read_some(&mut stream).await.unwrap(), b"");
    }
}
