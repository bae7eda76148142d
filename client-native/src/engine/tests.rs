//! Engine behaviour, frame by frame.

use super::*;
use raftcp_proto::{LongOp, Response, Welcome};

fn op() -> Op {
    Op::AtomicLong {
        name: "counter".into(),
        op: LongOp::AddAndGet(1),
    }
}

fn welcome(session: u64) -> ServerFrame {
    ServerFrame::Welcome(Welcome {
        session: SessionId(session),
        resume_secret: secret_of(session),
        ttl_ms: 60_000,
        heartbeat_ms: 5_000,
        leader_hint: None,
        members: vec![],
    })
}

/// The resume secret the test server hands session `session`.
fn secret_of(session: u64) -> ResumeSecret {
    ResumeSecret([session as u8; 16])
}

fn respond(id: u64, result: Result<Reply, OpError>) -> ServerFrame {
    ServerFrame::Response(Response {
        id: RequestId(id),
        result,
    })
}

fn sent(engine: &mut Engine) -> Vec<ClientFrame> {
    std::iter::from_fn(|| engine.poll_transmit(0)).collect()
}

fn events(engine: &mut Engine) -> Vec<EngineEvent> {
    std::iter::from_fn(|| engine.poll_event()).collect()
}

fn request_ids(frames: &[ClientFrame]) -> Vec<(u64, u64)> {
    frames
        .iter()
        .filter_map(|f| match f {
            ClientFrame::Request(r) => Some((r.id.0, r.acked_below.0)),
            _ => None,
        })
        .collect()
}

fn ready(session: u64) -> Engine {
    let mut engine = Engine::new("test");
    engine.on_connected();
    assert!(matches!(
        sent(&mut engine)[..],
        [ClientFrame::Hello(Hello { resume: None, .. })]
    ));
    engine.on_frame(welcome(session));
    events(&mut engine);
    engine
}

#[test]
fn requests_queue_until_the_session_is_ready() {
    let mut engine = Engine::new("test");
    let id = engine.submit(GroupName::default_group(), op());
    engine.on_connected();
    assert_eq!(request_ids(&sent(&mut engine)), vec![]);
    engine.on_frame(welcome(7));
    assert_eq!(request_ids(&sent(&mut engine)), vec![(id.0, id.0)]);
    assert_eq!(engine.session(), Some(SessionId(7)));
}

#[test]
fn answers_advance_the_acknowledgement_watermark() {
    let mut engine = ready(7);
    let first = engine.submit(GroupName::default_group(), op());
    let second = engine.submit(GroupName::default_group(), op());
    assert_eq!(request_ids(&sent(&mut engine)), vec![(1, 1), (2, 1)]);
    engine.on_frame(respond(second.0, Ok(Reply::Long(2))));
    let third = engine.submit(GroupName::default_group(), op());
    // The first is still unanswered, so nothing from it on is acknowledged.
    assert_eq!(request_ids(&sent(&mut engine)), vec![(third.0, first.0)]);
    engine.on_frame(respond(first.0, Ok(Reply::Long(1))));
    engine.on_frame(respond(third.0, Ok(Reply::Long(3))));
    engine.submit(GroupName::default_group(), op());
    assert_eq!(request_ids(&sent(&mut engine)), vec![(4, 4)]);
    let completed = events(&mut engine).len();
    assert_eq!(completed, 3);
}

#[test]
fn reconnect_resumes_the_session_and_resends_with_the_same_ids() {
    let mut engine = ready(7);
    let id = engine.submit(GroupName::default_group(), op());
    sent(&mut engine);
    engine.on_disconnected();
    engine.on_connected();
    let hello = sent(&mut engine);
    assert!(matches!(
        &hello[..],
        [ClientFrame::Hello(Hello {
            resume: Some(Resume {
                session: SessionId(7),
                secret,
            }),
            ..
        })] if *secret == secret_of(7)
    ));
    engine.on_frame(welcome(7));
    assert_eq!(request_ids(&sent(&mut engine)), vec![(id.0, id.0)]);
    engine.on_frame(respond(id.0, Ok(Reply::Long(1))));
    // The first attempt's answer arriving late is ignored: one completion.
    engine.on_frame(respond(id.0, Ok(Reply::Long(1))));
    let completions = events(&mut engine)
        .into_iter()
        .filter(|e| matches!(e, EngineEvent::Completed { .. }))
        .count();
    assert_eq!(completions, 1);
}

