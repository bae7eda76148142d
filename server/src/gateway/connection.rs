//! One client connection, driven: reads the socket, hands each message and
//! frame to the connection's [`Rules`] (the protocol rules, without I/O) and
//! carries out what they say: handshakes and cancels are proposed before
//! the next frame is read, requests run as tasks polled by this one
//! ([`super::request`]). Anything malformed ends this connection with a
//! `ProtocolError` frame and a WebSocket close code, and touches nothing
//! else.
//!
//! Every resource a connection can claim is bounded: before its handshake it
//! may send one small message under a deadline; it has at most
//! [`REQUESTS_PER_CONNECTION_MAX`] requests being answered and a bounded
//! number of bytes of them and their replies on the way (more wait unread
//! in the socket, so TCP pushes back on the client); its replies queue in a
//! bounded [`Outbox`].

use super::Gateway;
use super::access::Access;
use super::in_flight_budget::{InFlightBudget, Reserved};
use super::lease;
use super::outbox::{Outbox, outbox};
use super::request::{self, Proposing, RequestContext, RequestTask};
use super::rules::{Action, CancelTarget, Closing, Incoming, Rules, Stop};
use crate::clock::monotonic_ms;
use crate::driver::ForwardError;
use crate::limits::{
    CLIENT_HELLO_TIMEOUT, FRAME_BYTES_MAX, HANDSHAKE_BYTES_MAX, OUTBOX_BYTES_PER_CONNECTION_MAX,
    REQUESTS_PER_CONNECTION_MAX,
};
use crate::machine::{
    CommandKind, CommandResponse, LEASE_CLIENT_NAME, SessionOwner, validate_client_name,
};
use crate::sync::lock;
use crate::watch::connection::ConnectionWatches;
use crate::ws::Socket;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use raftcp_proto::{
    ClientFrame, Hello, Op, OpError, PROTOCOL_VERSION, Response, Resume, ResumeSecret, ServerFrame,
    WatchRequest, Welcome,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// How long a closing connection's last frames may take to leave.
const WRITER_GRACE: Duration = Duration::from_secs(2);

struct Connection {
    gateway: Arc<Gateway>,
    rules: Rules,
    /// Requests being answered, polled by the connection's own task.
    requests: FuturesUnordered<RequestTask>,
    proposing: Proposing,
    outbox: Outbox,
    in_flight_budget: InFlightBudget,
    connection_id: u64,
    last_seen_ms: Arc<AtomicU64>,
    /// What the connection's token allows (set by its handshake).
    access: Access,
    /// The client connects from this machine (anonymous clients may then
    /// run admin operations).
    from_loopback: bool,
    watches: ConnectionWatches,
}

/// Serves one client connection, upgraded to take messages of at most
/// `HANDSHAKE_BYTES_MAX` (see `http`): its first message, the `Hello`, is
/// read at that size, so a connection that never says Hello holds no more
/// than that; then the link takes full-size frames.
pub async fn serve(mut socket: Socket, gateway: Arc<Gateway>, from_loopback: bool) {
    let mut first = Some(first_message(&mut socket).await);
    // A client sends nothing after its Hello until the Welcome, so nothing
    // is buffered past it: the link restarts on the same connection.
    let config = Some(crate::ws::config(FRAME_BYTES_MAX));
    let socket = Socket::from_raw_socket(socket.into_inner(), Role::Server, config).await;
    let (sink, mut stream) = socket.split();
    let (outbox, inbox) = outbox(gateway.outbox_bytes.clone());
    let writer = tokio::spawn(inbox.write_to(sink));
    let metrics = &gateway.cluster.metrics();
    metrics.connections_open.fetch_add(1, Ordering::Relaxed);
    let mut connection = Connection {
        gateway: gateway.clone(),
        rules: Rules::default(),
        proposing: Proposing::default(),
        outbox: outbox.clone(),
        in_flight_budget: InFlightBudget::new(gateway.in_flight_budget.clone()),
        connection_id: 0,
        last_seen_ms: Arc::new(AtomicU64::new(monotonic_ms())),
        requests: FuturesUnordered::new(),
        access: Access::Anonymous,
        from_loopback,
        watches: ConnectionWatches::new(gateway.cluster.clone(), outbox.clone(), Access::Anonymous),
    };
    let session_ttl_ms = gateway.cluster.settings().session_ttl_ms;
    let mut last_frame = Instant::now();
    // Made once: registering it anew on every pass costs a lock.
    let watched = outbox.clone();
    let mut overrun = Box::pin(async move { watched.overrun().await });
    let closing = 'reading: loop {
        let silence_limit = connection.rules.silence_limit(session_ttl_ms);
        let silent_until = tokio::time::Instant::from_std(last_frame + silence_limit);
        let read = if let Some(first) = first.take() {
            if let Ok(Some(Err(WsError::Capacity(_)))) = first {
                let reason = format!("handshake message over {HANDSHAKE_BYTES_MAX} bytes");
                break Some(Closing::new(CloseCode::Policy, reason));
            }
            first
        } else {
            tokio::select! {
                read = tokio::time::timeout_at(silent_until, stream.next()) => read,
                // Requests run inside this task (cheaper than a task each).
                Some(()) = connection.requests.next(), if !connection.requests.is_empty() => continue,
                () = &mut overrun => break Some(Closing::new(
                    CloseCode::Policy,
                    format!("replies are not being read: more than {OUTBOX_BYTES_PER_CONNECTION_MAX} bytes queued"),
                )),
            }
        };
        let message = match read {
            Err(_) => None,
            Ok(None) => Some(Message::Close(None)),
            Ok(Some(Err(e))) => break read_error(e),
            Ok(Some(Ok(message))) => Some(message),
        };
        // Pings keep a session's connection alive, never a handshake's: a
        // client that only pings must still say Hello in time.
        let ping = matches!(message, Some(Message::Ping(_) | Message::Pong(_)));
        if message.is_some() && !(ping && connection.rules.session().is_none()) {
            last_frame = Instant::now();
            let now_ms = monotonic_ms();
            connection.last_seen_ms.store(now_ms, Ordering::Relaxed);
        }
        let incoming = match &message {
            None => Incoming::Silent,
            Some(Message::Binary(bytes)) => Incoming::Binary(bytes),
            Some(Message::Text(_)) => Incoming::Text,
            Some(Message::Close(_)) => Incoming::Closed,
            Some(_) => continue, // Ping and pong: tungstenite answers pings.
        };
        let frames = match connection.rules.on_incoming(incoming) {
            Ok(frames) => frames,
            Err(Stop::Close(closing)) => break Some(closing),
            Err(Stop::End) => break None,
        };
        for (frame, frame_bytes) in frames {
            if let Err(closing) = connection.on_frame(frame, frame_bytes).await {
                break 'reading closing;
            }
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
    if let Some(session) = connection.rules.session() {
        gateway.driver.detach(session, connection.connection_id);
    }
    drop(connection);
    drop(overrun);
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

/// The first message that is not a ping or pong, if one arrives within
/// `CLIENT_HELLO_TIMEOUT` (pings must not let a connection reach the
/// full frame size before its Hello).
async fn first_message(
    socket: &mut Socket,
) -> Result<Option<Result<Message, WsError>>, tokio::time::error::Elapsed> {
    let deadline = tokio::time::Instant::now() + CLIENT_HELLO_TIMEOUT;
    loop {
        let read = tokio::time::timeout_at(deadline, socket.next()).await;
        if !matches!(read, Ok(Some(Ok(Message::Ping(_) | Message::Pong(_))))) {
            return read;
        }
    }
}

fn read_error(e: tokio_tungstenite::tungstenite::Error) -> Option<Closing> {
    use tokio_tungstenite::tungstenite::Error;
    match e {
        Error::Capacity(e) => Some(Closing::new(
            CloseCode::Size,
            format!("frame too large (limit {FRAME_BYTES_MAX} bytes): {e}"),
        )),
        Error::Protocol(e) => Some(Closing::new(CloseCode::Protocol, e.to_string())),
        Error::Utf8(e) => Some(Closing::new(CloseCode::Invalid, e)),
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
    /// Carries out what the rules say of one frame, `bytes` long; an error
    /// ends the connection (`None`: quietly).
    async fn on_frame(&mut self, frame: ClientFrame, bytes: usize) -> Result<(), Option<Closing>> {
        let (gateway, connection_id) = (&self.gateway, self.connection_id);
        let session = self.rules.session();
        let holds_session = || session.is_some_and(|s| gateway.driver.holds(s, connection_id));
        let proposing = &self.proposing;
        let cancel_target = |id| match session {
            _ if lock(proposing).contains_key(&id) => CancelTarget::Proposing,
            Some(session) if gateway.driver.is_waiting(session, id) => CancelTarget::Waiting,
            _ => CancelTarget::Nowhere,
        };
        let Some(action) =
            self.rules
                .on_frame(frame, bytes, Instant::now(), holds_session, cancel_target)
        else {
            return Ok(());
        };
        match action {
            Action::Handshake(hello) => self.handshake(hello).await,
            Action::Request {
                session,
                mut request,
                bytes,
            } => {
                request.op = lease::seal(request.op, self.access.subject().as_deref());
                if let Err(refused) = self.access.check(&request.op, &request.group) {
                    // Checked before anything is proposed: nothing changed.
                    let response = Response {
                        id: request.id,
                        result: Err(refused),
                    };
                    self.outbox.send_frame(&ServerFrame::Response(response));
                    return Ok(());
                }
                let reserved = self.make_room(&request.op, bytes).await;
                let context = RequestContext {
                    gateway: self.gateway.clone(),
                    outbox: self.outbox.clone(),
                    proposing: self.proposing.clone(),
                    session,
                    bytes,
                    _reserved: reserved,
                };
                self.requests.push(request::task(context, request));
                Ok(())
            }
            Action::MarkCancelled(id) => {
                // Proposed when the request's proposal returns.
                if let Some(cancel) = lock(&self.proposing).get_mut(&id) {
                    *cancel = true;
                }
                Ok(())
            }
            Action::ProposeCancel { session, id } => {
                // Before the next frame is read (rule 4): proposals run in
                // concurrent batches, and cancels are rare; the pause is
                // one commit.
                let cancel = CommandKind::Cancel {
                    session,
                    request: id,
                };
                let _ = self.gateway.driver.propose(cancel).await;
                Ok(())
            }
            Action::Send(frame) => {
                self.outbox.send_frame(&frame);
                Ok(())
            }
            Action::CloseSession(session) => {
                let kind = CommandKind::CloseSession { session };
                let _ = self.gateway.driver.propose(kind).await;
                Err(None)
            }
            Action::Authenticate(token) => self.reauthenticate(&token),
            Action::Watch(request) => {
                if let Err(refused) = self.check_watch(&request) {
                    self.watches.refuse(request.watch, refused);
                    return Ok(());
                }
                while self.requests.len() >= REQUESTS_PER_CONNECTION_MAX {
                    self.requests.next().await;
                }
                if let Some(registering) = self.watches.start(request) {
                    self.requests.push(Box::pin(registering));
                }
                Ok(())
            }
            Action::Unwatch(watch) => {
                self.watches.stop(watch);
                Ok(())
            }
            Action::Admin { id, op } => {
                let settings = &self.gateway.cluster.settings();
                let local = self.from_loopback && settings.anonymous_admin;
                let allowed = self.access.check_admin(local);
                while self.requests.len() >= REQUESTS_PER_CONNECTION_MAX {
                    self.requests.next().await;
                }
                let (gateway, outbox) = (self.gateway.clone(), self.outbox.clone());
                self.requests
                    .push(super::admin::task(gateway, outbox, id, op, allowed));
                Ok(())
            }
            Action::Close(closing) => Err(Some(closing)),
        }
    }

    /// A watch is checked as the read of its object would be.
    fn check_watch(&self, request: &WatchRequest) -> Result<(), OpError> {
        let read = crate::watch::read_op(request.kind, &request.name);
        request::validate_target(&request.group, &read)?;
        self.access.check(&read, &request.group)
    }

    /// A fresh token on a live session: when it verifies and names the
    /// session's subject, requests after it are checked against it.
    fn reauthenticate(&mut self, token: &str) -> Result<(), Option<Closing>> {
        let authenticator = self.gateway.cluster.authenticator().map(|a| &**a);
        let access = match Access::from_token(authenticator, Some(token)) {
            Ok(access) => access,
            Err(refused) => {
                // Not fatal: the old token stays until it expires, and the
                // client, answered TOKEN_EXPIRED then, asks for another
                // (this member may not know a just-rotated key yet).
                tracing::debug!("kept the connection's token; the new one: {refused}");
                return Ok(());
            }
        };
        if access.subject() != self.access.subject() {
            let reason = "the new token names another subject than the session's";
            return Err(Some(Closing::new(CloseCode::Policy, reason)));
        }
        self.watches.set_access(access.clone());
        self.access = access;
        Ok(())
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
        if hello.client_name == LEASE_CLIENT_NAME {
            // The name marks the sessions leases are (in listings, too).
            return self.refuse(format!("the client name {LEASE_CLIENT_NAME:?} is reserved"));
        }
        let cluster = &self.gateway.cluster;
        let access =
            Access::from_token(cluster.authenticator().map(|a| &**a), hello.auth.as_deref());
        let access = match access {
            Ok(access) => access,
            Err(refused) => {
                // Not `Refused`: the session, if one is resumed, lives on.
                self.outbox.send_frame(&ServerFrame::TokenRefused(refused));
                self.outbox.close(Message::Close(None));
                return Err(None);
            }
        };
        let subject = access.subject();
        let (session, resume_secret) = match hello.resume {
            Some(Resume { session, secret }) => {
                let kind = CommandKind::ResumeSession {
                    session,
                    owner: session_owner(&secret, subject),
                };
                match self.gateway.driver.propose(kind).await {
                    Ok(CommandResponse::Done) => (session, secret),
                    Ok(_) => {
                        // Also when the secret is wrong: nobody learns
                        // whether a session they do not own exists.
                        return self.refuse(format!("session {} is expired or closed", session.0));
                    }
                    Err(e) => return self.try_elsewhere(e),
                }
            }
            None => {
                let secret = ResumeSecret(crate::random::bytes());
                let kind = CommandKind::OpenOwnedSession {
                    client_name: hello.client_name,
                    ttl_ms: cluster.settings().session_ttl_ms,
                    owner: session_owner(&secret, subject),
                };
                match self.gateway.driver.propose(kind).await {
                    Ok(CommandResponse::SessionOpened { session }) => (session, secret),
                    Ok(CommandResponse::Refused(e)) => return self.refuse(e.to_string()),
                    Ok(other) => return self.refuse(format!("unexpected answer {other:?}")),
                    Err(e) => return self.try_elsewhere(e),
                }
            }
        };
        self.rules.on_session(session);
        // A new session: its client sends its watches again.
        let (watch_cluster, outbox) = (self.gateway.cluster.clone(), self.outbox.clone());
        self.watches = ConnectionWatches::new(watch_cluster, outbox, access.clone());
        self.access = access;
        self.connection_id =
            self.gateway
                .driver
                .attach(session, self.outbox.clone(), self.last_seen_ms.clone());
        let welcome = Welcome {
            session,
            resume_secret,
            ttl_ms: cluster.settings().session_ttl_ms,
            heartbeat_ms: cluster.settings().heartbeat_ms,
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
        if self.requests.len() < REQUESTS_PER_CONNECTION_MAX
            && let Some(reserved) = self.in_flight_budget.try_reserve(op, bytes)
        {
            return reserved; // The usual case: room at once.
        }
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

/// Who may resume a session: the hash of its secret (replicas never hold
/// the secret itself) and the token subject that opened it.
fn session_owner(secret: &ResumeSecret, subject: Option<String>) -> SessionOwner {
    let digest = ring::digest::digest(&ring::digest::SHA256, &secret.0);
    let mut secret_hash = [0u8; 32];
    secret_hash.copy_from_slice(digest.as_ref());
    SessionOwner {
        secret_hash,
        subject,
    }
}
