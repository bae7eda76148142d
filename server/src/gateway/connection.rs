//! One client connection: the handshake, then requests multiplexed by id.
//! Anything malformed ends this connection with a `ProtocolError` frame and a
//! WebSocket close code, and touches nothing else.
//!
//! Every resource a connection can claim is bounded: before its handshake it
//! may send one small message under a deadline; it has at most
//! [`REQUESTS_PER_CONNECTION_MAX`] requests being proposed (more wait
//! unread in the socket, so TCP pushes back on the client); its replies
//! queue in a bounded [`Outbox`]. Requests are validated here, before
//! anything is proposed, so nothing invalid enters the Raft log.

use super::Gateway;
use super::in_flight_budget::{InFlightBudget, Reserved};
use super::outbox::{Outbox, outbox};
use super::request::{self, Proposing, RequestContext, RequestTask};
use crate::clock::monotonic_ms;
use crate::limits::{
    CLIENT_HELLO_TIMEOUT, FRAME_BYTES_MAX, HANDSHAKE_BYTES_MAX, OUTBOX_BYTES_PER_CONNECTION_MAX,
    REQUESTS_PER_CONNECTION_MAX,
};
use crate::machine::{CommandKind, CommandResponse, validate_client_name};
use crate::raft::peer_frame::ForwardError;
use crate::sync::lock;
use crate::ws::Socket;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use raftcp_proto::{ClientFrame, Hello, Op, PROTOCOL_VERSION, ServerFrame, SessionId, Welcome};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// How long a closing connection's last frames may take to leave.
const WRITER_GRACE: Duration = Duration::from_secs(2);

/// Why a connection is being closed by the server.
struct Closing {
    code: CloseCode,
    reason: String,
}

impl Closing {
    fn protocol(code: CloseCode, reason: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.into(),
        }
    }
}

struct Connection {
    gateway: Arc<Gateway>,
    /// Requests being answered, polled by the connection's own task.
    requests: FuturesUnordered<RequestTask>,
    proposing: Proposing,
    outbox: Outbox,
    in_flight_budget: InFlightBudget,
    session: Option<SessionId>,
    connection_id: u64,
    last_seen_ms: Arc<AtomicU64>,
}

pub async fn serve(socket: Socket, gateway: Arc<Gateway>) {
    let (sink, mut stream) = socket.split();
    let (outbox, inbox) = outbox(gateway.outbox_bytes.clone());
    let writer = tokio::spawn(inbox.write_to(sink));
    let metrics = &gateway.cluster.metrics;
    metrics.connections_open.fetch_add(1, Ordering::Relaxed);
    let mut connection = Connection {
        gateway: gateway.clone(),
        proposing: Proposing::default(),
        outbox: outbox.clone(),
        in_flight_budget: InFlightBudget::new(gateway.in_flight_budget.clone()),
        session: None,
        connection_id: 0,
        last_seen_ms: Arc::new(AtomicU64::new(monotonic_ms())),
        requests: FuturesUnordered::new(),
    };
    // Twice the TTL: a silent client's session expires first, and it hears
    // `SessionExpired` before the connection is dropped.
    let idle_timeout = Duration::from_millis(
        gateway
            .cluster
            .settings
            .session_ttl_ms
            .max(1_000)
            .saturating_mul(2),
    );
    let mut last_frame = Instant::now();
    let closing = loop {
        let deadline = if connection.session.is_some() {
            idle_timeout
        } else {
            CLIENT_HELLO_TIMEOUT
        };
        let silent_until = tokio::time::Instant::from_std(last_frame + deadline);
        let message = tokio::select! {
            message = tokio::time::timeout_at(silent_until, stream.next()) => message,
            // Requests run inside this task (cheaper than a task each).
            Some(()) = connection.requests.next(), if !connection.requests.is_empty() => continue,
            () = outbox.overrun() => break Some(Closing::protocol(
                CloseCode::Policy,
                format!("replies are not being read: more than {OUTBOX_BYTES_PER_CONNECTION_MAX} bytes queued"),
            )),
        };
        let message = match message {
            Err(_) if connection.session.is_none() => {
                break Some(Closing::protocol(CloseCode::Policy, "no Hello in time"));
            }
            Err(_) => break Some(Closing::protocol(CloseCode::Away, "idle for a session TTL")),
            Ok(None) => break None,
            Ok(Some(Err(e))) => break read_error(e),
            Ok(Some(Ok(message))) => message,
        };
        last_frame = Instant::now();
        connection
            .last_seen_ms
            .store(monotonic_ms(), Ordering::Relaxed);
        let bytes = match message {
            Message::Binary(bytes) => bytes,
            Message::Text(_) => {
                break Some(Closing::protocol(
                    CloseCode::Unsupported,
                    "text frames are not part of the protocol; send binary postcard frames",
                ));
            }
            Message::Close(_) => break None,
            _ => continue,
        };
        if connection.session.is_none() && bytes.len() > HANDSHAKE_BYTES_MAX {
            break Some(Closing::protocol(
                CloseCode::Policy,
                format!(
                    "handshake message is {} bytes: at most {HANDSHAKE_BYTES_MAX} allowed",
                    bytes.len()
                ),
            ));
        }
        // A message may pack several frames; they are handled in order.
        let frames = match raftcp_proto::codec::decode_each::<ClientFrame>(&bytes, FRAME_BYTES_MAX)
        {
            Ok(frames) => frames,
            Err(e) => {
                break Some(Closing::protocol(
                    CloseCode::Invalid,
                    format!("malformed frame: {e}"),
                ));
            }
        };
        let mut ended = None;
        for (frame, frame_bytes) in frames {
            if let Err(closing) = connection.on_frame(frame, frame_bytes).await {
                ended = Some(closing);
                break;
            }
        }
        if let Some(closing) = ended {
            break closing;
        }
    };
    if let Some(Closing { code, reason }) = closing {
        metrics.protocol_errors.fetch_add(1, Ordering::Relaxed);
        tracing::debug!("closing client connection: {reason}");
        outbox.send_frame(&ServerFrame::ProtocolError {
            reason: reason.clone(),
        });
        let frame = CloseFrame {
            code,
            reason: truncate_reason(&reason).into(),
        };
        outbox.close(Message::Close(Some(frame)));
    }
    if let Some(session) = connection.session {
        gateway.detach(session, connection.connection_id);
    }
    drop(connection);
    drop(outbox);
    // Let the writer flush the last frames, briefly: a client that does not
    // read must not keep its queued replies in memory.
    let mut writer = writer;
    if tokio::time::timeout(WRITER_GRACE, &mut writer)
        .await
        .is_err()
    {
        writer.abort();
    }
    metrics.connections_open.fetch_sub(1, Ordering::Relaxed);
}