#[test]
fn not_leader_redirects_and_keeps_the_request() {
    let mut engine = ready(7);
    let id = engine.submit(GroupName::default_group(), op());
    sent(&mut engine);
    let hint = Some("ws://127.0.0.1:7702/v1/client".to_string());
    engine.on_frame(respond(
        id.0,
        Err(OpError::NotLeader {
            leader_hint: hint.clone(),
        }),
    ));
    assert_eq!(
        events(&mut engine),
        vec![EngineEvent::Redirect { url: hint }]
    );
    assert_eq!(engine.in_flight(), 1);
    engine.on_disconnected();
    engine.on_connected();
    engine.on_frame(welcome(7));
    assert_eq!(request_ids(&sent(&mut engine)), vec![(id.0, id.0)]);
}

#[test]
fn a_refused_resume_fails_in_flight_requests_and_opens_a_new_session() {
    let mut engine = ready(7);
    let id = engine.submit(GroupName::default_group(), op());
    sent(&mut engine);
    engine.on_disconnected();
    engine.on_connected();
    sent(&mut engine);
    engine.on_frame(ServerFrame::Refused {
        reason: "session 7 is expired or closed".into(),
    });
    let expired = Err(OpError::SessionExpired {
        session: SessionId(7),
    });
    assert_eq!(
        events(&mut engine),
        vec![
            EngineEvent::Completed {
                id,
                result: expired
            },
            EngineEvent::SessionLost {
                session: SessionId(7)
            },
        ]
    );
    assert!(matches!(
        &sent(&mut engine)[..],
        [ClientFrame::Hello(Hello { resume: None, .. })]
    ));
}

#[test]
fn cancel_follows_the_request_across_reconnects() {
    let mut engine = ready(7);
    let id = engine.submit(GroupName::default_group(), op());
    sent(&mut engine);
    engine.on_disconnected();
    engine.cancel(id);
    engine.on_connected();
    sent(&mut engine);
    engine.on_frame(welcome(7));
    let frames = sent(&mut engine);
    assert!(matches!(&frames[1..], [ClientFrame::Cancel { id: cancelled }] if *cancelled == id));
    engine.on_frame(respond(id.0, Err(OpError::Cancelled)));
    assert_eq!(engine.in_flight(), 0);
}

#[test]
fn heartbeats_go_out_only_when_idle() {
    let mut engine = ready(7);
    engine.on_tick(4_999);
    assert!(engine.poll_transmit(4_999).is_none());
    engine.on_tick(5_000);
    assert_eq!(engine.poll_transmit(5_000), Some(ClientFrame::Heartbeat));
    assert_eq!(engine.next_tick_ms(), 10_000);
}

#[test]
fn a_silent_connection_gets_heartbeats_then_is_given_up() {
    let mut engine = ready(7);
    engine.on_heard(1_000);
    // Requests keep going out, nothing comes back: heartbeats still go.
    let id = engine.submit(GroupName::default_group(), op());
    assert!(engine.poll_transmit(5_500).is_some());
    engine.on_tick(6_000);
    assert_eq!(engine.poll_transmit(6_000), Some(ClientFrame::Heartbeat));
    assert_eq!(events(&mut engine), vec![]);
    // Four intervals after the last frame heard, the link is given up; the
    // request stays in flight for the next connection.
    engine.on_tick(20_999);
    assert_eq!(engine.poll_event(), None);
    engine.on_tick(21_000);
    assert_eq!(events(&mut engine), vec![EngineEvent::Silent]);
    assert_eq!(engine.in_flight(), 1);
    let _ = id;
}

#[test]
fn server_side_expiry_is_reported_and_a_new_session_starts() {
    let mut engine = ready(7);
    engine.on_frame(ServerFrame::Event(Event::SessionExpired {
        session: SessionId(7),
    }));
    assert_eq!(
        events(&mut engine),
        vec![EngineEvent::SessionLost {
            session: SessionId(7)
        }]
    );
    assert_eq!(engine.session(), None);
    assert!(matches!(
        &sent(&mut engine)[..],
        [ClientFrame::Hello(Hello { resume: None, .. })]
    ));
}

fn lock_op() -> Op {
    Op::Lock {
        name: "leader".into(),
        handle: raftcp_proto::HandleId(1),
        op: raftcp_proto::LockOp::Lock {
            timeout_ms: None,
            reentrancy_limit: 0,
        },
    }
}

