//! Session-less operations over `POST /v1/ops` against a real cluster:
//! sent as raw HTTP, exactly once per idempotency key across members and a
//! failover, operations that need a session refused, and every malformed
//! or oversize request refused as a whole, with nothing changed; then
//! through the Rust client (`session_less_over_http`): counts exact across
//! a kill -9 of the leader, and leased locks and permits.

#![allow(clippy::unwrap_used)]

use raftcp::LeaseToken;
use raftcp_proto::limits::{FRAME_BYTES_MAX, ONE_SHOTS_PER_BATCH_MAX};
use raftcp_proto::{
    LatchOp, LockOp, LongOp, OneShotBatch, Op, OpError, PROTOCOL_VERSION, RefOp, Reply, Value,
};
use raftcp_tests::TestCluster;
use raftcp_tests::one_shot::{call, exchange, head, one};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

fn add(name: &str, delta: i64) -> Op {
    Op::AtomicLong {
        name: name.into(),
        op: LongOp::AddAndGet(delta),
    }
}

fn get(name: &str) -> Op {
    Op::AtomicLong {
        name: name.into(),
        op: LongOp::Get,
    }
}

/// The one result of a one-operation call.
fn only(results: Vec<Result<Reply, OpError>>) -> Result<Reply, OpError> {
    assert_eq!(results.len(), 1, "{results:?}");
    results.into_iter().next().unwrap()
}

/// `op` under `key` at `addr`, retried with the same key while the answer
/// is retryable (no leader yet), as a client does.
fn call_until_answered(addr: &str, key: u8, op: Op) -> Result<Reply, OpError> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let result = only(call(addr, None, vec![one(key, op.clone())]).unwrap());
        match result {
            Err(error) if error.is_retryable() && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(200));
            }
            result => return result,
        }
    }
}

#[test]
fn a_retry_under_its_key_runs_once_on_any_member_and_across_a_failover() {
    let mut cluster = TestCluster::start("one-shot-once");
    let leader = cluster.wait_for_leader(Duration::from_secs(30));
    let follower = cluster.follower();
    let (at_leader, at_follower) = (
        cluster.addrs[&leader].clone(),
        cluster.addrs[&follower].clone(),
    );

    let first = only(call(&at_follower, None, vec![one(1, add("visits", 5))]).unwrap());
    assert_eq!(first, Ok(Reply::Long(5)));
    // The same key again, on another member: the first answer, not a
    // second increment.
    let again = only(call(&at_leader, None, vec![one(1, add("visits", 5))]).unwrap());
    assert_eq!(again, Ok(Reply::Long(5)));
    // And after the leader is gone.
    cluster.kill(leader);
    cluster.wait_for_leader(Duration::from_secs(60));
    let after = call_until_answered(&at_follower, 1, add("visits", 5));
    assert_eq!(after, Ok(Reply::Long(5)));
    let read = only(call(&at_follower, None, vec![one(9, get("visits"))]).unwrap());
    assert_eq!(read, Ok(Reply::Long(5)));

    // A new key is a new operation; the old key for another one is refused.
    let next = only(call(&at_follower, None, vec![one(2, add("visits", 1))]).unwrap());
    assert_eq!(next, Ok(Reply::Long(6)));
    let reused = only(call(&at_follower, None, vec![one(1, add("visits", 7))]).unwrap());
    assert_eq!(reused, Err(OpError::IdempotencyKeyReused));

    // Several operations run in order, each answered on its own.
    let value = Value::String("edge".into());
    let results = call(
        &at_follower,
        None,
        vec![
            one(
                3,
                Op::AtomicReference {
                    name: "config".into(),
                    op: RefOp::Set(Some(value.clone())),
                },
            ),
            one(
                4,
                Op::AtomicReference {
                    name: "config".into(),
                    op: RefOp::Get,
                },
            ),
            one(
                5,
                Op::Lock {
                    name: "job".into(),
                    handle: raftcp_proto::HandleId(1),
                    op: LockOp::Lock {
                        timeout_ms: Some(0),
                        reentrancy_limit: 0,
                    },
                },
            ),
            one(
                6,
                Op::Latch {
                    name: "gate".into(),
                    op: LatchOp::TrySetCount { count: 2 },
                },
            ),
            one(
                7,
                Op::Latch {
                    name: "gate".into(),
                    op: LatchOp::CountDown,
                },
            ),
            one(
                8,
                Op::Latch {
                    name: "gate".into(),
                    op: LatchOp::GetCount,
                },
            ),
        ],
    )
    .unwrap();
    assert_eq!(results[0], Ok(Reply::Unit));
    assert_eq!(results[1], Ok(Reply::Value(Some(value))));
    assert!(
        matches!(&results[2], Err(OpError::SessionRequired { op }) if op == "lock.lock"),
        "{:?}",
        results[2]
    );
    assert_eq!(results[3], Ok(Reply::Bool(true)));
    assert_eq!(results[4], Ok(Reply::Unit));
    assert_eq!(results[5], Ok(Reply::Count(1)));
}

