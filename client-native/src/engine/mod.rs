//! The client engine: pure logic, events in and frames and events out, time
//! as an argument. A transport driver runs it like this:
//!
//! 1. On a new connection, call [`Engine::on_connected`]; send every frame
//!    [`Engine::poll_transmit`] yields (the `Hello` comes first).
//! 2. Hand every frame received to [`Engine::on_frame`]; take what
//!    [`Engine::poll_event`] yields and deliver completions to their callers.
//! 3. [`Engine::submit`] a request at any time; it is sent when the session is
//!    ready, and re-sent with the **same id** after every reconnect until a
//!    final answer arrives (the server deduplicates by `(session, id)`).
//!    Requests leave in id order, and one leaves only while it is less than
//!    [`REQUEST_SPAN_MAX`] ahead of the oldest unanswered request that does
//!    not wait: the server keeps every answer until it is acknowledged, so
//!    the client holds back rather than overrun it. Waiting requests (a
//!    `lock()` behind another holder) are acknowledged around
//!    ([`raftcp_proto::Request::acked_except`]), so one long wait never holds back the
//!    requests after it.
//! 4. On a lost connection call [`Engine::on_disconnected`] and reconnect;
//!    [`EngineEvent::Redirect`] names a better member when one is known.
//! 5. Call [`Engine::on_heard`] on connecting and on every frame received,
//!    and [`Engine::on_tick`] at [`Engine::next_tick_ms`]: heartbeats go out
//!    while the connection is idle, and a connection that stays silent
//!    (a member cut off by a partition, or paused) ends with
//!    [`EngineEvent::Silent`].

mod in_flight;
mod watches;

use in_flight::InFlight;
pub use in_flight::Payload;
use raftcp_proto::limits::{ACKED_EXCEPT_MAX, REQUEST_SPAN_MAX};
use raftcp_proto::{
    AdminOp, Change, ClientFrame, Event, GroupName, Hello, Member, ObjectKind, Op, OpError,
    PROTOCOL_VERSION, Reply, RequestId, Resume, ResumeSecret, ServerFrame, SessionId, WatchEnded,
    WatchId,
};
use std::collections::{BTreeMap, VecDeque};