fn acknowledgements(frames: &[ClientFrame]) -> Vec<(u64, u64, Vec<u64>)> {
    frames
        .iter()
        .filter_map(|f| match f {
            ClientFrame::Request(r) => Some((
                r.id.0,
                r.acked_below.0,
                r.acked_except.iter().map(|id| id.0).collect(),
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn a_waiting_request_is_acknowledged_around() {
    let mut engine = ready(7);
    let wait = engine.submit(GroupName::default_group(), lock_op());
    assert_eq!(acknowledgements(&sent(&mut engine)), vec![(1, 2, vec![1])]);
    for expected in 2..10 {
        let id = engine.submit(GroupName::default_group(), op());
        assert_eq!(
            acknowledgements(&sent(&mut engine)),
            vec![(id.0, id.0, vec![wait.0])],
        );
        engine.on_frame(respond(id.0, Ok(Reply::Long(expected))));
    }
    // Once the wait is answered, it is no longer excepted.
    engine.on_frame(respond(
        wait.0,
        Ok(Reply::Fence(Some(raftcp_proto::Fence(5)))),
    ));
    let id = engine.submit(GroupName::default_group(), op());
    assert_eq!(
        acknowledgements(&sent(&mut engine)),
        vec![(id.0, id.0, vec![])]
    );
}

#[test]
fn requests_beyond_the_span_wait_in_the_client() {
    let mut engine = ready(7);
    let span = REQUEST_SPAN_MAX;
    for _ in 0..span + 10 {
        engine.submit(GroupName::default_group(), op());
    }
    let first = acknowledgements(&sent(&mut engine));
    assert_eq!(first.len() as u64, span);
    assert_eq!(engine.in_flight() as u64, span + 10);
    // Answers to the oldest let as many newer ones go out, in order.
    for id in 1..=3 {
        engine.on_frame(respond(id, Ok(Reply::Long(1))));
    }
    let next: Vec<u64> = acknowledgements(&sent(&mut engine))
        .into_iter()
        .map(|(id, _, _)| id)
        .collect();
    assert_eq!(next, vec![span + 1, span + 2, span + 3]);
}

#[test]
fn a_cancel_of_a_request_not_sent_yet_follows_it_out() {
    let mut engine = ready(7);
    for _ in 0..REQUEST_SPAN_MAX {
        engine.submit(GroupName::default_group(), op());
    }
    sent(&mut engine);
    let held = engine.submit(GroupName::default_group(), lock_op());
    engine.cancel(held);
    assert_eq!(sent(&mut engine), vec![]);
    engine.on_frame(respond(1, Ok(Reply::Long(1))));
    let frames = sent(&mut engine);
    assert!(matches!(
        &frames[..],
        [ClientFrame::Request(r), ClientFrame::Cancel { id }] if r.id == held && *id == held
    ));
}

#[test]
fn an_expired_token_holds_requests_until_a_fresh_one_resends_them() {
    let mut engine = ready(7);
    engine.refresh_tokens();
    let first = engine.submit(GroupName::default_group(), op());
    let second = engine.submit(GroupName::default_group(), op());
    sent(&mut engine);
    engine.on_frame(respond(first.0, Err(OpError::TokenExpired)));
    engine.on_frame(respond(second.0, Err(OpError::TokenExpired)));
    // One request for a token, however many requests were refused.
    let asked = events(&mut engine);
    assert_eq!(asked, vec![EngineEvent::TokenExpired]);
    engine.cancel(second);
    sent(&mut engine);
    engine.set_token("fresh".into());
    let frames = sent(&mut engine);
    assert!(matches!(&frames[0], ClientFrame::Authenticate { token } if token == "fresh"));
    assert_eq!(
        request_ids(&frames),
        vec![(first.0, first.0), (second.0, first.0)]
    );
    // The cancel the server could not act on goes out again with its request.
    assert_eq!(frames.last(), Some(&ClientFrame::Cancel { id: second }));
    engine.on_frame(respond(first.0, Ok(Reply::Long(1))));
    assert!(matches!(
        &events(&mut engine)[..],
        [EngineEvent::Completed { result: Ok(_), .. }]
    ));
}

#[test]
fn a_refused_token_on_resume_keeps_the_session() {
    let mut engine = ready(7);
    engine.refresh_tokens();
    engine.on_disconnected();
    engine.on_connected();
    sent(&mut engine);
    engine.on_frame(ServerFrame::TokenRefused(OpError::TokenExpired));
    assert_eq!(events(&mut engine), vec![EngineEvent::TokenExpired]);
    assert_eq!(engine.session(), Some(SessionId(7)));
    // Without a provider it is the end: reconnecting with the same token
    // cannot help.
    let mut fixed = ready(8);
    fixed.on_frame(ServerFrame::TokenRefused(OpError::TokenExpired));
    assert!(matches!(
        &events(&mut fixed)[..],
        [EngineEvent::Fatal {
            token_refused: Some(OpError::TokenExpired),
            ..
        }]
    ));
}