#[test]
fn malformed_and_oversize_requests_are_refused_whole_and_change_nothing() {
    let cluster = TestCluster::start("one-shot-hostile");
    let leader = cluster.wait_for_leader(Duration::from_secs(30));
    let addr = cluster.addrs[&leader].clone();
    let batch = |ops| OneShotBatch {
        protocol_version: PROTOCOL_VERSION,
        ops,
    };
    let body = postcard::to_allocvec(&batch(vec![one(1, add("n", 1))])).unwrap();
    let refused = |head: &str, body: &[u8], status: u16| {
        let (got, answer) = exchange(&addr, head, body).expect("an answer");
        assert_eq!(got, status, "{head}");
        let error: OpError = postcard::from_bytes(&answer).expect("an error body");
        error
    };

    // Too large, said before the body is sent: refused unread.
    let too_large = head(&addr, FRAME_BYTES_MAX + 1, None);
    let error = refused(&too_large, &[], 413);
    assert!(error.to_string().contains("at most"), "{error}");
    // A cross-site "simple" request (no preflight) is not taken.
    let plain_text =
        head(&addr, body.len(), None).replace("application/octet-stream", "text/plain");
    refused(&plain_text, &body, 415);
    // The length must be given.
    let chunked = head(&addr, body.len(), None).replace(
        &format!("content-length: {}\r\n", body.len()),
        "transfer-encoding: chunked\r\n",
    );
    refused(&chunked, &body, 411);
    let twice = head(&addr, body.len(), None) + &format!("content-length: {}\r\n", body.len());
    refused(&twice, &body, 411);
    // Garbage, a version from elsewhere, too many operations.
    refused(&head(&addr, 5, None), &[0xff; 5], 400);
    let mut other_version = batch(vec![one(1, add("n", 1))]);
    other_version.protocol_version = PROTOCOL_VERSION + 1;
    let other = postcard::to_allocvec(&other_version).unwrap();
    let error = refused(&head(&addr, other.len(), None), &other, 400);
    assert!(error.to_string().contains("protocol version"), "{error}");
    let many: Vec<_> = (0..=ONE_SHOTS_PER_BATCH_MAX)
        .map(|i| one(i as u8, add("n", 1)))
        .collect();
    let many = postcard::to_allocvec(&batch(many)).unwrap();
    refused(&head(&addr, many.len(), None), &many, 400);
    // A page of another site.
    let foreign = format!(
        "{}origin: https://evil.example\r\n",
        head(&addr, body.len(), None)
    );
    refused(&foreign, &body, 403);
    // Only POST.
    let get_head = format!("GET /v1/ops HTTP/1.1\r\nhost: {addr}\r\n");
    refused(&get_head, &[], 405);

    // Nothing of the above ran, and the member still serves.
    let read = only(call(&addr, None, vec![one(9, get("n"))]).unwrap());
    assert_eq!(read, Ok(Reply::Long(0)));
    let added = only(call(&addr, None, vec![one(1, add("n", 1))]).unwrap());
    assert_eq!(added, Ok(Reply::Long(1)));
}

