//! The hostile-client suite: real `raftcp serve` processes attacked over raw
//! TCP and WebSocket, as an anonymous client on the internet could. Every
//! case checks three things: the attacker gets a clear error or a close,
//! a well-behaved client on the same cluster keeps getting correct answers
//! throughout ([`Bystander`]), and the members' memory and Raft log stay
//! under a stated bound ([`Budget`]).
//!
//! It runs against release builds, where arithmetic and stack depth are
//! what operators run (and debug builds are too slow for the floods):
//! `cargo test --release -p raftcp-tests --test hostile`, as `scripts/test`
//! does; in a debug build its tests are ignored.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use raftcp::Client;
use raftcp_proto::limits::FRAME_BYTES_MAX;
use raftcp_proto::{
    ClientFrame, Event, GroupName, LongOp, ObjectKind, Op, OpError, RefOp, Reply, RequestId,
    SemaphoreOp, ServerFrame, Value, WatchEnded, WatchId, WatchRequest,
};
use raftcp_server::machine::CommandKind;
use raftcp_server::raft::peer_frame::{PeerFrame, PeerRpc};
use raftcp_tests::raw::{self, Ending};
use raftcp_tests::{TestCluster, Timings};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

const MIB: u64 = 1024 * 1024;

/// How long a member may take to turn an attacker away (its own deadlines
/// are 5 and 10 s; the rest is a loaded 2-core machine).
const TURNED_AWAY_WITHIN: Duration = Duration::from_secs(20);

/// A client that increments its own counter throughout an attack and
/// checks that every answer is the next number.
struct Bystander {
    stop: Arc<AtomicBool>,
    task: JoinHandle<Result<i64, String>>,
}

impl Bystander {
    async fn start(cluster: &TestCluster) -> Bystander {
        let client = Client::builder()
            .endpoints(cluster.urls())
            .request_timeout(Duration::from_secs(20))
            .client_name("bystander")
            .connect()
            .await
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            let counter = client.get_atomic_long("bystander");
            let mut expected = 0;
            while !stopped.load(Ordering::Relaxed) {
                expected += 1;
                match counter.increment_and_get().await {
                    Ok(value) if value == expected => {}
                    Ok(value) => return Err(format!("expected {expected}, got {value}")),
                    Err(e) => return Err(format!("increment {expected} failed: {e}")),
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            client.close().await;
            Ok(expected)
        });
        Bystander { stop, task }
    }

    /// Stops the bystander; panics unless every answer was right.
    async fn finish(self) {
        self.stop.store(true, Ordering::Relaxed);
        let answered = self.task.await.unwrap().unwrap();
        assert!(answered > 10, "the bystander got only {answered} answers");
    }
}

/// The members' memory and log size when an attack starts.
struct Budget {
    rss: Vec<u64>,
    log: Vec<u64>,
}

impl Budget {
    fn start(cluster: &TestCluster) -> Budget {
        Budget {
            rss: (1..=3).map(|id| cluster.rss_bytes(id).unwrap()).collect(),
            log: (1..=3).map(|id| cluster.log_bytes(id)).collect(),
        }
    }

    /// Every member is alive, grew its memory by at most `rss_growth` and
    /// its Raft log by at most `log_growth` bytes.
    fn check(&self, cluster: &TestCluster, rss_growth: u64, log_growth: u64) {
        for id in 1..=3u64 {
            let index = id as usize - 1;
            assert!(
                cluster.health(id).is_some(),
                "member {id} stopped answering"
            );
            let rss = cluster.rss_bytes(id).expect("member alive");
            assert!(
                rss <= self.rss[index] + rss_growth,
                "member {id}: RSS {} MiB, from {} MiB",
                rss / MIB,
                self.rss[index] / MIB
            );
            let log = cluster.log_bytes(id);
            assert!(
                log <= self.log[index] + log_growth,
                "member {id}: log {log} bytes, from {}",
                self.log[index]
            );
        }
    }
}

fn closed_with(ending: &Ending, code: CloseCode, text: &str) {
    assert!(ending.closed, "not closed: {ending:?}");
    assert_eq!(ending.code, Some(code), "{ending:?}");
    let said = ending.error_text().unwrap_or(&ending.reason);
    assert!(said.contains(text), "expected {text:?} in {ending:?}");
}

