//! The protocol rules of one client connection, without I/O: messages in,
//! actions out, as the client engine is written. [`super::connection`] is
//! the thin loop that reads the socket, hands each message here and carries
//! out what comes back.
//!
//! The rules:
//! 1. Before its handshake a connection sends one `Hello`, in a message of
//!    at most `HANDSHAKE_BYTES_MAX` bytes, within `CLIENT_HELLO_TIMEOUT`;
//!    anything else closes it.
//! 2. Text frames, malformed bytes and over-packed messages close it; a
//!    message may pack several frames, handled in order.
//! 3. A second `Hello` is allowed only once the connection no longer holds
//!    its session (it expired, or another connection resumed it).
//! 4. A cancel goes to a request still being proposed (it is proposed when
//!    that proposal returns), else to a request waiting in the machine
//!    (proposed before the next frame is read, so a request sent after the
//!    cancel never finds the waiter still queued), else nowhere: nothing
//!    waits under that id and nothing is proposed.
//! 5. A connection silent for twice the session TTL is closed, after its
//!    session expired (so the client heard `SessionExpired`).
//! 6. A connection presents a new token (`Authenticate`, or a `Hello`
//!    after its first) at most `REAUTHENTICATIONS_PER_WINDOW` times per
//!    `REAUTHENTICATION_WINDOW`:
//!    checking a signature costs the member real work, and a client
//!    refreshes its token once per lifetime, or once a second while the
//!    member answers `TOKEN_EXPIRED`. More closes the connection.

use crate::limits::{
    CLIENT_HELLO_TIMEOUT, FRAME_BYTES_MAX, HANDSHAKE_BYTES_MAX, REAUTHENTICATION_WINDOW,
    REAUTHENTICATIONS_PER_WINDOW,
};
use raftcp_proto::{
    AdminOp, ClientFrame, Hello, PROTOCOL_VERSION, Request, RequestId, ServerFrame, SessionId,
    WatchId, WatchRequest, hello_version,
};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// Why the server ends a connection: a close code and a reason for the
/// client (also sent before it as a `ProtocolError` frame).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Closing {
    pub code: CloseCode,
    pub reason: String,
}

impl Closing {
    pub fn new(code: CloseCode, reason: impl Into<String>) -> Self {
        Closing {
            code,
            reason: reason.into(),
        }
    }
}

/// What arrived on the connection, or that nothing did in time.
#[derive(Debug)]
pub enum Incoming<'a> {
    Binary(&'a [u8]),
    Text,
    /// The client closed, or the socket ended.
    Closed,
    /// Nothing arrived within [`Rules::silence_limit`].
    Silent,
}

/// Where a cancelled request is, as the driver knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancelTarget {
    /// Its proposal has not returned yet.
    Proposing,
    /// It waits in the machine.
    Waiting,
    /// Answered, or never a wait.
    Nowhere,
}

/// What the driver does for one frame.
#[derive(Debug, PartialEq)]
pub enum Action {
    /// Open a session, or resume `hello.resume`; then tell the
    /// rules with [`Rules::on_session`], or close (refused, no leader).
    Handshake(Hello),
    /// Answer a request, `bytes` long on the wire, in the session.
    Request {
        session: SessionId,
        request: Request,
        bytes: usize,
    },
    /// Mark a request being proposed as cancelled.
    MarkCancelled(RequestId),
    /// Propose the cancel of a waiting request before reading on.
    ProposeCancel {
        session: SessionId,
        id: RequestId,
    },
    Send(ServerFrame),
    /// Propose closing the session, then end the connection quietly.
    CloseSession(SessionId),
    /// Check later requests against this token instead.
    Authenticate(String),
    /// Run an admin operation for the session's client.
    Admin {
        id: RequestId,
        op: AdminOp,
    },
    /// Start or resume a watch for the session's client.
    Watch(WatchRequest),
    /// Stop a watch.
    Unwatch(WatchId),
    /// End the connection with a protocol error.
    Close(Closing),
}

/// Why reading a connection stops.
#[derive(Debug, PartialEq)]
pub enum Stop {
    /// With a protocol error.
    Close(Closing),
    /// Quietly: the client closed it.
    End,
}

/// The rules' state: whether the connection has a session, and its recent
/// new tokens.
#[derive(Debug, Default)]
pub struct Rules {
    session: Option<SessionId>,
    reauthentications: Reauthentications,
}

/// New tokens presented in the current window (rule 6).
#[derive(Debug, Default)]
struct Reauthentications {
    window_start: Option<Instant>,
    count: u32,
}

impl Reauthentications {
    /// Counts one at `now`; false when the window's allowance is spent.
    fn allow(&mut self, now: Instant) -> bool {
        let in_window = self
            .window_start
            .is_some_and(|start| now.saturating_duration_since(start) < REAUTHENTICATION_WINDOW);
        if !in_window {
            self.window_start = Some(now);
            self.count = 0;
        }
        self.count += 1;
        self.count <= REAUTHENTICATIONS_PER_WINDOW
    }
}