/// The Rust client with `session_less_over_http`: concurrent increments
/// over HTTP run once each while the leader is killed under them, no
/// session is opened for them, and the first call that needs a session
/// opens one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_over_http_counts_exactly_across_a_failover_without_a_session() {
    const TASKS: i64 = 4;
    const EACH: i64 = 150;
    let mut cluster = TestCluster::start("one-shot-client");
    let leader = cluster.wait_for_leader(Duration::from_secs(30));
    let client = raftcp::Client::builder()
        .endpoints(cluster.urls())
        .session_less_over_http(true)
        .request_timeout(Duration::from_secs(60))
        .connect()
        .await
        .unwrap();
    let counter = client.get_atomic_long("hits");
    let done = Arc::new(AtomicI64::new(0));
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let (counter, done) = (counter.clone(), done.clone());
            tokio::spawn(async move {
                let mut seen = Vec::new();
                for _ in 0..EACH {
                    seen.push(counter.increment_and_get().await.unwrap());
                    done.fetch_add(1, Ordering::Relaxed);
                }
                seen
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    while done.load(Ordering::Relaxed) < TASKS * EACH / 4 {
        assert!(Instant::now() < deadline, "the increments stalled");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    cluster.kill(leader);
    let at_kill = done.load(Ordering::Relaxed);
    assert!(at_kill < TASKS * EACH, "the kill came after every call");
    let mut seen = Vec::new();
    for task in tasks {
        seen.extend(task.await.unwrap());
    }
    seen.sort_unstable();
    let expected: Vec<i64> = (1..=TASKS * EACH).collect();
    assert_eq!(seen, expected, "each increment once, none lost");
    assert_eq!(counter.get().await.unwrap(), TASKS * EACH);
    let now_leader = cluster.wait_for_leader(Duration::from_secs(60));
    assert_eq!(cluster.gauge(now_leader, "raftcp_sessions"), Some(0));

    // A lock needs a session: the first lock opens one.
    let lock = client.get_fenced_lock("job");
    lock.lock().await.unwrap();
    lock.unlock().await.unwrap();
    assert_eq!(cluster.gauge(now_leader, "raftcp_sessions"), Some(1));
    client.close().await;
}

/// A client whose session-less calls go over HTTP, as an edge worker's.
async fn edge_client(cluster: &TestCluster) -> raftcp::Client {
    raftcp::Client::builder()
        .endpoints(cluster.urls())
        .session_less_over_http(true)
        .connect()
        .await
        .unwrap()
}

/// A lock held under a lease: taken without a session, held against a
/// session's `lock()` until the lease is ended by its token (as text, from
/// another request), refused to a forged token, run out when nobody renews
/// it, and taken over a session too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leased_locks_are_ended_by_their_token_or_run_out() {
    let cluster = TestCluster::start("one-shot-leases");
    cluster.wait_for_leader(Duration::from_secs(30));
    let edge = edge_client(&cluster).await;
    let lock = edge.get_fenced_lock("edge-job");
    let first = lock
        .try_lock_leased(Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        lock.try_lock_leased(Duration::from_secs(30)).await.unwrap(),
        None,
        "held by the lease"
    );
    let sessions = raftcp::Client::connect(cluster.urls()).await.unwrap();
    let waiter = sessions.get_fenced_lock("edge-job");
    let waiting = tokio::spawn({
        let waiter = waiter.clone();
        async move { waiter.lock().await }
    });

    // Another request ends it: a client of its own, with the token as text.
    let next_request = edge_client(&cluster).await;
    let lock_again = next_request.get_fenced_lock("edge-job");
    let token: LeaseToken = first.token.to_string().parse().unwrap();
    let (id, _) = first
        .token
        .to_string()
        .split_once('.')
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .unwrap();
    let forged: LeaseToken = format!("{id}.{}", "00".repeat(32)).parse().unwrap();
    let lost = |result: Result<(), raftcp::Error>| {
        matches!(
            result,
            Err(raftcp::Error::Server(OpError::LockOwnershipLost { .. }))
        )
    };
    assert!(lost(lock.unlock_leased(&forged).await));
    assert!(lost(lock.renew_lease(&forged).await));
    lock_again.renew_lease(&token).await.unwrap();
    assert!(!waiting.is_finished(), "the lease still holds the lock");
    lock_again.unlock_leased(&token).await.unwrap();
    next_request.close().await;
    let fence = tokio::time::timeout(Duration::from_secs(30), waiting)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(fence > first.fence);
    assert!(lost(lock.unlock_leased(&token).await), "ended once");
    waiter.unlock().await.unwrap();

    // Nobody renews this one: it runs out and the lock is free again.
    let short = lock
        .try_lock_leased(Duration::from_secs(1))
        .await
        .unwrap()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let next = loop {
        if let Some(next) = lock.try_lock_leased(Duration::from_secs(60)).await.unwrap() {
            break next;
        }
        assert!(Instant::now() < deadline, "the lease never ran out");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(next.fence > short.fence);
    assert!(lost(lock.renew_lease(&short.token).await));

    // Over a session, the lease is still its own holder.
    let other = sessions.get_fenced_lock("session-job");
    let leased = other
        .try_lock_leased(Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(other.try_lock().await.unwrap(), None);
    other.unlock_leased(&leased.token).await.unwrap();
    assert!(other.try_lock().await.unwrap().is_some());

    let refused = lock.try_lock_leased(Duration::from_millis(10)).await;
    assert!(
        matches!(
            refused,
            Err(raftcp::Error::Server(OpError::InvalidArgument { .. }))
        ),
        "{refused:?}"
    );
    // Leases are sessions named "lease": no client may take the name.
    let impostor = raftcp::Client::builder()
        .endpoints(cluster.urls())
        .client_name("lease")
        .connect()
        .await
        .unwrap();
    let refused = impostor.get_atomic_long("n").get().await;
    assert!(
        matches!(&refused, Err(raftcp::Error::Protocol(reason)) if reason.contains("reserved")),
        "{refused:?}"
    );
    impostor.close().await;
    edge.close().await;
    sessions.close().await;
}

/// Permits held under a lease: taken without a session, counted out of the
/// semaphore until the lease is ended by its token, and returned when it
/// runs out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leased_permits_return_when_ended_or_run_out() {
    let cluster = TestCluster::start("one-shot-leased-permits");
    cluster.wait_for_leader(Duration::from_secs(30));
    let edge = edge_client(&cluster).await;
    let pool = edge.get_semaphore("edge-pool");
    let sessions = raftcp::Client::connect(cluster.urls()).await.unwrap();
    assert!(sessions.get_semaphore("edge-pool").init(3).await.unwrap());

    let two = pool
        .try_acquire_leased(2, Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pool.available_permits().await.unwrap(), 1);
    assert_eq!(
        pool.try_acquire_leased(2, Duration::from_secs(60))
            .await
            .unwrap(),
        None,
        "only one permit is left"
    );
    pool.renew_lease(&two).await.unwrap();
    pool.release_leased(&two).await.unwrap();
    assert_eq!(pool.available_permits().await.unwrap(), 3);
    let lost = pool.release_leased(&two).await;
    assert!(
        matches!(
            lost,
            Err(raftcp::Error::Server(OpError::LockOwnershipLost { .. }))
        ),
        "{lost:?}"
    );

    // Nobody renews this one: its permits come back.
    pool.try_acquire_leased(3, Duration::from_secs(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pool.available_permits().await.unwrap(), 0);
    let deadline = Instant::now() + Duration::from_secs(30);
    while pool.available_permits().await.unwrap() != 3 {
        assert!(Instant::now() < deadline, "the lease never ran out");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    edge.close().await;
    sessions.close().await;
}
