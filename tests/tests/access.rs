//! Who may connect: members refuse to start open to anonymous clients on
//! the network or without a cluster secret, browser pages from other
//! origins cannot open a WebSocket (WebSockets are not covered by CORS)
//! while the members' own pages (the www dashboard) can, and a session
//! belongs to whoever holds its resume secret.

#![allow(clippy::unwrap_used)]

use raftcp_proto::{HandleId, LockOp, Op, OpError, Reply, ResumeSecret, ServerFrame};
use raftcp_tests::{
    TestCluster, Timings, free_ports, http_exchange, raw, scratch_dir, server_binary,
};
use std::process::Command;
use std::time::Duration;

/// Runs `raftcp serve` with `args`, expecting it to refuse to start.
fn refused_start(args: &[&str]) -> String {
    let dir = scratch_dir("refused-start");
    let output = Command::new(server_binary())
        .arg("serve")
        .args(["--data", dir.join("data").to_str().unwrap()])
        .args(args)
        .output()
        .unwrap();
    assert!(!output.status.success(), "it started: {output:?}");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_member_refuses_to_start_open_to_anyone() {
    let port = free_ports(2);
    let public = format!("1=0.0.0.0:{}", port[0]);
    let said = refused_start(&["--node-id", "1", "--peers", &public]);
    assert!(said.contains("--allow-anonymous"), "{said}");

    let pair = format!("1=127.0.0.1:{},2=127.0.0.1:{}", port[0], port[1]);
    let said = refused_start(&["--node-id", "1", "--peers", &pair]);
    assert!(said.contains("--cluster-secret-file"), "{said}");

    let dir = scratch_dir("short-secret");
    let secret = dir.join("secret");
    std::fs::write(&secret, "guessable\n").unwrap();
    let said = refused_start(&[
        "--node-id",
        "1",
        "--peers",
        &pair,
        "--cluster-secret-file",
        secret.to_str().unwrap(),
    ]);
    assert!(said.contains("at least 32"), "{said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_from_other_origins_cannot_connect() {
    let mut cluster = TestCluster::prepare("origins", Timings::default());
    cluster.set_extra_args(&["--allowed-origin", "https://app.example.com"]);
    cluster.start_all();
    let addr = cluster.addrs[&1].clone();

    // A page elsewhere, on this machine (another port) or on a name that
    // resolves here, is refused before the upgrade.
    let port = addr.rsplit_once(':').unwrap().1;
    for origin in [
        "http://127.0.0.1:9".to_owned(),
        format!("http://rebound.example:{port}"),
        "null".to_owned(),
    ] {
        let refused = raw::connect_as_page(&addr, "/v1/client", &origin).await;
        let error = refused
            .err()
            .unwrap_or_else(|| panic!("{origin} connected"));
        assert!(error.contains("403"), "{origin}: {error}");
    }
    // No page may open a peer link.
    let own = format!("http://{addr}");
    let refused = raw::connect_as_page(&addr, "/v1/raft", &own).await;
    assert!(refused.is_err(), "a page opened a peer link");

    // The member's own pages, another member's (each serves the
    // dashboard, whose client fails over), allowed origins and non-browser
    // clients (no Origin) are served.
    let other_member = format!("http://{}", cluster.addrs[&2]);
    for origin in [own.as_str(), &other_member, "https://app.example.com"] {
        let mut socket = raw::connect_as_page(&addr, "/v1/client", origin)
            .await
            .unwrap();
        raw::send(&mut socket, raw::hello("page")).await.unwrap();
        let ending = raw::read_to_end(&mut socket, Duration::from_secs(2)).await;
        let welcomed = matches!(ending.frames.first(), Some(ServerFrame::Welcome(_)));
        assert!(welcomed, "{origin}: {ending:?}");
    }
    raw::session(&addr).await;
}

/// The plain HTTP side of a member's port: without `--www`, `/` says how
/// to build the dashboard, under a policy that keeps it out of other
/// sites' frames; another member's page may read `/health` (the dashboard
/// shows every member's), other pages may not; only GET and HEAD.
#[test]
fn a_members_pages_and_who_may_read_them() {
    let cluster = TestCluster::start("http-pages");
    let addr = cluster.addrs[&1].clone();
    let get = |path: &str, origin: &str| {
        let head = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\norigin: {origin}\r\n");
        http_exchange(&addr, &head).unwrap()
    };
    let other_member = format!("http://{}", cluster.addrs[&2]);
    let page = get("/", &other_member);
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("scripts/build-www"), "{page}");
    assert!(page.contains("frame-ancestors 'none'"), "{page}");
    assert!(page.contains("x-content-type-options: nosniff"), "{page}");

    let health = get("/health", &other_member);
    let allowed = format!("access-control-allow-origin: {other_member}\r\n");
    assert!(health.contains(&allowed), "{health}");
    let elsewhere = get("/health", "http://127.0.0.1:9");
    assert!(
        !elsewhere.contains("access-control-allow-origin"),
        "{elsewhere}"
    );

    let missing = get("/app.js", &other_member);
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
    let post = http_exchange(&addr, "POST /health HTTP/1.1\r\ncontent-length: 0\r\n").unwrap();
    assert!(post.starts_with("HTTP/1.1 405"), "{post}");
}

/// A session id is not a capability: an attacker who knows the victim's
/// session id (ids are log positions, and `/health` shows the log's) and
/// resumes it without the secret is refused, and the victim's lock stays
/// the victim's. The victim itself resumes with its secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_is_resumed_only_with_its_secret() {
    let cluster = TestCluster::start("resume-secret");
    let leader = cluster.wait_for_leader(Duration::from_secs(30));
    let addr = cluster.addrs[&leader].clone();
    let lock_op = |op| Op::Lock {
        name: "victim-lock".into(),
        handle: HandleId(1),
        op,
    };
    let lock = lock_op(LockOp::Lock {
        timeout_ms: None,
        reentrancy_limit: 1,
    });
    let (mut victim, welcome) = raw::welcomed(&addr, raw::hello("victim")).await;
    let fence = raw::call(&mut victim, 1, lock).await.unwrap();
    assert!(matches!(fence, Reply::Fence(Some(_))), "{fence:?}");

    for guess in [ResumeSecret([0; 16]), ResumeSecret([0xff; 16])] {
        let mut attacker = raw::connect(&addr, "/v1/client").await.unwrap();
        raw::send(&mut attacker, raw::resume(welcome.session, guess))
            .await
            .unwrap();
        let ending = raw::read_to_end(&mut attacker, Duration::from_secs(10)).await;
        let refused = matches!(ending.frames.first(), Some(ServerFrame::Refused { .. }));
        assert!(refused && ending.closed, "{ending:?}");
    }

    // The victim, on a new connection, resumes with its secret: its
    // session and its lock are still its own.
    drop(victim);
    let resume = raw::resume(welcome.session, welcome.resume_secret);
    let (mut resumed, again) = raw::welcomed(&addr, resume).await;
    assert_eq!(again.session, welcome.session);
    let unlocked = raw::call(&mut resumed, 2, lock_op(LockOp::Unlock)).await;
    assert_eq!(unlocked, Ok(Reply::Unit));
    let unlocked = raw::call(&mut resumed, 3, lock_op(LockOp::Unlock)).await;
    assert!(
        matches!(unlocked, Err(OpError::NotOwner { .. })),
        "{unlocked:?}"
    );
}