/// The header of a masked binary WebSocket frame (as clients send) of
/// `length` payload bytes.
fn masked_header(length: u64) -> Vec<u8> {
    let mut header = vec![0x82, 0x80 | 127];
    header.extend_from_slice(&length.to_be_bytes());
    header.extend_from_slice(&[1, 2, 3, 4]); // the masking key
    header
}

/// `PeerFrame::Request { id: 1, rpc: Propose(Batch(Batch(… ExpireSessions))) }`,
/// `depth` batches deep.
fn nested_batches(depth: usize) -> Vec<u8> {
    let mut bytes = vec![1u8, 1, 4]; // Request, id 1, Propose
    bytes.extend([8u8, 1].repeat(depth));
    bytes.push(3); // ExpireSessions
    bytes
}

/// A peer connection's first frame decides nothing before the dialer proves
/// who it is: nested, oversize and out-of-order frames, and a Hello that
/// claims to be the member itself, each close the link; no member stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(debug_assertions, ignore = "release builds only: scripts/test runs it")]
async fn peer_link_attacks() {
    let cluster = TestCluster::start("hostile-peer");
    let bystander = Bystander::start(&cluster).await;
    let budget = Budget::start(&cluster);
    let leader = cluster.wait_for_leader(Duration::from_secs(30));
    let addr = cluster.addrs[&leader].clone();

    // One frame of batches nested 100,000 deep once overflowed the stack.
    for depth in [1_000, 100_000] {
        let mut socket = raw::connect(&addr, "/v1/raft").await.unwrap();
        let _ = raw::send(&mut socket, nested_batches(depth)).await;
        let ending = raw::read_to_end(&mut socket, TURNED_AWAY_WITHIN).await;
        assert!(ending.closed && ending.other.is_empty(), "{ending:?}");
    }

    // A 20 MiB first frame is refused unread (and not logged).
    let mut socket = raw::connect(&addr, "/v1/raft").await.unwrap();
    let _ = raw::send(&mut socket, vec![2u8; 20 * MIB as usize]).await;
    let ending = raw::read_to_end(&mut socket, TURNED_AWAY_WITHIN).await;
    assert!(ending.closed, "{ending:?}");

    // A first frame that is a request, not a Hello: nothing is applied.
    let propose = PeerFrame::Request {
        id: 1,
        rpc: PeerRpc::Propose(CommandKind::RenewAllSessions),
    };
    let mut socket = raw::connect(&addr, "/v1/raft").await.unwrap();
    raw::send(&mut socket, postcard::to_allocvec(&propose).unwrap())
        .await
        .unwrap();
    let ending = raw::read_to_end(&mut socket, TURNED_AWAY_WITHIN).await;
    assert!(ending.closed && ending.other.is_empty(), "{ending:?}");

    // A Hello that claims to be the member itself learns nothing.
    let impostor = PeerFrame::Hello {
        from: leader,
        to: leader,
        nonce: [1; 32],
    };
    let mut socket = raw::connect(&addr, "/v1/raft").await.unwrap();
    raw::send(&mut socket, postcard::to_allocvec(&impostor).unwrap())
        .await
        .unwrap();
    let ending = raw::read_to_end(&mut socket, TURNED_AWAY_WITHIN).await;
    assert!(ending.closed && ending.other.is_empty(), "{ending:?}");

    // One that claims to be another member gets a challenge and nothing
    // else: a proof made without the cluster secret closes the link before
    // the member says anything about itself, and a request sent after it is
    // never answered.
    let other = *cluster.addrs.keys().find(|id| **id != leader).unwrap();
    let claim = PeerFrame::Hello {
        from: other,
        to: leader,
        nonce: [2; 32],
    };
    let forged = PeerFrame::Proof {
        incarnation: 12345,
        proof: [3; 32],
    };
    let mut socket = raw::connect(&addr, "/v1/raft").await.unwrap();
    for frame in [&claim, &forged, &propose] {
        let _ = raw::send(&mut socket, postcard::to_allocvec(frame).unwrap()).await;
    }
    let ending = raw::read_to_end(&mut socket, TURNED_AWAY_WITHIN).await;
    assert!(ending.closed && ending.other.len() == 1, "{ending:?}");
    let answer = raftcp_server::raft::network::decode_peer_frame(&ending.other[0]);
    assert!(
        matches!(answer, Ok(PeerFrame::Challenge { .. })),
        "the impostor was told more than a challenge: {answer:?}"
    );

    // An upgraded peer link that never says Hello is closed.
    let mut socket = raw::connect(&addr, "/v1/raft").await.unwrap();
    let ending = raw::read_to_end(&mut socket, TURNED_AWAY_WITHIN).await;
    assert!(ending.closed, "a silent peer link stayed open");

    let log = cluster.log_text(leader);
    assert!(
        log.len() < 256 * 1024,
        "member log grew to {} bytes",
        log.len()
    );
    budget.check(&cluster, 64 * MIB, 4 * MIB);
    bystander.finish().await;
}