/// What the engine tells its driver.
#[derive(Clone, Debug, PartialEq)]
pub enum EngineEvent {
    /// The final answer to a submitted request.
    Completed {
        /// The id [`Engine::submit`] returned.
        id: RequestId,
        /// The server's answer, or `SESSION_EXPIRED` if the session ended.
        result: Result<Reply, OpError>,
    },
    /// The session was opened or resumed.
    SessionReady {
        /// The session, new or resumed.
        session: SessionId,
        /// How long it lives without a heartbeat.
        ttl_ms: u64,
        /// The leader's client URL, when the server knows it.
        leader_hint: Option<String>,
    },
    /// The session ended (expired or refused on resume): everything its
    /// handles held is gone. Requests in flight failed with `SESSION_EXPIRED`;
    /// a new session is opened on the same connection.
    SessionLost {
        /// The session that ended.
        session: SessionId,
    },
    /// Reconnect, preferably to this member (`None`: any other member).
    Redirect {
        /// A member's client URL.
        url: Option<String>,
    },
    /// Nothing was heard on this connection for several heartbeat
    /// intervals although heartbeats went out: drop it and reconnect.
    Silent,
    /// The connection's token expired and requests wait for a fresh one:
    /// hand it to [`Engine::set_token`]. Only with
    /// [`Engine::refresh_tokens`].
    TokenExpired,
    /// A watched object changed (or, first, its state when the watch
    /// began). Each change once, positions increasing.
    Changed(Change),
    /// The server ended a watch for good (access, limits, a bad name).
    WatchEnded(WatchEnded),
    /// The server refused the protocol, or the token with no provider to
    /// renew it; reconnecting will not help.
    Fatal {
        /// The server's explanation.
        reason: String,
        /// The token's refusal (`UNAUTHENTICATED`, `TOKEN_EXPIRED`), which
        /// calls then fail with, so a caller can tell it apart.
        token_refused: Option<OpError>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Link {
    Disconnected,
    Handshaking,
    Ready,
}

/// The client's protocol logic, without I/O or clocks (see the module docs).
#[derive(Debug)]
pub struct Engine {
    client_name: String,
    link: Link,
    session: Option<SessionId>,
    /// What resumes `session` on a new connection (from its `Welcome`).
    resume_secret: Option<ResumeSecret>,
    /// The token each `Hello` carries.
    token: Option<String>,
    /// Whether the driver can get fresh tokens: then a request refused with
    /// `TOKEN_EXPIRED` waits for one instead of failing.
    refreshes_tokens: bool,
    /// Requests refused with `TOKEN_EXPIRED`, resent with the next token.
    awaiting_token: Vec<RequestId>,
    /// `TokenExpired` was announced and no token has come since.
    token_requested: bool,
    heartbeat_ms: u64,
    members: Vec<Member>,
    next_id: u64,
    in_flight: BTreeMap<RequestId, InFlight>,
    /// Every request in flight below this id went out on the current
    /// connection; the ones from here on wait for their turn.
    send_frontier: RequestId,
    outbox: VecDeque<ClientFrame>,
    events: VecDeque<EngineEvent>,
    watches: watches::Watches,
    last_sent_ms: u64,
    last_heartbeat_ms: u64,
    last_heard_ms: u64,
}

/// Heartbeat interval used until the server's `Welcome` says otherwise.
const DEFAULT_HEARTBEAT_MS: u64 = 5_000;
/// A ready connection is given up after this many heartbeat intervals
/// without a frame (the server answers every heartbeat at once).
const SILENT_HEARTBEATS: u64 = 4;
/// How long a new connection may stay silent before its `Welcome`.
const HANDSHAKE_SILENCE_MS: u64 = 5_000;

impl Engine {
    /// An engine for a client called `client_name`, not yet connected.
    pub fn new(client_name: impl Into<String>) -> Self {
        Engine {
            client_name: client_name.into(),
            link: Link::Disconnected,
            session: None,
            resume_secret: None,
            token: None,
            refreshes_tokens: false,
            awaiting_token: Vec::new(),
            token_requested: false,
            heartbeat_ms: DEFAULT_HEARTBEAT_MS,
            members: Vec::new(),
            next_id: 1,
            in_flight: BTreeMap::new(),
            send_frontier: RequestId(1),
            outbox: VecDeque::new(),
            events: VecDeque::new(),
            watches: watches::Watches::default(),
            last_sent_ms: 0,
            last_heartbeat_ms: 0,
            last_heard_ms: 0,
        }
    }

    /// The current session, once the server has welcomed the client.
    pub fn session(&self) -> Option<SessionId> {
        self.session
    }

    /// Members the server reported in its last `Welcome`.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// Requests submitted and not yet finally answered.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// A new connection is open: greet, resuming the session if there is one.
    pub fn on_connected(&mut self) {
        self.link = Link::Handshaking;
        self.outbox.clear();
        self.outbox.push_back(ClientFrame::Hello(Hello {
            protocol_version: PROTOCOL_VERSION,
            client_name: self.client_name.clone(),
            resume: self
                .session
                .zip(self.resume_secret)
                .map(|(session, secret)| Resume { session, secret }),
            auth: self.token.clone(),
        }));
    }

    /// Requests refused with `TOKEN_EXPIRED` wait for [`Engine::set_token`]
    /// (announced by [`EngineEvent::TokenExpired`]) instead of failing.
    pub fn refresh_tokens(&mut self) {
        self.refreshes_tokens = true;
    }

    /// The token for the next `Hello`; on a live connection it is sent at
    /// once, and requests refused for an expired token go out again.
    pub fn set_token(&mut self, token: String) {
        self.token = Some(token.clone());
        self.token_requested = false;
        if self.link != Link::Ready {
            return;
        }
        self.outbox.push_back(ClientFrame::Authenticate { token });
        let (acked_below, acked_except) = self.acknowledgement();
        for id in std::mem::take(&mut self.awaiting_token) {
            if let Some(request) = self.in_flight.get(&id) {
                self.outbox
                    .push_back(request.frame(id, acked_below, acked_except.clone()));
                // Its earlier cancel found nothing to cancel on the server.
                if request.cancelled {
                    self.outbox.push_back(ClientFrame::Cancel { id });
                }
            }
        }
    }

    /// Asks the driver for a token, once until one comes.
    fn request_token(&mut self) {
        if !self.token_requested {
            self.token_requested = true;
            self.events.push_back(EngineEvent::TokenExpired);
        }
    }

    /// The connection is gone; in-flight requests wait for the next one.
    pub fn on_disconnected(&mut self) {
        self.link = Link::Disconnected;
        self.outbox.clear();
    }

    /// Queues `op`; returns its id, which every resend reuses.
    pub fn submit(&mut self, group: GroupName, op: Op) -> RequestId {
        self.submit_payload(Payload::Op { group, op })
    }

    /// Queues an admin operation; answered as a request is.
    pub fn submit_admin(&mut self, op: AdminOp) -> RequestId {
        self.submit_payload(Payload::Admin(op))
    }

    /// Queues a request of either kind.
    pub fn submit_payload(&mut self, payload: Payload) -> RequestId {
        let id = RequestId(self.next_id);
        self.next_id += 1;
        self.in_flight.insert(id, InFlight::new(payload));
        self.send_eligible();
        id
    }

    /// Starts watching object `name` of `kind`: its changes come as
    /// [`EngineEvent::Changed`] with the id returned, the first one its
    /// state now; the watch is resumed on every new session.
    pub fn watch(&mut self, group: GroupName, kind: ObjectKind, name: String) -> WatchId {
        let request = self.watches.add(group, kind, name).clone();
        let watch = request.watch;
        if self.link == Link::Ready {
            self.outbox.push_back(ClientFrame::Watch(request));
        }
        watch
    }

    /// Stops watch `watch`; no change of it is reported after this.
    pub fn unwatch(&mut self, watch: WatchId) {
        if self.watches.remove(watch) && self.link == Link::Ready {
            self.outbox.push_back(ClientFrame::Unwatch { watch });
        }
    }

    /// The caller gave up on `id` (dropped future, aborted signal). A waiting
    /// request is cancelled on the server; its final answer (`CANCELLED`, or
    /// a grant that raced the cancel) still arrives as `Completed`.
    pub fn cancel(&mut self, id: RequestId) {
        let Some(request) = self.in_flight.get_mut(&id) else {
            return;
        };
        request.cancelled = true;
        // A request not sent yet carries its cancel when it goes out.
        if self.link == Link::Ready && id < self.send_frontier {
            self.outbox.push_back(ClientFrame::Cancel { id });
        }
    }

    /// Hands the engine a frame the server sent.
    pub fn on_frame(&mut self, frame: ServerFrame) {
        match frame {
            ServerFrame::Welcome(welcome) => {
                if let Some(previous) = self.session.filter(|s| *s != welcome.session) {
                    self.lose_session(previous);
                }
                self.session = Some(welcome.session);
                self.resume_secret = Some(welcome.resume_secret);
                self.heartbeat_ms = welcome.heartbeat_ms.max(1);
                self.members = welcome.members;
                self.link = Link::Ready;
                self.events.push_back(EngineEvent::SessionReady {
                    session: welcome.session,
                    ttl_ms: welcome.ttl_ms,
                    leader_hint: welcome.leader_hint,
                });
                // Everything in flight goes out again, oldest first.
                self.awaiting_token.clear();
                self.send_frontier = RequestId(0);
                self.send_eligible();
                // Watches resume after the requests, from their last change.
                let watches = self.watches.all().cloned().map(ClientFrame::Watch);
                self.outbox.extend(watches);
            }
            ServerFrame::Refused { reason } => match self.session.take() {
                // The session we tried to resume is gone; start a new one.
                Some(previous) => {
                    self.lose_session(previous);
                    self.on_connected();
                }
                None => self.events.push_back(EngineEvent::Fatal {
                    reason,
                    token_refused: None,
                }),
            },
            ServerFrame::Response(response) => self.on_response(response.id, response.result),
            ServerFrame::Event(Event::SessionExpired { session }) => {
                if self.session == Some(session) {
                    self.session = None;
                    self.lose_session(session);
                    self.on_connected();
                }
            }
            ServerFrame::Event(Event::LeaderChanged { leader_hint }) => {
                self.events
                    .push_back(EngineEvent::Redirect { url: leader_hint });
            }
            ServerFrame::Event(Event::Changes(changes)) => {
                for change in changes {
                    if self.watches.accept(&change) {
                        self.events.push_back(EngineEvent::Changed(change));
                    }
                }
            }
            ServerFrame::Event(Event::WatchEnded(ended)) => match ended.error.is_retryable() {
                true => self.watches.retry_later(ended.watch),
                false => {
                    if self.watches.remove(ended.watch) {
                        self.events.push_back(EngineEvent::WatchEnded(ended));
                    }
                }
            },
            // The session (if any) is not in question: with a provider, the
            // next connection brings a fresh token.
            ServerFrame::TokenRefused(refused) => match self.refreshes_tokens {
                true => self.request_token(),
                false => self.events.push_back(EngineEvent::Fatal {
                    reason: refused.to_string(),
                    token_refused: Some(refused),
                }),
            },
            ServerFrame::ProtocolError { reason } => {
                self.events.push_back(EngineEvent::Fatal {
                    reason,
                    token_refused: None,
                });
            }
            ServerFrame::HeartbeatAck => {}
        }
    }

    /// Something arrived on the connection (or it just opened).
    pub fn on_heard(&mut self, now_ms: u64) {
        self.last_heard_ms = now_ms;
    }

    /// Sends a heartbeat if nothing went out, or nothing came in, for a
    /// heartbeat interval; reports a connection that stayed silent too long.
    pub fn on_tick(&mut self, now_ms: u64) {
        if self.link != Link::Disconnected && now_ms >= self.silent_at_ms() {
            self.events.push_back(EngineEvent::Silent);
            return;
        }
        if self.link == Link::Ready && now_ms >= self.heartbeat_due_ms() {
            self.outbox.push_back(ClientFrame::Heartbeat);
        }
        if self.link == Link::Ready {
            let retries = self.watches.take_retries().into_iter();
            self.outbox.extend(retries.map(ClientFrame::Watch));
        }
    }

    /// When [`Engine::on_tick`] next has work.
    pub fn next_tick_ms(&self) -> u64 {
        self.heartbeat_due_ms().min(self.silent_at_ms())
    }

    fn heartbeat_due_ms(&self) -> u64 {
        let idle = self.last_sent_ms.saturating_add(self.heartbeat_ms);
        // While requests stream out but nothing comes back, a heartbeat
        // (answered at once) tells a slow leader from a dead link.
        let unanswered = self
            .last_heard_ms
            .max(self.last_heartbeat_ms)
            .saturating_add(self.heartbeat_ms);
        idle.min(unanswered)
    }

    fn silent_at_ms(&self) -> u64 {
        let limit = match self.link {
            Link::Ready => self.heartbeat_ms.saturating_mul(SILENT_HEARTBEATS),
            _ => HANDSHAKE_SILENCE_MS,
        };
        self.last_heard_ms.saturating_add(limit)
    }

    /// The next frame to send; `now_ms` records activity for heartbeats.
    pub fn poll_transmit(&mut self, now_ms: u64) -> Option<ClientFrame> {
        let frame = self.outbox.pop_front()?;
        self.last_sent_ms = now_ms;
        if frame == ClientFrame::Heartbeat {
            self.last_heartbeat_ms = now_ms;
        }
        Some(frame)
    }

    /// The next event for the driver, if any.
    pub fn poll_event(&mut self) -> Option<EngineEvent> {
        self.events.pop_front()
    }

    fn on_response(&mut self, id: RequestId, result: Result<Reply, OpError>) {
        if !self.in_flight.contains_key(&id) {
            return; // An answer to a resend that was already answered.
        }
        if self.refreshes_tokens && result == Err(OpError::TokenExpired) {
            // Nothing was changed; it goes out again with a fresh token.
            self.awaiting_token.push(id);
            self.request_token();
            return;
        }
        if let Err(error) = &result
            && error.is_retryable()
        {
            // Stays in flight; it is resent after the reconnect.
            let url = match error {
                OpError::NotLeader { leader_hint } => leader_hint.clone(),
                _ => None,
            };
            self.events.push_back(EngineEvent::Redirect { url });
            return;
        }
        self.in_flight.remove(&id);
        self.events.push_back(EngineEvent::Completed { id, result });
        self.send_eligible();
    }

    /// Every request in flight is answered `SESSION_EXPIRED`: what it did,
    /// if anything, ended with the session.
    fn lose_session(&mut self, session: SessionId) {
        for (id, _) in std::mem::take(&mut self.in_flight) {
            let result = Err(OpError::SessionExpired { session });
            self.events.push_back(EngineEvent::Completed { id, result });
        }
        self.events.push_back(EngineEvent::SessionLost { session });
    }

    /// Sends, in id order, the requests in flight that have not gone out on
    /// this connection and are within the span (each with its cancel, if
    /// the caller gave up on it meanwhile).
    fn send_eligible(&mut self) {
        if self.link != Link::Ready {
            return;
        }
        let (acked_below, acked_except) = self.acknowledgement();
        let span_end = acked_below.0.saturating_add(REQUEST_SPAN_MAX);
        let pending: Vec<RequestId> = self
            .in_flight
            .range(self.send_frontier..RequestId(span_end))
            .map(|(id, _)| *id)
            .collect();
        for id in pending {
            let request = &self.in_flight[&id];
            self.outbox
                .push_back(request.frame(id, acked_below, acked_except.clone()));
            if request.cancelled {
                self.outbox.push_back(ClientFrame::Cancel { id });
            }
        }
        self.send_frontier = self
            .send_frontier
            .max(RequestId(span_end.min(self.next_id)));
    }

    /// What the server may forget: every answer below the first id
    /// returned, except the waiting requests listed (up to
    /// [`ACKED_EXCEPT_MAX`]), which are still unanswered.
    fn acknowledgement(&self) -> (RequestId, Vec<RequestId>) {
        let mut except = Vec::new();
        for (id, request) in &self.in_flight {
            if !request.may_wait() || except.len() == ACKED_EXCEPT_MAX {
                return (*id, except);
            }
            except.push(*id);
        }
        (RequestId(self.next_id), except)
    }
}

#[cfg(test)]
mod tests;
