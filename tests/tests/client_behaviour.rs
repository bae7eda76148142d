//! Client behaviour against a real cluster: going to the leader by itself,
//! cancelling a waiting call by dropping it, and a long wait that does not
//! hold back the client's other requests.

#![allow(clippy::unwrap_used)]

use raftcp::Client;
use raftcp_tests::TestCluster;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_reached_a_follower_moves_to_the_leader() {
    let cluster = TestCluster::start("follow-leader");
    let follower = cluster.follower();
    let leader = cluster.wait_for_leader(Duration::from_secs(30));
    let client = Client::connect([cluster.url(follower)]).await.unwrap();
    client
        .get_atomic_long("c")
        .increment_and_get()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let on_leader = cluster.gauge(leader, "raftcp_client_connections");
        let on_follower = cluster.gauge(follower, "raftcp_client_connections");
        if on_leader == Some(1) && on_follower == Some(0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "connections: leader {on_leader:?}, follower {on_follower:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Same session, still working.
    assert_eq!(
        client
            .get_atomic_long("c")
            .increment_and_get()
            .await
            .unwrap(),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_pending_lock_call_removes_its_waiter() {
    let cluster = TestCluster::start("drop-pending");
    let client = Client::connect(cluster.urls()).await.unwrap();
    let holder = client.get_fenced_lock("contended");
    let abandoned = client.get_fenced_lock("contended");
    let next = client.get_fenced_lock("contended");
    let first = holder.lock().await.unwrap();

    let pending = tokio::spawn({
        let abandoned = abandoned.clone();
        async move { abandoned.lock().await }
    });
    // Let the request reach the queue, then give up on it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    pending.abort();
    let _ = pending.await;

    let queued = tokio::spawn({
        let next = next.clone();
        async move { next.lock().await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    holder.unlock().await.unwrap();
    // The abandoned waiter was first in line; had it stayed, `next` would
    // wait behind a grant nobody will ever release.
    let fence = tokio::time::timeout(Duration::from_secs(10), queued)
        .await
        .expect("the next waiter is not blocked by the abandoned one")
        .unwrap()
        .unwrap();
    assert!(fence > first);
    assert!(!abandoned.is_locked_by_me().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_releases_what_the_session_held() {
    let cluster = TestCluster::start("close");
    let closing = Client::connect(cluster.urls()).await.unwrap();
    let lock = closing.get_fenced_lock("held-at-close");
    let fence = lock.lock().await.unwrap();
    let pool = closing.get_semaphore("pool-at-close");
    pool.init(2).await.unwrap();
    pool.acquire_many(2).await.unwrap();
    closing.close().await;

    // Released at once, not after the session TTL.
    let other = Client::connect(cluster.urls()).await.unwrap();
    let started = Instant::now();
    let next = other
        .get_fenced_lock("held-at-close")
        .try_lock()
        .await
        .unwrap();
    assert!(next.unwrap() > fence);
    assert_eq!(
        other
            .get_semaphore("pool-at-close")
            .available_permits()
            .await
            .unwrap(),
        2
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    // Calls on the closed client fail instead of hanging.
    assert_eq!(lock.is_locked().await.unwrap_err(), raftcp::Error::Closed);
}

/// The leader-election shape: one handle waits in `lock()` for as long as
/// another client holds the lock, while another handle of the same client
/// goes on working. Each of its 20,000 increments succeeds: the waiting
/// request is acknowledged around, so the answers the server keeps for
/// the session never reach their cap (they did at 4,096 when one waiting
/// request held the acknowledgement watermark back).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_wait_does_not_hold_back_its_clients_other_requests() {
    let cluster = TestCluster::start("long-wait");
    let holder = Client::connect(cluster.urls()).await.unwrap();
    let leadership = holder.get_fenced_lock("leader");
    leadership.lock().await.unwrap();

    let client = Client::connect(cluster.urls()).await.unwrap();
    let candidate = client.get_fenced_lock("leader");
    let waiting = tokio::spawn(async move { candidate.lock().await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "the candidate must wait");

    const INCREMENTS: i64 = 20_000;
    const IN_FLIGHT: usize = 64;
    let counter = client.get_atomic_long("work");
    let mut calls = futures_util::stream::FuturesUnordered::new();
    let mut started = 0;
    let mut highest = 0;
    loop {
        while calls.len() < IN_FLIGHT && started < INCREMENTS {
            let counter = counter.clone();
            calls.push(async move { counter.increment_and_get().await });
            started += 1;
        }
        let Some(result) = futures_util::StreamExt::next(&mut calls).await else {
            break;
        };
        highest = highest.max(result.unwrap());
    }
    assert_eq!(highest, INCREMENTS);
    assert!(!waiting.is_finished(), "the candidate still waits");

    leadership.unlock().await.unwrap();
    let fence = tokio::time::timeout(Duration::from_secs(30), waiting)
        .await
        .expect("the candidate gets the lock once it is free")
        .unwrap()
        .unwrap();
    assert!(fence.0 > 0);
    assert_eq!(client.sessions_lost(), 0);
}