/// Before its handshake a connection may send one small Hello under a
/// deadline; half-sent HTTP requests, silent sockets and connection floods
/// from one address are cut off without touching other clients.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(debug_assertions, ignore = "release builds only: scripts/test runs it")]
async fn handshake_attacks() {
    let mut cluster = TestCluster::prepare("hostile-handshake", Timings::default());
    cluster.set_extra_args(&["--max-connections-per-address", "64"]);
    cluster.start_all();
    let bystander = Bystander::start(&cluster).await;
    let budget = Budget::start(&cluster);
    let addr = cluster.addrs[&1].clone();

    // A Hello over the handshake limit.
    let mut socket = raw::connect(&addr, "/v1/client").await.unwrap();
    let _ = raw::send(&mut socket, raw::hello(&"n".repeat(100_000))).await;
    let ending = raw::read_to_end(&mut socket, TURNED_AWAY_WITHIN).await;
    closed_with(&ending, CloseCode::Policy, "handshake message");

    // Hellos with oversize client names are refused before anything is
    // proposed: 300 × 10 KB would otherwise be 3 MB in every log.
    for _ in 0..300 {
        let mut socket = raw::connect(&addr, "/v1/client").await.unwrap();
        raw::send(&mut socket, raw::hello(&"n".repeat(10_000)))
            .await
            .unwrap();
        let ending = raw::read_to_end(&mut socket, TURNED_AWAY_WITHIN).await;
        let said = ending.error_text().unwrap_or_default();
        assert!(said.contains("client name"), "{ending:?}");
    }

    // A request before Hello, and a text frame.
    let mut socket = raw::connect(&addr, "/v1/client").await.unwrap();
    let heartbeat = raftcp_proto::encode(&ClientFrame::Heartbeat).unwrap();
    raw::send(&mut socket, heartbeat).await.unwrap();
    let ending = raw::read_to_end(&mut socket, TURNED_AWAY_WITHIN).await;
    closed_with(&ending, CloseCode::Protocol, "first frame must be Hello");
    let mut socket = raw::session(&addr).await;
    use futures_util::SinkExt;
    socket
        .send(tokio_tungstenite::tungstenite::Message::text("{}"))
        .await
        .unwrap();
    let ending = raw::read_to_end(&mut socket, TURNED_AWAY_WITHIN).await;
    closed_with(&ending, CloseCode::Unsupported, "text frames");

    // An upgraded connection that never says Hello.
    let mut socket = raw::connect(&addr, "/v1/client").await.unwrap();
    let ending = raw::read_to_end(&mut socket, TURNED_AWAY_WITHIN).await;
    closed_with(&ending, CloseCode::Policy, "no Hello in time");

    // Connections that start a large first message and never finish it
    // (half of them after a ping): before its Hello a connection takes at
    // most the handshake limit, so each is cut off at its frame header (at
    // the frame limit, 240 of them held over 200 MiB).
    let before = cluster.rss_bytes(1).expect("member alive");
    let mut hoarders = Vec::new();
    for i in 0..240 {
        let from = format!("127.0.1.{}", 1 + i / 60);
        let mut socket = raw::connect_from(&from, &addr, "/v1/client").await.unwrap();
        let stream = socket.get_mut();
        if i % 2 == 0 {
            // A ping first does not lift the limit either.
            let _ = stream.write_all(&[0x89, 0x80, 1, 2, 3, 4]).await;
        }
        let _ = stream
            .write_all(&masked_header(FRAME_BYTES_MAX as u64 - 1))
            .await;
        let _ = stream.write_all(&vec![7u8; 900 * 1024]).await;
        hoarders.push(socket);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let grown = cluster
        .rss_bytes(1)
        .expect("member alive")
        .saturating_sub(before);
    assert!(
        grown < 48 * MIB,
        "240 half-sent first messages took {} MiB",
        grown / MIB
    );
    for mut socket in hoarders {
        let ending = raw::read_to_end(&mut socket, TURNED_AWAY_WITHIN).await;
        assert!(ending.closed, "{ending:?}");
    }

    // Slowloris: silence, half a request line, half a head, on each path.
    let partial: [&[u8]; 5] = [
        b"",
        b"GET /v1/cli",
        b"GET /v1/client HTTP/1.1\r\nHost: x\r\n",
        b"GET /v1/raft HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n",
        b"GET /health HTTP/1.1\r\nHost: x\r\n",
    ];
    let mut slow = Vec::new();
    for bytes in partial {
        let mut stream = raw::tcp_from("127.0.0.1", &addr).await.unwrap();
        stream.write_all(bytes).await.unwrap();
        slow.push(tokio::spawn(async move {
            let mut buffer = [0u8; 1024];
            // Closed means a read of 0 bytes (or an error) before the deadline.
            loop {
                match tokio::time::timeout(TURNED_AWAY_WITHIN, stream.read(&mut buffer)).await {
                    Ok(Ok(0)) | Ok(Err(_)) => return true,
                    Ok(Ok(_)) => continue,
                    Err(_) => return false,
                }
            }
        }));
    }
    for (bytes, closed) in partial.iter().zip(slow) {
        let text = String::from_utf8_lossy(bytes);
        assert!(closed.await.unwrap(), "{text:?} held its connection open");
    }

    // A flood of connections from one address: past its cap each is
    // answered 503 at once, and clients from other addresses carry on.
    let mut flood = Vec::new();
    for _ in 0..100 {
        flood.push(raw::tcp_from("127.0.0.2", &addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut turned_away = 0;
    for stream in &mut flood {
        let mut first = [0u8; 12];
        let read = tokio::time::timeout(Duration::from_millis(10), stream.read(&mut first)).await;
        if let Ok(Ok(n)) = read {
            assert_eq!(&first[..n], &b"HTTP/1.1 503"[..n]);
            turned_away += 1;
        }
    }
    assert_eq!(turned_away, 100 - 64, "of 100 connections over a cap of 64");
    let client = Client::connect([cluster.url(1)]).await.unwrap();
    assert_eq!(
        client
            .get_atomic_long("after-flood")
            .increment_and_get()
            .await
            .unwrap(),
        1
    );
    drop(flood);

    budget.check(&cluster, 64 * MIB, MIB);
    bystander.finish().await;
}

/// Keeps every connection place of the member at `addr` taken, as a flood
/// from many addresses would: `attackers` tasks, each opening a connection
/// from its own 127.0.3.x address, holding it until the member drops it
/// (its head deadline) and opening the next at once.
fn flood_connections(addr: &str, attackers: u8, stop: Arc<AtomicBool>) -> Vec<JoinHandle<()>> {
    (1..=attackers)
        .map(|k| {
            let (addr, stop) = (addr.to_owned(), stop.clone());
            tokio::spawn(async move {
                let from = format!("127.0.3.{k}");
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(mut stream) = raw::tcp_from(&from, &addr).await {
                        let mut buffer = [0u8; 512];
                        while !stop.load(Ordering::Relaxed) {
                            let read = stream.read(&mut buffer);
                            if let Ok(Ok(0) | Err(_)) =
                                tokio::time::timeout(Duration::from_millis(100), read).await
                            {
                                break;
                            }
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            })
        })
        .collect()
}

/// Clients that take every connection place of the leader cannot cut the
/// other members off from it: a restarted follower still reaches the
/// leader through the places reserved for members (without them, it could
/// not forward a single write).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(debug_assertions, ignore = "release builds only: scripts/test runs it")]
async fn members_reach_each_other_past_the_connection_caps() {
    let mut cluster = TestCluster::prepare("hostile-peer-reserve", Timings::default());
    cluster.set_extra_args(&["--max-connections", "16"]);
    cluster.start_all();
    let bystander = Bystander::start(&cluster).await;
    let budget = Budget::start(&cluster);
    let leader = cluster.wait_for_leader(Duration::from_secs(30));
    let follower = cluster.follower();

    let stop = Arc::new(AtomicBool::new(false));
    let attackers = flood_connections(&cluster.addrs[&leader], 48, stop.clone());
    tokio::time::sleep(Duration::from_secs(2)).await;
    // A fresh process: it has no link to the leader and must dial one.
    cluster.kill(follower);
    cluster.start_node(follower);
    while cluster.health(follower).is_none() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Raw, so that it stays on the follower (a client moves to the leader).
    let mut socket = raw::session(&cluster.addrs[&follower]).await;
    for id in 1..=10 {
        let increment = Op::AtomicLong {
            name: "through-the-follower".into(),
            op: LongOp::AddAndGet(1),
        };
        let result = raw::call(&mut socket, id, increment).await;
        assert_eq!(result, Ok(Reply::Long(id as i64)));
    }
    stop.store(true, Ordering::Relaxed);
    for attacker in attackers {
        attacker.await.unwrap();
    }

    // The flood's last connections end by the member's head deadline.
    tokio::time::sleep(Duration::from_secs(6)).await;
    budget.check(&cluster, 64 * MIB, MIB);
    bystander.finish().await;
}

/// Requests are checked in the gateway: what is invalid is refused with a
/// typed error and never reaches the Raft log; malformed or overfull
/// messages close their own connection only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(debug_assertions, ignore = "release builds only: scripts/test runs it")]
async fn request_attacks() {
    let cluster = TestCluster::start("hostile-requests");
    let bystander = Bystander::start(&cluster).await;
    let budget = Budget::start(&cluster);
    let addr = cluster.addrs[&1].clone();
    let mut socket = raw::session(&addr).await;
    let long = |name: String| Op::AtomicLong {
        name,
        op: LongOp::AddAndGet(1),
    };
    let set = |value: Value| Op::AtomicReference {
        name: "r".into(),
        op: RefOp::Set(Some(value)),
    };

    // An oversize name, an oversize value (twenty times: 6 MB if logged),
    // zero permits, and an acknowledgement listing too many requests.
    let result = raw::call(&mut socket, 1, long("n".repeat(300))).await;
    assert!(
        matches!(result, Err(OpError::InvalidName { .. })),
        "{result:?}"
    );
    for id in 2..22 {
        let result = raw::call(&mut socket, id, set(Value::Bytes(vec![7; 300_000]))).await;
        assert!(
            matches!(result, Err(OpError::ValueTooLarge { .. })),
            "{result:?}"
        );
    }
    let acquire = Op::Semaphore {
        name: "s".into(),
        handle: raftcp_proto::HandleId(1),
        op: SemaphoreOp::Acquire {
            permits: 0,
            timeout_ms: Some(0),
        },
    };
    let result = raw::call(&mut socket, 22, acquire).await;
    assert!(
        matches!(result, Err(OpError::InvalidArgument { .. })),
        "{result:?}"
    );
    let overlong = raftcp_proto::Request {
        id: RequestId(500),
        group: raftcp_proto::GroupName::default_group(),
        acked_below: RequestId(1_200),
        acked_except: (1..=1_100).map(RequestId).collect(),
        op: long("n".into()),
    };
    let bytes = raw::encode_unbounded(&ClientFrame::Request(overlong));
    let result = raw::call_bytes(&mut socket, 500, bytes).await;
    assert!(
        matches!(result, Err(OpError::InvalidArgument { .. })),
        "{result:?}"
    );

    // A megabyte group name is refused, not echoed back.
    let mut in_group = raftcp_proto::Request {
        id: RequestId(501),
        group: raftcp_proto::GroupName("g".repeat(1_000_000)),
        acked_below: RequestId(0),
        acked_except: vec![],
        op: long("n".into()),
    };
    let bytes = raw::encode_unbounded(&ClientFrame::Request(in_group.clone()));
    let result = raw::call_bytes(&mut socket, 501, bytes).await;
    assert!(
        matches!(result, Err(OpError::InvalidName { .. })),
        "{result:?}"
    );
    in_group.id = RequestId(502);
    in_group.group = raftcp_proto::GroupName("elsewhere".into());
    let bytes = raw::encode_unbounded(&ClientFrame::Request(in_group));
    let result = raw::call_bytes(&mut socket, 502, bytes).await;
    assert!(
        matches!(result, Err(OpError::UnknownGroup { .. })),
        "{result:?}"
    );

    // One session queues at most 1,024 waiting requests: behind a lock
    // another session holds, the 1,025th is refused.
    let mut holder = raw::session(&addr).await;
    let take = |handle: u64| Op::Lock {
        name: "held".into(),
        handle: raftcp_proto::HandleId(handle),
        op: raftcp_proto::LockOp::Lock {
            timeout_ms: None,
            reentrancy_limit: 0,
        },
    };
    let held = raw::call(&mut holder, 1, take(1)).await;
    assert!(matches!(held, Ok(Reply::Fence(Some(_)))), "{held:?}");
    let waits: Vec<u8> = (0..1_024u64)
        .flat_map(|i| raw::request(700 + i, take(100 + i)))
        .collect();
    raw::send(&mut socket, waits).await.unwrap();
    let result = raw::call(&mut socket, 1_800, take(99)).await;
    assert!(
        matches!(
            result,
            Err(OpError::TooManyWaitingRequests { max: 1_024, .. })
        ),
        "{result:?}"
    );

    // Cancels of ids nothing waits under: 409,600 of them, no log entries.
    let cancels: Vec<u8> = (0..8192u64)
        .flat_map(|id| {
            raftcp_proto::encode(&ClientFrame::Cancel {
                id: RequestId(1_000_000 + id),
            })
            .unwrap()
        })
        .collect();
    for _ in 0..50 {
        raw::send(&mut socket, cancels.clone()).await.unwrap();
    }
    let result = raw::call(&mut socket, 600, long("after-cancels".into())).await;
    assert_eq!(result, Ok(Reply::Long(1)));

    // A value nested 40 deep does not decode: the connection closes.
    let mut deep = Value::Null;
    for _ in 0..40 {
        deep = Value::List(vec![deep]);
    }
    raw::send(&mut socket, raw::request(601, set(deep)))
        .await
        .unwrap();
    let ending = raw::read_to_end(&mut socket, TURNED_AWAY_WITHIN).await;
    closed_with(&ending, CloseCode::Invalid, "malformed");

    // More frames in one message than allowed, and an oversize message.
    let mut socket = raw::session(&addr).await;
    let heartbeat = raftcp_proto::encode(&ClientFrame::Heartbeat).unwrap();
    raw::send(&mut socket, heartbeat.repeat(8193))
        .await
        .unwrap();
    let ending = raw::read_to_end(&mut socket, TURNED_AWAY_WITHIN).await;
    closed_with(&ending, CloseCode::Invalid, "more than 8192 frames");
    let mut socket = raw::session(&addr).await;
    let _ = raw::send(&mut socket, vec![0u8; 2 * MIB as usize]).await;
    let ending = raw::read_to_end(&mut socket, TURNED_AWAY_WITHIN).await;
    closed_with(&ending, CloseCode::Size, "too large");

    // New tokens beyond the allowance (each costs a signature check).
    let mut socket = raw::session(&addr).await;
    let token = ClientFrame::Authenticate {
        token: "t".repeat(1000),
    };
    let tokens = raftcp_proto::encode(&token).unwrap().repeat(1000);
    raw::send(&mut socket, tokens).await.unwrap();
    let ending = raw::read_to_end(&mut socket, TURNED_AWAY_WITHIN).await;
    closed_with(&ending, CloseCode::Policy, "new tokens");

    budget.check(&cluster, 64 * MIB, MIB);
    bystander.finish().await;
}

/// Asserts a slow reader's end: closed, and with 1008 ("not being read")
/// when a close frame came (it does when the client reads again in time).
fn closed_as_slow_reader(ending: &Ending) {
    assert!(ending.closed, "a slow reader stayed connected: {ending:?}");
    if let Some(code) = ending.code {
        assert_eq!(code, CloseCode::Policy, "{ending:?}");
        assert!(
            ending
                .error_text()
                .unwrap_or_default()
                .contains("not being read")
        );
    }
}

/// A client that does not read its replies fills its bounded outbox and is
/// closed, whether it floods heartbeats or large reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(debug_assertions, ignore = "release builds only: scripts/test runs it")]
async fn slow_readers_are_closed() {
    let cluster = TestCluster::start("hostile-slow-readers");
    let bystander = Bystander::start(&cluster).await;
    let budget = Budget::start(&cluster);
    let addr = cluster.addrs[&1].clone();

    // Heartbeats, 8,192 a message, never reading an acknowledgement: six
    // such megabytes once took a member from 69 to 695 MiB.
    let mut socket = raw::session(&addr).await;
    let heartbeats = raftcp_proto::encode(&ClientFrame::Heartbeat)
        .unwrap()
        .repeat(8192);
    for _ in 0..2_000 {
        let send = raw::send(&mut socket, heartbeats.clone());
        match tokio::time::timeout(Duration::from_secs(2), send).await {
            Ok(Ok(())) => {}
            _ => break, // Closed, or the member stopped reading: done.
        }
    }
    let ending = raw::read_to_end(&mut socket, Duration::from_secs(60)).await;
    closed_as_slow_reader(&ending);

    // Large reads never read: a 200 KB value, fetched 1,000 times.
    let mut writer = raw::session(&addr).await;
    let set = Op::AtomicReference {
        name: "big".into(),
        op: RefOp::Set(Some(Value::Bytes(vec![1; 200_000]))),
    };
    assert_eq!(raw::call(&mut writer, 1, set).await, Ok(Reply::Unit));
    let mut socket = raw::session(&addr).await;
    for id in 1..=1_000 {
        let get = Op::AtomicReference {
            name: "big".into(),
            op: RefOp::Get,
        };
        let send = raw::send(&mut socket, raw::request(id, get));
        match tokio::time::timeout(Duration::from_secs(2), send).await {
            Ok(Ok(())) => {}
            _ => break,
        }
    }
    // Requests are tiny, so all went out at once: now not reading for a
    // while (shorter than the idle timeout) is what lets replies pile up.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let ending = raw::read_to_end(&mut socket, Duration::from_secs(60)).await;
    closed_as_slow_reader(&ending);

    budget.check(&cluster, 96 * MIB, MIB);
    bystander.finish().await;
}

/// A watch frame on a connection.
fn watch_frame(watch: u64, kind: ObjectKind, name: &str) -> Vec<u8> {
    let request = WatchRequest {
        watch: WatchId(watch),
        group: GroupName::default_group(),
        kind,
        name: name.to_owned(),
        after: None,
    };
    raftcp_proto::encode(&ClientFrame::Watch(request)).unwrap()
}

/// Watchers that never read, on a value that keeps changing, cost the
/// member a bounded amount of memory (their changes coalesce, marked
/// `jump`); watch counts are capped; a flood of watch and unwatch frames
/// leaves nothing registered. A well-behaved watcher of the same object
/// still ends at its last value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(debug_assertions, ignore = "release builds only: scripts/test runs it")]
async fn watch_attacks() {
    use futures_util::StreamExt;
    let cluster = TestCluster::start("hostile-watch");
    let bystander = Bystander::start(&cluster).await;
    let budget = Budget::start(&cluster);
    let addr = cluster.addrs[&1].clone();
    let max = raftcp_proto::limits::WATCHES_PER_SESSION_MAX as u64;

    // Ten connections, each watching one large reference 64 times, never
    // reading; one more watch each is refused.
    let mut silent = Vec::new();
    for _ in 0..10 {
        let mut socket = raw::session(&addr).await;
        let frames: Vec<u8> = (1..=max + 1)
            .flat_map(|watch| watch_frame(watch, ObjectKind::AtomicReference, "watched-big"))
            .collect();
        raw::send(&mut socket, frames).await.unwrap();
        silent.push(socket);
    }
    let honest = Client::connect([cluster.url(1)]).await.unwrap();
    let mut changes = honest
        .get_value_reference("watched-big")
        .watch()
        .await
        .unwrap();
    let writer = Client::connect(cluster.urls()).await.unwrap();
    let big = writer.get_value_reference("watched-big");
    for round in 0..150u8 {
        big.set(Some(Value::Bytes(vec![round; 200_000])))
            .await
            .unwrap();
    }
    // The honest watcher reaches the last value, in order.
    let mut last = None;
    while last != Some(149) {
        let change = tokio::time::timeout(Duration::from_secs(60), changes.next())
            .await
            .expect("a change in time")
            .expect("the stream goes on")
            .expect("a change");
        let value = match &change.value {
            Some(Value::Bytes(bytes)) => Some(bytes[0]),
            _ => None,
        };
        assert!(value >= last, "{value:?} after {last:?}");
        last = value;
    }
    budget.check(&cluster, 160 * MIB, 40 * MIB);
    // The silent ones were told the 65th watch was one too many.
    let mut socket = silent.pop().unwrap();
    let ending = raw::read_to_end(&mut socket, Duration::from_secs(5)).await;
    let refused = ending.frames.iter().any(|frame| {
        matches!(
            frame,
            ServerFrame::Event(Event::WatchEnded(WatchEnded {
                error: OpError::TooManyWatches { .. },
                ..
            }))
        )
    });
    assert!(refused, "{ending:?}");
    drop(silent);
    drop(changes);

    // Watch and unwatch, 4,000 times over, in a few messages.
    let mut socket = raw::session(&addr).await;
    let unwatch = |watch| {
        raftcp_proto::encode(&ClientFrame::Unwatch {
            watch: WatchId(watch),
        })
        .unwrap()
    };
    for round in 0..10u64 {
        let frames: Vec<u8> = (0..400)
            .flat_map(|i| {
                let watch = round * 400 + i;
                let mut both = watch_frame(watch, ObjectKind::AtomicLong, "churn");
                both.extend(unwatch(watch));
                both
            })
            .collect();
        raw::send(&mut socket, frames).await.unwrap();
    }
    drop(socket);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while cluster.gauge(1, "raftcp_watchers") != Some(0) {
        assert!(std::time::Instant::now() < deadline, "watchers left behind");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bystander.finish().await;
}

/// Extreme arguments on every primitive are refused or absorbed without
/// breaking an invariant: after snapshots and a crash of every member, the
/// cluster starts again. `increase(MAX)`, `acquire(MAX)`, `increase(1)`,
/// `acquire(1)` once wrapped a handle's permits to zero and left every
/// member unable to restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(debug_assertions, ignore = "release builds only: scripts/test runs it")]
async fn arithmetic_extremes_cannot_break_the_machine() {
    let timings = Timings {
        snapshot_every: 20,
        ..Timings::default()
    };
    let mut cluster = TestCluster::start_with("hostile-arithmetic", timings);
    let bystander = Bystander::start(&cluster).await;
    let budget = Budget::start(&cluster);
    let client = Client::connect(cluster.urls()).await.unwrap();
    let code = |result: Result<(), raftcp::Error>| match result {
        Err(raftcp::Error::Server(e)) => e.code(),
        other => panic!("expected a refusal, got {other:?}"),
    };

    let semaphore = client.get_semaphore("S");
    semaphore.increase_permits(u32::MAX).await.unwrap();
    semaphore.acquire_many(u32::MAX).await.unwrap();
    assert_eq!(
        code(semaphore.increase_permits(1).await),
        "INVALID_ARGUMENT"
    );
    assert!(!semaphore.try_acquire().await.unwrap());
    assert_eq!(semaphore.available_permits().await.unwrap(), 0);
    let other = client.get_semaphore("S");
    assert_eq!(code(other.release_many(u32::MAX).await), "NOT_OWNER");
    semaphore.reduce_permits(u32::MAX).await.unwrap();
    semaphore.release_many(u32::MAX).await.unwrap();
    assert_eq!(semaphore.available_permits().await.unwrap(), u32::MAX);

    let long = client.get_atomic_long("L");
    long.set(i64::MAX).await.unwrap();
    assert_eq!(long.add_and_get(i64::MAX).await.unwrap(), -2); // Java's wrap
    assert_eq!(long.add_and_get(i64::MIN).await.unwrap(), i64::MAX - 1);

    let latch = client.get_count_down_latch("D");
    assert!(latch.try_set_count(u32::MAX).await.unwrap());
    latch.count_down().await.unwrap();
    assert_eq!(latch.get_count().await.unwrap(), u32::MAX - 1);

    let lock = client.get_fenced_lock("K");
    let fence = lock.lock().await.unwrap();
    assert!(fence.0 > 0);

    // Enough entries for several snapshots, then every member crashes.
    for _ in 0..60 {
        long.get().await.unwrap();
        semaphore.available_permits().await.unwrap();
        long.increment_and_get().await.unwrap();
    }
    budget.check(&cluster, 64 * MIB, 4 * MIB);
    bystander.finish().await;
    client.close().await;
    cluster.crash_and_restart_all();
    let client = Client::connect(cluster.urls()).await.unwrap();
    let semaphore = client.get_semaphore("S");
    assert_eq!(semaphore.available_permits().await.unwrap(), u32::MAX);
    assert_eq!(
        client.get_count_down_latch("D").get_count().await.unwrap(),
        u32::MAX - 1
    );
    client.close().await;
}
