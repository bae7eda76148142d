//! Bad input on a raw WebSocket: malformed, text, oversize and out-of-order
//! frames each get a protocol error and a close code; other clients carry on.
//! Also what a raw client sees of session expiry and of a member without a
//! quorum.

#![allow(clippy::unwrap_used)]

use futures_util::{SinkExt, StreamExt};
use raftcp::Client;
use raftcp_proto::limits::{FRAME_BYTES_MAX, HANDSHAKE_BYTES_MAX};
use raftcp_proto::{ClientFrame, PROTOCOL_VERSION, ServerFrame};
use raftcp_tests::{TestCluster, raw};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// The protocol error's text and the close code a member ended with.
async fn protocol_error_and_close(socket: &mut raw::Socket) -> (String, Option<CloseCode>) {
    let ending = raw::read_to_end(socket, Duration::from_secs(30)).await;
    assert!(ending.closed, "not closed: {ending:?}");
    let reason = ending.frames.iter().find_map(|frame| match frame {
        ServerFrame::ProtocolError { reason } => Some(reason.clone()),
        _ => None,
    });
    (reason.unwrap_or_default(), ending.code)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_close_only_their_own_connection() {
    let cluster = TestCluster::start("protocol");
    let addr = cluster.addrs[&1].clone();
    let client = Client::connect([cluster.url(1)]).await.unwrap();
    let counter = client.get_atomic_long("unaffected");
    counter.increment_and_get().await.unwrap();

    // Malformed bytes before the handshake.
    let mut socket = raw::connect(&addr, "/v1/client").await.unwrap();
    socket
        .send(Message::binary(vec![0xff, 0xff, 0xff, 0x01]))
        .await
        .unwrap();
    let (reason, code) = protocol_error_and_close(&mut socket).await;
    assert!(reason.contains("malformed"), "{reason}");
    assert_eq!(code, Some(CloseCode::Invalid));

    // A text frame after a good handshake.
    let mut socket = raw::connect(&addr, "/v1/client").await.unwrap();
    socket
        .send(Message::binary(raw::hello("raw")))
        .await
        .unwrap();
    let welcome = socket.next().await.unwrap().unwrap();
    let Message::Binary(bytes) = welcome else {
        panic!("expected Welcome, got {welcome:?}")
    };
    assert!(matches!(
        raftcp_proto::decode::<ServerFrame>(&bytes).unwrap(),
        ServerFrame::Welcome(_)
    ));
    socket
        .send(Message::text("{\"op\":\"get\"}"))
        .await
        .unwrap();
    let (reason, code) = protocol_error_and_close(&mut socket).await;
    assert!(reason.contains("text frames"), "{reason}");
    assert_eq!(code, Some(CloseCode::Unsupported));

    // An oversize frame: before the Hello, over the handshake limit; after
    // it, over the frame limit.
    let mut socket = raw::connect(&addr, "/v1/client").await.unwrap();
    let _ = socket
        .send(Message::binary(vec![0u8; HANDSHAKE_BYTES_MAX + 1]))
        .await;
    let (reason, code) = protocol_error_and_close(&mut socket).await;
    assert!(reason.contains("handshake message"), "{reason}");
    assert_eq!(code, Some(CloseCode::Policy));
    let mut socket = raw::session(&addr).await;
    let _ = socket
        .send(Message::binary(vec![0u8; FRAME_BYTES_MAX + 1024]))
        .await;
    let (reason, code) = protocol_error_and_close(&mut socket).await;
    assert!(reason.contains("too large"), "{reason}");
    assert_eq!(code, Some(CloseCode::Size));

    // A request before Hello.
    let mut socket = raw::connect(&addr, "/v1/client").await.unwrap();
    let request = raftcp_proto::encode(&ClientFrame::Heartbeat).unwrap();
    socket.send(Message::binary(request)).await.unwrap();
    let (reason, code) = protocol_error_and_close(&mut socket).await;
    assert!(reason.contains("first frame must be Hello"), "{reason}");
    assert_eq!(code, Some(CloseCode::Protocol));

    // Trailing bytes after a valid frame are malformed too.
    let mut socket = raw::connect(&addr, "/v1/client").await.unwrap();
    let mut bytes = raw::hello("raw");
    bytes.push(0);
    socket.send(Message::binary(bytes)).await.unwrap();
    let (_, code) = protocol_error_and_close(&mut socket).await;
    assert_eq!(code, Some(CloseCode::Invalid));

    // A wrong protocol version is refused with a reason.
    let mut socket = raw::connect(&addr, "/v1/client").await.unwrap();
    let bad_version = raftcp_proto::encode(&ClientFrame::Hello(raftcp_proto::Hello {
        protocol_version: PROTOCOL_VERSION + 1,
        client_name: "future".into(),
        resume: None,
        auth: None,
    }))
    .unwrap();
    socket.send(Message::binary(bad_version)).await.unwrap();
    let Some(Ok(Message::Binary(bytes))) = socket.next().await else {
        panic!("expected Refused")
    };
    let ServerFrame::Refused { reason } = raftcp_proto::decode(&bytes).unwrap() else {
        panic!("expected Refused")
    };
    assert!(reason.contains("protocol version"), "{reason}");

    // The well-behaved client never noticed.
    assert_eq!(counter.increment_and_get().await.unwrap(), 2);
    let metrics = cluster.metrics(1).unwrap();
    assert!(
        !metrics.contains("raftcp_protocol_errors_total 0"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_client_hears_its_session_expire_and_can_open_another() {
    let cluster = TestCluster::start("silent");
    let mut socket = raw::connect(&cluster.addrs[&1], "/v1/client")
        .await
        .unwrap();
    socket
        .send(Message::binary(raw::hello("raw")))
        .await
        .unwrap();
    let next_frame = |bytes: &[u8]| raftcp_proto::decode::<ServerFrame>(bytes).unwrap();
    let Some(Ok(Message::Binary(bytes))) = socket.next().await else {
        panic!("expected Welcome")
    };
    let ServerFrame::Welcome(welcome) = next_frame(&bytes) else {
        panic!("expected Welcome")
    };
    // No heartbeats: after the TTL (4 s in tests) the session ends.
    let expired = tokio::time::timeout(Duration::from_secs(20), socket.next())
        .await
        .unwrap();
    let Some(Ok(Message::Binary(bytes))) = expired else {
        panic!("expected an event, got {expired:?}")
    };
    assert_eq!(
        next_frame(&bytes),
        ServerFrame::Event(raftcp_proto::Event::SessionExpired {
            session: welcome.session
        })
    );
    // The same connection opens a new session.
    socket
        .send(Message::binary(raw::hello("raw")))
        .await
        .unwrap();
    let Some(Ok(Message::Binary(bytes))) = socket.next().await else {
        panic!("expected Welcome")
    };
    let ServerFrame::Welcome(again) = next_frame(&bytes) else {
        panic!("expected a second Welcome")
    };
    assert!(again.session > welcome.session);
}

/// A member left without a quorum says so within a few election timeouts
/// and turns a new connection away at once with "try again later" (not
/// `Refused`, which would end a resumed session, and not after the request
/// timeout); with its peers back it serves again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_without_a_quorum_turns_clients_away_at_once() {
    let mut cluster = TestCluster::start("cut-off");
    let client = Client::connect(vec![cluster.url(1)]).await.unwrap();
    let counter = client.get_atomic_long("counter");
    assert_eq!(counter.increment_and_get().await.unwrap(), 1);
    assert_eq!(cluster.health(1).unwrap()["cut_off"], false);
    assert_eq!(cluster.gauge(1, "raftcp_cut_off"), Some(0));

    cluster.kill(2);
    cluster.kill(3);
    let deadline = Instant::now() + Duration::from_secs(20);
    while cluster.gauge(1, "raftcp_cut_off") != Some(1) {
        assert!(Instant::now() < deadline, "member 1 never noticed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(cluster.health(1).unwrap()["cut_off"], true);

    let mut socket = raw::connect(&cluster.addrs[&1], "/v1/client")
        .await
        .unwrap();
    socket
        .send(Message::binary(raw::hello("raw")))
        .await
        .unwrap();
    // The request timeout in tests is 5 s; the answer must come well before.
    let answer = tokio::time::timeout(Duration::from_secs(3), socket.next())
        .await
        .expect("turned away at once");
    match answer {
        Some(Ok(Message::Close(Some(frame)))) => {
            assert_eq!(frame.code, CloseCode::Again);
            assert!(frame.reason.contains("no leader reachable"), "{frame:?}");
        }
        other => panic!("expected a close frame, got {other:?}"),
    }

    cluster.start_node(2);
    cluster.start_node(3);
    let deadline = Instant::now() + Duration::from_secs(30);
    while cluster.gauge(1, "raftcp_cut_off") != Some(0) {
        assert!(
            Instant::now() < deadline,
            "member 1 never heard its peers again"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The client kept its session through it all.
    assert_eq!(counter.increment_and_get().await.unwrap(), 2);
    assert_eq!(client.sessions_lost(), 0);
}
