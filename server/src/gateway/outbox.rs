//! A client connection's queue of messages to send, bounded in bytes. A
//! client that stops reading its replies (or packs a million heartbeats into
//! one message and never reads the acks) fills it; the connection is then
//! closed with 1008 instead of growing without limit. The session stays:
//! the client may resume it on a new connection until its TTL passes.
//!
//! The queues of all connections share a member-wide bound as well: past
//! it, a connection holding more than its fair share is closed, so many
//! slow readers together cannot exhaust the member either.

use crate::limits::{
    OUTBOX_BYTES_PER_CONNECTION_MAX, OUTBOX_BYTES_PER_MEMBER_MAX, OUTBOX_FAIR_SHARE_BYTES,
};
use raftcp_proto::ServerFrame;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use tokio::sync::{Notify, mpsc};
use tokio_tungstenite::tungstenite::Message;

/// What a queued message costs beyond its payload, so that floods of tiny
/// messages are bounded by their real memory too.
const MESSAGE_OVERHEAD_BYTES: usize = 64;

/// The sending half, shared by the connection and the gateway (completions).
#[derive(Clone, Debug)]
pub struct Outbox {
    sender: mpsc::UnboundedSender<Message>,
    shared: Arc<Shared>,
}

/// The receiving half, drained into the socket by [`OutboxReceiver::write_to`].
#[derive(Debug)]
pub struct OutboxReceiver {
    receiver: mpsc::UnboundedReceiver<Message>,
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    queued_bytes: AtomicUsize,
    /// Bytes queued on every connection of the member.
    member_bytes: Arc<AtomicUsize>,
    overrun: AtomicBool,
    overrun_notify: Notify,
}

/// A new connection's outbox; `member_bytes` counts the bytes queued on all
/// connections of the member.
pub fn outbox(member_bytes: Arc<AtomicUsize>) -> (Outbox, OutboxReceiver) {
    let (sender, receiver) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        member_bytes,
        ..Shared::default()
    });
    let receiver = OutboxReceiver {
        receiver,
        shared: shared.clone(),
    };
    (Outbox { sender, shared }, receiver)
}

fn cost(message: &Message) -> usize {
    message.len() + MESSAGE_OVERHEAD_BYTES
}

impl Outbox {
    /// Queues `frame`. A full outbox drops it and marks the connection
    /// overrun (it is closed); a closed connection drops it silently.
    pub fn send_frame(&self, frame: &ServerFrame) {
        match raftcp_proto::encode(frame) {
            Ok(bytes) => self.send(Message::binary(bytes)),
            Err(e) => tracing::error!("cannot encode a {} frame: {e}", frame_name(frame)),
        }
    }

    fn send(&self, message: Message) {
        let cost = cost(&message);
        let queued = self.shared.add(cost);
        let member = self.shared.member_bytes.load(Ordering::Acquire);
        let over_member = member > OUTBOX_BYTES_PER_MEMBER_MAX && queued > OUTBOX_FAIR_SHARE_BYTES;
        if queued > OUTBOX_BYTES_PER_CONNECTION_MAX || over_member {
            self.shared.remove(cost);
            if !self.shared.overrun.swap(true, Ordering::AcqRel) {
                self.shared.overrun_notify.notify_one();
            }
            return;
        }
        if self.sender.send(message).is_err() {
            self.shared.remove(cost);
        }
    }

    /// Bytes queued and not yet written.
    pub fn queued_bytes(&self) -> usize {
        self.shared.queued_bytes.load(Ordering::Acquire)
    }

    /// Queues a close frame, past the bound: it is the last message.
    pub fn close(&self, message: Message) {
        let cost = cost(&message);
        self.shared.add(cost);
        if self.sender.send(message).is_err() {
            self.shared.remove(cost);
        }
    }