impl Rules {
    pub fn session(&self) -> Option<SessionId> {
        self.session
    }

    /// The handshake succeeded: the connection now holds `session`.
    pub fn on_session(&mut self, session: SessionId) {
        self.session = Some(session);
    }

    /// How long the connection may stay silent (rules 1 and 5).
    pub fn silence_limit(&self, session_ttl_ms: u64) -> Duration {
        match self.session {
            Some(_) => Duration::from_millis(session_ttl_ms.max(1_000).saturating_mul(2)),
            None => CLIENT_HELLO_TIMEOUT,
        }
    }

    /// The frames of what arrived, with their sizes (rules 1, 2 and 5);
    /// the driver hands each to [`Rules::on_frame`] in order, carrying out
    /// one frame's action before the next.
    pub fn on_incoming(&self, incoming: Incoming<'_>) -> Result<Vec<(ClientFrame, usize)>, Stop> {
        let bytes = match incoming {
            Incoming::Binary(bytes) => bytes,
            Incoming::Text => {
                let reason =
                    "text frames are not part of the protocol; send binary postcard frames";
                return Err(Stop::Close(Closing::new(CloseCode::Unsupported, reason)));
            }
            Incoming::Closed => return Err(Stop::End),
            Incoming::Silent if self.session.is_none() => {
                return Err(Stop::Close(Closing::new(
                    CloseCode::Policy,
                    "no Hello in time",
                )));
            }
            Incoming::Silent => {
                let reason = "idle for a session TTL";
                return Err(Stop::Close(Closing::new(CloseCode::Away, reason)));
            }
        };
        if self.session.is_none() && bytes.len() > HANDSHAKE_BYTES_MAX {
            let reason = format!(
                "handshake message is {} bytes: at most {HANDSHAKE_BYTES_MAX} allowed",
                bytes.len()
            );
            return Err(Stop::Close(Closing::new(CloseCode::Policy, reason)));
        }
        let decoded = raftcp_proto::codec::decode_each::<ClientFrame>(bytes, FRAME_BYTES_MAX);
        decoded.or_else(|e| match hello_version(bytes) {
            // A Hello of another protocol version, shaped differently:
            // answered as that version's Hello, which is refused by name.
            Some(version) if self.session.is_none() && version != PROTOCOL_VERSION => Ok(vec![(
                ClientFrame::Hello(version_only(version)),
                bytes.len(),
            )]),
            _ => {
                let reason = format!("malformed frame: {e}");
                Err(Stop::Close(Closing::new(CloseCode::Invalid, reason)))
            }
        })
    }

    /// What to do with one frame, `bytes` long, arriving at `now` (rules 1,
    /// 3, 4 and 6). `holds_session` tells whether this connection still holds its
    /// session, `cancel_target` where a cancelled request is (each asked
    /// only when the frame needs it). `None`: nothing to do.
    pub fn on_frame(
        &mut self,
        frame: ClientFrame,
        bytes: usize,
        now: Instant,
        holds_session: impl FnOnce() -> bool,
        cancel_target: impl FnOnce(RequestId) -> CancelTarget,
    ) -> Option<Action> {
        let Some(session) = self.session else {
            return Some(match frame {
                ClientFrame::Hello(hello) => Action::Handshake(hello),
                _ => Action::Close(Closing::new(
                    CloseCode::Protocol,
                    "the first frame must be Hello",
                )),
            });
        };
        Some(match frame {
            ClientFrame::Hello(hello) => {
                if holds_session() {
                    return Some(Action::Close(Closing::new(
                        CloseCode::Protocol,
                        "Hello sent twice on one connection",
                    )));
                }
                // A second handshake checks a token too (rule 6).
                if let Some(closing) = self.reauthenticate(now) {
                    return Some(Action::Close(closing));
                }
                self.session = None;
                Action::Handshake(hello)
            }
            ClientFrame::Request(request) => Action::Request {
                session,
                request,
                bytes,
            },
            ClientFrame::Cancel { id } => match cancel_target(id) {
                CancelTarget::Proposing => Action::MarkCancelled(id),
                CancelTarget::Waiting => Action::ProposeCancel { session, id },
                CancelTarget::Nowhere => return None,
            },
            ClientFrame::Heartbeat => Action::Send(ServerFrame::HeartbeatAck),
            ClientFrame::CloseSession => Action::CloseSession(session),
            ClientFrame::Authenticate { token } => {
                if let Some(closing) = self.reauthenticate(now) {
                    return Some(Action::Close(closing));
                }
                Action::Authenticate(token)
            }
            ClientFrame::Admin { id, op } => Action::Admin { id, op },
            ClientFrame::Watch(watch) => Action::Watch(watch),
            ClientFrame::Unwatch { watch } => Action::Unwatch(watch),
        })
    }
}

