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

    // Without --www, `/` says how to add the dashboard, under the pages'
    // policy.
    let page = raftcp_tests::http_get(&addr, "/").unwrap();
    assert!(page.contains("scripts/dev"), "{page}");
}

/// The plain HTTP side of a member's port with the dashboard (`--www`):
/// pages under a policy that keeps them out of other sites' frames and lets
/// them reach the members only, gzipped copies for browsers that take them,
/// hidden files never served; another member's page may read `/health`
/// (the dashboard shows every member's), other pages, allowed ones
/// included, may not; only GET and HEAD; a head that never ends is dropped.
#[test]
fn a_members_pages_and_who_may_read_them() {
    let www = scratch_dir("http-pages-www");
    std::fs::write(www.join("index.html"), "<title>dashboard</title>").unwrap();
    std::fs::write(www.join("index.html.gz"), b"pretend gzip").unwrap();
    std::fs::write(www.join("app.js"), "export {};").unwrap();
    std::fs::write(www.join(".env"), "SECRET=1").unwrap();
    let mut cluster = TestCluster::prepare("http-pages", Timings::default());
    let www_arg = www.to_str().unwrap();
    cluster.set_extra_args(&[
        "--www",
        www_arg,
        "--allowed-origin",
        "https://app.example.com",
    ]);
    cluster.start_all();
    cluster.wait_for_leader(Duration::from_secs(30));
    let addr = cluster.addrs[&1].clone();
    let exchange = |head: &str| http_exchange(&addr, &format!("{head}host: {addr}\r\n")).unwrap();
    let get = |path: &str, headers: &str| exchange(&format!("GET {path} HTTP/1.1\r\n{headers}"));

    let page = get("/", "");
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.ends_with("\r\n\r\n<title>dashboard</title>"), "{page}");
    assert!(page.contains("frame-ancestors 'none'"), "{page}");
    let other_member = cluster.addrs[&2].clone();
    assert!(page.contains(&format!(" ws://{other_member}")), "{page}");
    assert!(!page.contains("connect-src 'self' ws:;"), "{page}");
    assert!(page.contains("vary: accept-encoding"), "{page}");
    let gzipped = get("/", "accept-encoding: br, gzip\r\n");
    assert!(gzipped.contains("content-encoding: gzip\r\n"), "{gzipped}");
    assert!(gzipped.ends_with("\r\n\r\npretend gzip"), "{gzipped}");
    let refused = get("/", "accept-encoding: gzip;q=0\r\n");
    assert!(!refused.contains("content-encoding"), "{refused}");
    let head = exchange("HEAD / HTTP/1.1\r\n");
    assert!(head.contains("content-length: 24\r\n"), "{head}");
    assert!(head.ends_with("\r\n\r\n"), "{head}");
    let script = get("/app.js", "");
    assert!(
        script.contains("content-security-policy: default-src 'none'"),
        "{script}"
    );
    assert!(get("/.env", "").starts_with("HTTP/1.1 404"));

    let member_page = format!("http://{other_member}");
    let health = get("/health", &format!("origin: {member_page}\r\n"));
    let allowed = format!("access-control-allow-origin: {member_page}\r\n");
    assert!(health.contains(&allowed), "{health}");
    assert!(health.contains("vary: origin"), "{health}");
    for other in ["http://127.0.0.1:9", "https://app.example.com"] {
        let answer = get("/health", &format!("origin: {other}\r\n"));
        assert!(
            !answer.contains("access-control-allow-origin"),
            "{other}: {answer}"
        );
    }

    let post = exchange("POST /health HTTP/1.1\r\ncontent-length: 0\r\n");
    assert!(post.starts_with("HTTP/1.1 405"), "{post}");
    assert!(post.contains("allow: GET, HEAD\r\n"), "{post}");
    let endless = format!("GET / HTTP/1.1\r\nx: {}\r\n", "a".repeat(20_000));
    // Dropped unanswered (a reset, or a close with nothing said).
    let dropped = http_exchange(&addr, &endless).unwrap_or_default();
    assert!(dropped.is_empty(), "{dropped}");
    std::fs::remove_dir_all(www).unwrap();
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
