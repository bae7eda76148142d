//! Client tokens against real members started with `--auth-jwks`: keys and
//! tokens made by the `raftcp auth` CLI, checked per operation before
//! anything is proposed, refreshed on a live session, and sessions bound to
//! the subject that opened them.

#![allow(clippy::unwrap_used)]

use raftcp::{Client, Error};
use raftcp_proto::{OpError, ServerFrame};
use raftcp_server::auth::mint;
use raftcp_tests::{TestCluster, Timings, raw, scratch_dir, server_binary};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// A cluster whose members take tokens signed by a key made with
/// `raftcp auth keygen` in the returned directory.
fn cluster_with_tokens(name: &str) -> (TestCluster, PathBuf) {
    let keys = scratch_dir(&format!("{name}-keys"));
    let made = Command::new(server_binary())
        .args(["auth", "keygen", "--dir", keys.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let mut cluster = TestCluster::prepare(name, Timings::default());
    let jwks = keys.join(mint::JWKS_FILE);
    cluster.set_extra_args(&["--auth-jwks", jwks.to_str().unwrap()]);
    cluster.start_all();
    (cluster, keys)
}

/// A token from `raftcp auth token`.
fn token(keys: &Path, subject: &str, rules: &[&str]) -> String {
    let key = keys.join(mint::SIGNING_KEY_FILE);
    let mut command = Command::new(server_binary());
    command.args(["auth", "token", "--key", key.to_str().unwrap()]);
    command.args(["--subject", subject, "--ttl", "1h"]);
    for rule in rules {
        command.args(["--allow", rule]);
    }
    let output = command.output().unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

fn now_s() -> u64 {
    raftcp_server::auth::now_s()
}

async fn connect(cluster: &TestCluster, token: &str) -> Client {
    Client::builder()
        .endpoints(cluster.urls())
        .token(token)
        .request_timeout(Duration::from_secs(20))
        .connect()
        .await
        .unwrap()
}

fn denied<T: std::fmt::Debug>(result: Result<T, Error>) {
    assert!(
        matches!(result, Err(Error::Server(OpError::PermissionDenied { .. }))),
        "{result:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_allows_exactly_its_rules() {
    let (cluster, keys) = cluster_with_tokens("token-rules");
    let jobs = connect(
        &cluster,
        &token(&keys, "worker", &["lock:jobs/*", "long:stats:read"]),
    )
    .await;
    let admin = connect(&cluster, &token(&keys, "admin", &["*:*"])).await;

    let lock = jobs.get_fenced_lock("jobs/a");
    lock.lock().await.unwrap();
    lock.unlock().await.unwrap();
    denied(jobs.get_fenced_lock("jobs2/a").lock().await);
    denied(jobs.get_atomic_long("jobs/a").increment_and_get().await);
    // `:read` allows get, not set.
    admin.get_atomic_long("stats").set(7).await.unwrap();
    assert_eq!(jobs.get_atomic_long("stats").get().await.unwrap(), 7);
    denied(jobs.get_atomic_long("stats").set(8).await);

    // The refused operations had no effect.
    assert!(!admin.get_fenced_lock("jobs2/a").is_locked().await.unwrap());
    assert_eq!(admin.get_atomic_long("jobs/a").get().await.unwrap(), 0);
    assert_eq!(admin.get_atomic_long("stats").get().await.unwrap(), 7);

    // Operating the cluster takes the `admin` rule; `*:*` is not enough,
    // also from this machine.
    denied(admin.admin().members().await);
    denied(
        jobs.admin()
            .close_session(raftcp::proto::SessionId(1))
            .await,
    );
    let operator = connect(&cluster, &token(&keys, "operator", &["admin"])).await;
    assert_eq!(operator.admin().members().await.unwrap().members.len(), 3);
    denied(operator.get_atomic_long("stats").get().await);
    jobs.close().await;
    admin.close().await;
    operator.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_expired_and_foreign_tokens_are_refused() {
    let (cluster, keys) = cluster_with_tokens("token-refused");
    let addr = cluster.addrs[&1].clone();
    let key = keys.join(mint::SIGNING_KEY_FILE);
    let expired = mint::token(&key, "late", &["*:*".into()], now_s() - 3_600, 60).unwrap();
    let other_keys = scratch_dir("token-foreign-keys");
    mint::keygen(&other_keys).unwrap();
    let foreign = mint::token(
        &other_keys.join(mint::SIGNING_KEY_FILE),
        "intruder",
        &["*:*".into()],
        now_s(),
        3_600,
    )
    .unwrap();
    let cases = [
        (None, "needs a token"),
        (Some(expired.as_str()), "expired"),
        (Some(foreign.as_str()), "does not verify"),
        (Some("not.a.token"), "does not decode"),
    ];
    for (token, expected) in cases {
        let mut socket = raw::connect(&addr, "/v1/client").await.unwrap();
        raw::send(&mut socket, raw::hello_with_token("c", token))
            .await
            .unwrap();
        let ending = raw::read_to_end(&mut socket, Duration::from_secs(10)).await;
        let said = match ending.frames.first() {
            Some(ServerFrame::TokenRefused(refused)) => refused.to_string(),
            _ => panic!("{expected}: {ending:?}"),
        };
        assert!(said.contains(expected), "{expected}: {said}");
    }
}

/// A session is bound to the subject that opened it: another subject with
/// the session's id and even its secret cannot resume it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_is_resumed_only_by_its_subject() {
    let (cluster, keys) = cluster_with_tokens("token-subject");
    let addr = cluster.addrs[&1].clone();
    let alice = token(&keys, "alice", &["*:*"]);
    let mallory = token(&keys, "mallory", &["*:*"]);
    let (_alice, welcome) = raw::welcomed(&addr, raw::hello_with_token("a", Some(&alice))).await;
    let mut socket = raw::connect(&addr, "/v1/client").await.unwrap();
    let resume = raw::resume_with_token(welcome.session, welcome.resume_secret, Some(&mallory));
    raw::send(&mut socket, resume).await.unwrap();
    let ending = raw::read_to_end(&mut socket, Duration::from_secs(10)).await;
    assert!(
        matches!(ending.frames.first(), Some(ServerFrame::Refused { .. })),
        "{ending:?}"
    );
    // Alice herself resumes it on a new connection.
    let resume = raw::resume_with_token(welcome.session, welcome.resume_secret, Some(&alice));
    let (_socket, again) = raw::welcomed(&addr, resume).await;
    assert_eq!(again.session, welcome.session);
}

/// A token that expires while connected: the call refused for it is sent
/// again with a fresh token from the provider, on the same session (the
/// lock taken before is still held by the same handle).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_provider_renews_an_expired_token_on_the_same_session() {
    let (cluster, keys) = cluster_with_tokens("token-refresh");
    let key = keys.join(mint::SIGNING_KEY_FILE);
    let fetched = Arc::new(AtomicUsize::new(0));
    let counter = fetched.clone();
    // One member and no following: one connection, so every token after
    // the first was fetched because the first expired.
    let leader = cluster.wait_for_leader(Duration::from_secs(30));
    let client = Client::builder()
        .endpoints([cluster.url(leader)])
        .follow_leader(false)
        .request_timeout(Duration::from_secs(20))
        .token_provider(move || {
            // The first token runs out (past the members' leeway) a few
            // seconds from now; later ones last an hour.
            let first = counter.fetch_add(1, Ordering::SeqCst) == 0;
            let (issued, ttl) = match first {
                true => (now_s() - raftcp_server::auth::LEEWAY_S - 60, 63),
                false => (now_s(), 3_600),
            };
            let token = mint::token(&key, "renewer", &["*:*".into()], issued, ttl);
            async move { token }
        })
        .connect()
        .await
        .unwrap();
    let lock = client.get_fenced_lock("renewed");
    let fence = lock.lock().await.unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        lock.get_fence().await.unwrap(),
        fence,
        "same session, same hold"
    );
    assert_eq!(
        fetched.load(Ordering::SeqCst),
        2,
        "fetched at connect and at expiry"
    );
    lock.unlock().await.unwrap();
    client.close().await;
}

/// Session-less operations (`POST /v1/ops`) take the same tokens: none or
/// an expired one refuses the request, each operation is checked against
/// the token's rules, and idempotency keys are scoped by subject, so the
/// same key from two subjects is two operations.
#[test]
fn one_shot_operations_take_tokens_and_scope_keys_by_subject() {
    use raftcp_proto::{LongOp, Op, Reply};
    use raftcp_tests::one_shot::{call, one};
    let (cluster, keys) = cluster_with_tokens("token-one-shot");
    let addr = cluster.addrs[&1].clone();
    let add = |name: &str| Op::AtomicLong {
        name: name.into(),
        op: LongOp::AddAndGet(1),
    };
    let (status, error) = call(&addr, None, vec![one(1, add("hits"))]).unwrap_err();
    assert_eq!(status, 401);
    assert!(matches!(error, OpError::Unauthenticated { .. }), "{error}");
    let key = keys.join(mint::SIGNING_KEY_FILE);
    let expired = mint::token(&key, "late", &["*:*".into()], now_s() - 3_600, 60).unwrap();
    let (status, error) = call(&addr, Some(&expired), vec![one(1, add("hits"))]).unwrap_err();
    assert_eq!((status, error), (401, OpError::TokenExpired));

    let alice = token(&keys, "alice", &["long:hits"]);
    let bob = token(&keys, "bob", &["long:*"]);
    let results = call(
        &addr,
        Some(&alice),
        vec![one(1, add("hits")), one(2, add("other"))],
    );
    let results = results.unwrap();
    assert_eq!(results[0], Ok(Reply::Long(1)));
    assert!(
        matches!(results[1], Err(OpError::PermissionDenied { .. })),
        "{:?}",
        results[1]
    );
    // Alice's retry is answered from her first attempt; Bob's equal key
    // is his own operation.
    let again = call(&addr, Some(&alice), vec![one(1, add("hits"))]).unwrap();
    assert_eq!(again[0], Ok(Reply::Long(1)));
    let bobs = call(&addr, Some(&bob), vec![one(1, add("hits"))]).unwrap();
    assert_eq!(bobs[0], Ok(Reply::Long(2)));
    let read = Op::AtomicLong {
        name: "other".into(),
        op: LongOp::Get,
    };
    let untouched = call(&addr, Some(&bob), vec![one(3, read)]).unwrap();
    assert_eq!(untouched[0], Ok(Reply::Long(0)), "the denied operation ran");
}