impl Rules {
    /// Counts a new token (an `Authenticate`, or a second `Hello`) at
    /// `now`; the close when the window's allowance is spent.
    fn reauthenticate(&mut self, now: Instant) -> Option<Closing> {
        if self.reauthentications.allow(now) {
            return None;
        }
        let reason = format!(
            "more than {REAUTHENTICATIONS_PER_WINDOW} new tokens within {}s",
            REAUTHENTICATION_WINDOW.as_secs()
        );
        Some(Closing::new(CloseCode::Policy, reason))
    }
}

/// A `Hello` that says only its version.
fn version_only(protocol_version: u32) -> Hello {
    Hello {
        protocol_version,
        client_name: String::new(),
        resume: None,
        auth: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use raftcp_proto::{GroupName, LongOp, Op, PROTOCOL_VERSION};

    fn hello() -> ClientFrame {
        ClientFrame::Hello(Hello {
            protocol_version: PROTOCOL_VERSION,
            client_name: "c".into(),
            resume: None,
            auth: None,
        })
    }

    fn encode(frames: &[ClientFrame]) -> Vec<u8> {
        frames
            .iter()
            .flat_map(|f| raftcp_proto::encode(f).unwrap())
            .collect()
    }

    fn request(id: u64) -> ClientFrame {
        ClientFrame::Request(Request {
            id: RequestId(id),
            group: GroupName::default_group(),
            acked_below: RequestId(0),
            acked_except: vec![],
            op: Op::AtomicLong {
                name: "n".into(),
                op: LongOp::Get,
            },
        })
    }

    fn nowhere(_: RequestId) -> CancelTarget {
        CancelTarget::Nowhere
    }

    fn closed_with(stop: Result<Vec<(ClientFrame, usize)>, Stop>, code: CloseCode) -> String {
        match stop {
            Err(Stop::Close(closing)) if closing.code == code => closing.reason,
            other => panic!("expected a close with {code:?}, got {other:?}"),
        }
    }

    /// Feeds every frame of a message through the rules, as the driver does.
    fn actions(rules: &mut Rules, bytes: &[u8], holds: bool) -> Vec<Option<Action>> {
        let frames = rules.on_incoming(Incoming::Binary(bytes)).unwrap();
        frames
            .into_iter()
            .map(|(frame, size)| rules.on_frame(frame, size, Instant::now(), || holds, nowhere))
            .collect()
    }

    #[test]
    fn the_first_frame_must_be_a_small_hello() {
        let mut rules = Rules::default();
        let too_big = vec![0u8; HANDSHAKE_BYTES_MAX + 1];
        let reason = closed_with(
            rules.on_incoming(Incoming::Binary(&too_big)),
            CloseCode::Policy,
        );
        assert!(reason.contains("handshake message"), "{reason}");
        let heartbeat = encode(&[ClientFrame::Heartbeat]);
        let first = actions(&mut rules, &heartbeat, false);
        assert!(matches!(&first[..], [Some(Action::Close(c))] if c.code == CloseCode::Protocol));
        let greeted = actions(&mut rules, &encode(&[hello()]), false);
        assert!(matches!(&greeted[..], [Some(Action::Handshake(_))]));
        let reason = closed_with(rules.on_incoming(Incoming::Silent), CloseCode::Policy);
        assert_eq!(reason, "no Hello in time");
    }

    #[test]
    fn text_malformed_and_overpacked_messages_close() {
        let rules = Rules::default();
        closed_with(rules.on_incoming(Incoming::Text), CloseCode::Unsupported);
        closed_with(
            rules.on_incoming(Incoming::Binary(&[0xff, 0xff])),
            CloseCode::Invalid,
        );
        let mut rules = Rules::default();
        rules.on_session(SessionId(1024));
        let packed = encode(&[ClientFrame::Heartbeat]).repeat(8193);
        let reason = closed_with(
            rules.on_incoming(Incoming::Binary(&packed)),
            CloseCode::Invalid,
        );
        assert!(reason.contains("more than 8192 frames"), "{reason}");
        assert_eq!(rules.on_incoming(Incoming::Closed), Err(Stop::End));
    }

    #[test]
    fn packed_frames_are_handled_in_order_with_their_sizes() {
        let mut rules = Rules::default();
        rules.on_session(SessionId(1024));
        let message = encode(&[request(1), ClientFrame::Heartbeat, request(2)]);
        let got = actions(&mut rules, &message, true);
        let request_size = raftcp_proto::encode(&request(1)).unwrap().len();
        assert!(
            matches!(&got[0], Some(Action::Request { request, bytes, .. })
            if request.id == RequestId(1) && *bytes == request_size)
        );
        assert_eq!(got[1], Some(Action::Send(ServerFrame::HeartbeatAck)));
        assert!(
            matches!(&got[2], Some(Action::Request { request, .. }) if request.id == RequestId(2))
        );
    }

    #[test]
    fn admin_operations_only_on_a_session() {
        let admin = ClientFrame::Admin {
            id: RequestId(1),
            op: AdminOp::Members,
        };
        let mut rules = Rules::default();
        let before = actions(&mut rules, &encode(std::slice::from_ref(&admin)), false);
        assert!(matches!(&before[..], [Some(Action::Close(c))] if c.code == CloseCode::Protocol));
        rules.on_session(SessionId(1024));
        let after = actions(&mut rules, &encode(&[admin]), true);
        assert!(matches!(
            &after[..],
            [Some(Action::Admin {
                id: RequestId(1),
                op: AdminOp::Members
            })]
        ));
    }

    #[test]
    fn a_second_hello_only_after_the_session_is_gone() {
        let mut rules = Rules::default();
        rules.on_session(SessionId(1024));
        let twice = actions(&mut rules, &encode(&[hello()]), true);
        assert!(matches!(&twice[..], [Some(Action::Close(c))] if c.reason.contains("twice")));
        let again = actions(&mut rules, &encode(&[hello()]), false);
        assert!(matches!(&again[..], [Some(Action::Handshake(_))]));
        assert_eq!(rules.session(), None);
    }

    #[test]
    fn a_cancel_goes_where_its_request_is() {
        let mut rules = Rules::default();
        let session = SessionId(1024);
        rules.on_session(session);
        let id = RequestId(7);
        let cancel = || ClientFrame::Cancel { id };
        let to = |target| move |_| target;
        assert_eq!(
            rules.on_frame(
                cancel(),
                2,
                Instant::now(),
                || true,
                to(CancelTarget::Proposing)
            ),
            Some(Action::MarkCancelled(id))
        );
        assert_eq!(
            rules.on_frame(
                cancel(),
                2,
                Instant::now(),
                || true,
                to(CancelTarget::Waiting)
            ),
            Some(Action::ProposeCancel { session, id })
        );
        assert_eq!(
            rules.on_frame(
                cancel(),
                2,
                Instant::now(),
                || true,
                to(CancelTarget::Nowhere)
            ),
            None
        );
        assert_eq!(
            rules.on_frame(
                ClientFrame::CloseSession,
                1,
                Instant::now(),
                || true,
                nowhere
            ),
            Some(Action::CloseSession(session))
        );
    }

    #[test]
    fn new_tokens_are_limited_per_window() {
        let mut rules = Rules::default();
        rules.on_session(SessionId(1024));
        let start = Instant::now();
        let mut present = |at: Instant| {
            let token = ClientFrame::Authenticate { token: "t".into() };
            rules.on_frame(token, 3, at, || true, nowhere)
        };
        for _ in 0..REAUTHENTICATIONS_PER_WINDOW {
            assert_eq!(present(start), Some(Action::Authenticate("t".into())));
        }
        let over = present(start + REAUTHENTICATION_WINDOW / 2);
        assert!(
            matches!(&over, Some(Action::Close(c)) if c.code == CloseCode::Policy && c.reason.contains("new tokens")),
            "{over:?}"
        );
        // A new window allows as many again.
        let later = start + REAUTHENTICATION_WINDOW;
        assert_eq!(present(later), Some(Action::Authenticate("t".into())));
        // A handshake after the first counts as a new token too.
        let mut rules = Rules::default();
        for _ in 0..REAUTHENTICATIONS_PER_WINDOW {
            rules.on_session(SessionId(1024));
            let again = rules.on_frame(hello(), 3, start, || false, nowhere);
            assert!(matches!(again, Some(Action::Handshake(_))), "{again:?}");
        }
        rules.on_session(SessionId(1024));
        let over = rules.on_frame(hello(), 3, start, || false, nowhere);
        assert!(matches!(over, Some(Action::Close(c)) if c.reason.contains("new tokens")));
    }

    #[test]
    fn silence_is_allowed_for_twice_the_ttl_once_there_is_a_session() {
        let mut rules = Rules::default();
        assert_eq!(rules.silence_limit(4_000), CLIENT_HELLO_TIMEOUT);
        rules.on_session(SessionId(1024));
        assert_eq!(rules.silence_limit(4_000), Duration::from_secs(8));
        assert_eq!(
            rules.silence_limit(u64::MAX),
            Duration::from_millis(u64::MAX)
        );
        let reason = closed_with(rules.on_incoming(Incoming::Silent), CloseCode::Away);
        assert_eq!(reason, "idle for a session TTL");
    }
}