fn read_error(e: tokio_tungstenite::tungstenite::Error) -> Option<Closing> {
    use tokio_tungstenite::tungstenite::Error;
    match e {
        Error::Capacity(e) => Some(Closing::protocol(
            CloseCode::Size,
            format!("frame too large (limit {FRAME_BYTES_MAX} bytes): {e}"),
        )),
        Error::Protocol(e) => Some(Closing::protocol(CloseCode::Protocol, e.to_string())),
        Error::Utf8(e) => Some(Closing::protocol(CloseCode::Invalid, e)),
        _ => None,
    }
}

/// Close reasons must fit in a control frame (123 bytes).
fn truncate_reason(reason: &str) -> &str {
    let mut end = reason.len().min(120);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

impl Connection {
    /// Handles one frame, `bytes` long on the wire.
    async fn on_frame(&mut self, frame: ClientFrame, bytes: usize) -> Result<(), Option<Closing>> {
        let Some(session) = self.session else {
            return match frame {
                ClientFrame::Hello(hello) => self.handshake(hello).await,
                _ => Err(Some(Closing::protocol(
                    CloseCode::Protocol,
                    "the first frame must be Hello",
                ))),
            };
        };
        match frame {
            // After `SessionExpired` the client opens a new session on the
            // same connection.
            ClientFrame::Hello(hello) if !self.gateway.holds(session, self.connection_id) => {
                self.session = None;
                self.handshake(hello).await
            }
            ClientFrame::Hello(_) => Err(Some(Closing::protocol(
                CloseCode::Protocol,
                "Hello sent twice on one connection",
            ))),
            ClientFrame::Request(request) => {
                let reserved = self.make_room(&request.op, bytes).await;
                let task = request::task(
                    RequestContext {
                        gateway: self.gateway.clone(),
                        outbox: self.outbox.clone(),
                        proposing: self.proposing.clone(),
                        session,
                        bytes,
                        _reserved: reserved,
                    },
                    request,
                );
                self.requests.push(task);
                Ok(())
            }
            ClientFrame::Cancel { id } => {
                if let Some(cancel) = lock(&self.proposing).get_mut(&id) {
                    *cancel = true; // Proposed when the request's proposal returns.
                    return Ok(());
                }
                if !self.gateway.is_waiting(session, id) {
                    // Nothing of this session waits under that id (it was
                    // answered, or never was a wait): nothing to cancel,
                    // and nothing is proposed.
                    return Ok(());
                }
                // Proposed before reading the next frame: proposals run in
                // concurrent batches, so a request sent after the cancel
                // (a `tryAcquire` after an aborted `acquire`) could
                // otherwise be applied first and still find the waiter
                // queued. Cancels are rare; the pause is one commit.
                let cancel = CommandKind::Cancel {
                    session,
                    request: id,
                };
                let _ = self.gateway.propose(cancel).await;
                Ok(())
            }
            ClientFrame::Heartbeat => {
                self.outbox.send_frame(&ServerFrame::HeartbeatAck);
                Ok(())
            }
            ClientFrame::CloseSession => {
                let kind = CommandKind::CloseSession { session };
                let _ = self.gateway.propose(kind).await;
                Err(None)
            }
        }
    }

    async fn handshake(&mut self, hello: Hello) -> Result<(), Option<Closing>> {
        if hello.protocol_version != PROTOCOL_VERSION {
            let reason = format!(
                "protocol version {} is not supported; this server speaks {PROTOCOL_VERSION}",
                hello.protocol_version
            );
            return self.refuse(reason);
        }
        if let Err(error) = validate_client_name(&hello.client_name) {
            return self.refuse(error.to_string());
        }
        let cluster = &self.gateway.cluster;
        let session = match hello.resume_session {
            Some(session) => {
                let kind = CommandKind::Heartbeat {
                    sessions: vec![session],
                };
                match self.gateway.propose(kind).await {
                    Ok(CommandResponse::Heartbeat { unknown }) if unknown.is_empty() => session,
                    Ok(_) => {
                        return self.refuse(format!("session {} is expired or closed", session.0));
                    }
                    Err(e) => return self.try_elsewhere(e),
                }
            }
            None => {
                let kind = CommandKind::OpenSession {
                    client_name: hello.client_name,
                    ttl_ms: cluster.settings.session_ttl_ms,
                };
                match self.gateway.propose(kind).await {
                    Ok(CommandResponse::SessionOpened { session }) => session,
                    Ok(CommandResponse::Refused(e)) => return self.refuse(e.to_string()),
                    Ok(other) => return self.refuse(format!("unexpected answer {other:?}")),
                    Err(e) => return self.try_elsewhere(e),
                }
            }
        };
        self.session = Some(session);
        self.connection_id =
            self.gateway
                .attach(session, self.outbox.clone(), self.last_seen_ms.clone());
        let welcome = Welcome {
            session,
            ttl_ms: cluster.settings.session_ttl_ms,
            heartbeat_ms: cluster.settings.heartbeat_ms,
            leader_hint: cluster.leader().and_then(|id| cluster.client_url(id)),
            members: cluster.member_list(),
        };
        self.outbox.send_frame(&ServerFrame::Welcome(welcome));
        Ok(())
    }

    /// This member cannot reach a leader now: ends the connection with
    /// "try again later". Not `Refused`, which tells a client its session is
    /// gone, and not a protocol error: the client keeps its session and
    /// reconnects, to another member first.
    fn try_elsewhere(&self, error: ForwardError) -> Result<(), Option<Closing>> {
        let reason = format!("no leader reachable: {error}");
        tracing::debug!("closing client connection: {reason}");
        let frame = CloseFrame {
            code: CloseCode::Again,
            reason: truncate_reason(&reason).into(),
        };
        self.outbox.close(Message::Close(Some(frame)));
        Err(None)
    }

    /// Answers `Refused` and ends the connection (the client may retry).
    fn refuse(&self, reason: String) -> Result<(), Option<Closing>> {
        self.outbox.send_frame(&ServerFrame::Refused { reason });
        self.outbox.close(Message::Close(None));
        Err(None)
    }

    /// Backpressure: waits, answering requests meanwhile, until one more
    /// fits the request cap and its request and reply fit the in-flight
    /// budgets. The
    /// connection reads no further frames until then.
    async fn make_room(&mut self, op: &Op, bytes: usize) -> Reserved {
        loop {
            if self.requests.len() >= REQUESTS_PER_CONNECTION_MAX {
                self.requests.next().await;
                continue;
            }
            tokio::select! {
                biased;
                reserved = self.in_flight_budget.reserve(op, bytes) => return reserved,
                Some(()) = self.requests.next(), if !self.requests.is_empty() => {}
            }
        }
    }
}