    /// Resolves once a message did not fit.
    pub async fn overrun(&self) {
        loop {
            let notified = self.shared.overrun_notify.notified();
            if self.shared.overrun.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }
}

impl OutboxReceiver {
    /// Drains the outbox into `sink` until either side goes away. Messages
    /// already queued go out with one flush, so a burst costs one write.
    pub async fn write_to<S>(mut self, mut sink: S)
    where
        S: futures_util::Sink<Message> + Unpin,
    {
        use futures_util::SinkExt;
        'outer: while let Some(message) = self.receiver.recv().await {
            if self.feed(&mut sink, message).await.is_err() {
                break;
            }
            while let Ok(message) = self.receiver.try_recv() {
                if self.feed(&mut sink, message).await.is_err() {
                    break 'outer;
                }
            }
            if sink.flush().await.is_err() {
                break;
            }
        }
    }

    async fn feed<S>(&self, sink: &mut S, message: Message) -> Result<(), S::Error>
    where
        S: futures_util::Sink<Message> + Unpin,
    {
        use futures_util::SinkExt;
        // Counted out before the write: a writer dropped mid-write (its
        // client stopped reading) must not leave its bytes counted.
        self.shared.remove(cost(&message));
        sink.feed(message).await
    }
}

impl Drop for OutboxReceiver {
    /// Messages never written leave the member's count with the connection.
    fn drop(&mut self) {
        self.receiver.close();
        while let Ok(message) = self.receiver.try_recv() {
            self.shared.remove(cost(&message));
        }
    }
}

impl Shared {
    /// Counts `cost` more bytes queued; returns this connection's total.
    fn add(&self, cost: usize) -> usize {
        self.member_bytes.fetch_add(cost, Ordering::AcqRel);
        self.queued_bytes.fetch_add(cost, Ordering::AcqRel) + cost
    }

    fn remove(&self, cost: usize) {
        self.member_bytes.fetch_sub(cost, Ordering::AcqRel);
        self.queued_bytes.fetch_sub(cost, Ordering::AcqRel);
    }
}

/// The frame's kind, for logs that must not carry client payloads.
fn frame_name(frame: &ServerFrame) -> &'static str {
    match frame {
        ServerFrame::Welcome(_) => "Welcome",
        ServerFrame::Refused { .. } => "Refused",
        ServerFrame::Response(_) => "Response",
        ServerFrame::Event(_) => "Event",
        ServerFrame::ProtocolError { .. } => "ProtocolError",
        ServerFrame::HeartbeatAck => "HeartbeatAck",
        ServerFrame::TokenRefused(_) => "TokenRefused",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_outbox_reports_overrun_and_drops_the_frame() {
        let member = Arc::new(AtomicUsize::new(0));
        let (outbox, mut receiver) = outbox(member.clone());
        let big = ServerFrame::Refused {
            reason: "x".repeat(900 * 1024),
        };
        let fits = OUTBOX_BYTES_PER_CONNECTION_MAX / (900 * 1024 + MESSAGE_OVERHEAD_BYTES + 8);
        for _ in 0..fits {
            outbox.send_frame(&big);
        }
        assert!(!outbox.shared.overrun.load(Ordering::Acquire));
        outbox.send_frame(&big);
        tokio::time::timeout(std::time::Duration::from_secs(5), outbox.overrun())
            .await
            .expect("overrun reported");
        let mut queued = 0;
        while receiver.receiver.try_recv().is_ok() {
            queued += 1;
        }
        assert_eq!(queued, fits);
    }

    #[tokio::test]
    async fn past_the_member_bound_a_connection_over_its_fair_share_is_overrun() {
        let member = Arc::new(AtomicUsize::new(OUTBOX_BYTES_PER_MEMBER_MAX + 1));
        let (outbox, _receiver) = outbox(member.clone());
        let small = ServerFrame::HeartbeatAck;
        // Below its fair share a connection still gets its frames queued.
        for _ in 0..(OUTBOX_FAIR_SHARE_BYTES / 128) {
            outbox.send_frame(&small);
        }
        assert!(!outbox.shared.overrun.load(Ordering::Acquire));
        let big = ServerFrame::Refused {
            reason: "x".repeat(OUTBOX_FAIR_SHARE_BYTES / 2),
        };
        outbox.send_frame(&big);
        assert!(outbox.shared.overrun.load(Ordering::Acquire));
    }
}