/// A client of an older protocol, whose `Hello` no longer decodes, is told
/// which version the member speaks rather than that its frame is malformed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_client_is_refused_by_version() {
    let cluster = TestCluster::start("older-client");
    let addr = cluster.addrs[&1].clone();
    // Protocol 2's Hello resuming session 12.
    let older = vec![0x00, 0x02, 0x01, 0x63, 0x01, 0x0c, 0x00];
    let mut socket = raw::connect(&addr, "/v1/client").await.unwrap();
    raw::send(&mut socket, older).await.unwrap();
    let ending = raw::read_to_end(&mut socket, Duration::from_secs(10)).await;
    let said = ending.error_text().unwrap_or_default();
    assert!(
        said.contains("protocol version 2 is not supported"),
        "{ending:?}"
    );
}

/// A `wss://` endpoint asked for encryption: the native client opens
/// every connection to it with a TLS handshake, never in the clear.
#[tokio::test]
async fn the_native_client_never_downgrades_wss() {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let client = raftcp::Client::builder()
        .endpoints([format!("wss://{addr}")])
        .request_timeout(Duration::from_secs(2))
        .connect()
        .await
        .unwrap();
    let call = tokio::spawn(async move { client.get_atomic_long("x").get().await });
    let (mut stream, _) = listener.accept().await.unwrap();
    let mut first = [0u8; 3];
    stream.read_exact(&mut first).await.unwrap();
    // A TLS record carrying a handshake (ClientHello), not `GET /`.
    assert_eq!(first[..2], [0x16, 0x03], "{first:?}");
    drop(stream);
    assert!(call.await.unwrap().is_err());
}
