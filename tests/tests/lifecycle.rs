//! Objects' lifecycle against a real cluster: `destroy` on every primitive
//! (waiters and holders hear `ObjectDestroyed`, the name is reused, fences
//! keep rising), and objects back in their never-used state take no room.

#![allow(clippy::unwrap_used)]

use futures_util::StreamExt;
use raftcp::{Client, Error, OpError};
use raftcp_tests::{TestCluster, Timings};
use std::time::{Duration, Instant};

fn destroyed(result: Result<impl std::fmt::Debug, Error>) {
    assert!(
        matches!(result, Err(Error::Server(OpError::ObjectDestroyed { .. }))),
        "expected OBJECT_DESTROYED, got {result:?}"
    );
}

/// Waits until `waiting` is queued on the cluster (it counts waiters).
async fn until_waiting(cluster: &TestCluster, waiters: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let leader = cluster.wait_for_leader(Duration::from_secs(30));
    while cluster.gauge(leader, "raftcp_waiters") != Some(waiters) {
        assert!(Instant::now() < deadline, "no waiter queued");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destroy_ends_waits_and_holds_and_frees_the_name() {
    let cluster = TestCluster::start("lifecycle-destroy");
    let holder = Client::connect(cluster.urls()).await.unwrap();
    let waiter = Client::connect(cluster.urls()).await.unwrap();
    let admin = Client::connect(cluster.urls()).await.unwrap();

    // A lock: held by one client, waited on by another, destroyed by a third.
    let held = holder.get_fenced_lock("job-lock");
    let first_fence = held.lock().await.unwrap();
    let waiting_lock = waiter.get_fenced_lock("job-lock");
    let wait = tokio::spawn(async move { waiting_lock.lock().await });
    until_waiting(&cluster, 1).await;
    admin.get_fenced_lock("job-lock").destroy().await.unwrap();
    destroyed(wait.await.unwrap());
    destroyed(held.get_fence().await);
    destroyed(held.unlock().await);
    // Told once; the name now is a fresh lock with a later fence.
    let fence = held.lock().await.unwrap();
    assert!(fence > first_fence, "{fence} after {first_fence}");
    held.unlock().await.unwrap();

    // A semaphore: permits held and waited for.
    let pool = holder.get_semaphore("pool");
    assert!(pool.init(1).await.unwrap());
    pool.acquire().await.unwrap();
    let waiting_pool = waiter.get_semaphore("pool");
    let wait = tokio::spawn(async move { waiting_pool.acquire().await });
    until_waiting(&cluster, 1).await;
    admin.get_semaphore("pool").destroy().await.unwrap();
    destroyed(wait.await.unwrap());
    destroyed(pool.release().await);
    assert!(
        pool.init(2).await.unwrap(),
        "a fresh, uninitialized semaphore"
    );
    assert_eq!(pool.available_permits().await.unwrap(), 2);

    // A latch with a waiter.
    let latch = holder.get_count_down_latch("start");
    assert!(latch.try_set_count(3).await.unwrap());
    let waiting_latch = waiter.get_count_down_latch("start");
    let wait = tokio::spawn(async move { waiting_latch.await_latch().await });
    until_waiting(&cluster, 1).await;
    admin.get_count_down_latch("start").destroy().await.unwrap();
    destroyed(wait.await.unwrap());
    assert_eq!(latch.get_count().await.unwrap(), 0);

    // A counter and a reference start over.
    let counter = holder.get_atomic_long("hits");
    counter.add_and_get(5).await.unwrap();
    admin.get_atomic_long("hits").destroy().await.unwrap();
    assert_eq!(counter.get().await.unwrap(), 0);
    let config = holder.get_atomic_reference::<String>("config");
    config.set(&"on".to_owned()).await.unwrap();
    admin
        .get_atomic_reference::<String>("config")
        .destroy()
        .await
        .unwrap();
    assert_eq!(config.get().await.unwrap(), None);

    // Destroying what does not exist is fine, and every object is gone.
    admin.get_fenced_lock("never-used").destroy().await.unwrap();
    pool.destroy().await.unwrap();
    let leader = cluster.wait_for_leader(Duration::from_secs(30));
    assert_eq!(cluster.gauge(leader, "raftcp_objects"), Some(0));
    for client in [holder, waiter, admin] {
        client.close().await;
    }
}

/// Names used for a while and let go take no room: locking and unlocking
/// many distinct names leaves the group's object count where it started.
/// `LIFECYCLE_NAMES` sets how many (docs/reliability.md records a run with
/// a million, in a release build).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_objects_take_no_room() {
    let names: usize = std::env::var("LIFECYCLE_NAMES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(5_000);
    let cluster = TestCluster::start("lifecycle-idle");
    let client = Client::connect(cluster.urls()).await.unwrap();
    let leader = cluster.wait_for_leader(Duration::from_secs(30));
    let rss_before = cluster.rss_bytes(leader).unwrap();
    let started = Instant::now();
    futures_util::stream::iter(0..names)
        .map(|i| {
            let lock = client.get_fenced_lock(&format!("user-{i}"));
            let counter = client.get_atomic_long(&format!("count-{i}"));
            async move {
                lock.lock().await.unwrap();
                counter.increment_and_get().await.unwrap();
                counter.decrement_and_get().await.unwrap();
                lock.unlock().await.unwrap();
            }
        })
        .buffer_unordered(256)
        .collect::<Vec<()>>()
        .await;
    let rss_after = cluster.rss_bytes(leader).unwrap();
    println!(
        "{names} names locked, counted and let go in {:.1} s; leader RSS {} -> {} MiB",
        started.elapsed().as_secs_f64(),
        rss_before >> 20,
        rss_after >> 20
    );
    // Followers apply a moment later.
    let deadline = Instant::now() + Duration::from_secs(20);
    for id in 1..=3 {
        while cluster.gauge(id, "raftcp_objects") != Some(0) {
            let objects = cluster.gauge(id, "raftcp_objects");
            assert!(
                Instant::now() < deadline,
                "member {id}: {objects:?} objects"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    client.close().await;
}

/// A group at its byte quota refuses what could grow it, from any client,
/// keeps answering reads and what frees space, and takes writes again once
/// `destroy` brought it back under.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_group_refuses_growth_until_space_is_freed() {
    let mut cluster = TestCluster::prepare("lifecycle-quota", Timings::default());
    cluster.set_extra_args(&["--max-state-bytes", "2000000"]);
    cluster.start_all();
    let clients = [
        Client::connect(cluster.urls()).await.unwrap(),
        Client::connect(cluster.urls()).await.unwrap(),
        Client::connect(cluster.urls()).await.unwrap(),
    ];
    let lock = clients[0].get_fenced_lock("held-while-full");
    lock.lock().await.unwrap();
    let value = "v".repeat(100_000);
    let mut stored = Vec::new();
    let mut refused = 0;
    for i in 0..60 {
        let client = &clients[i % clients.len()];
        let name = format!("blob-{i}");
        match client
            .get_atomic_reference::<String>(&name)
            .set(&value)
            .await
        {
            Ok(()) => stored.push(name),
            Err(Error::Server(OpError::QuotaExceeded { used, max })) => {
                assert!(used >= max && max == 2_000_000, "{used} of {max}");
                refused += 1;
            }
            Err(other) => panic!("{other}"),
        }
    }
    assert!(stored.len() >= 15, "only {} values stored", stored.len());
    assert!(refused > 0, "nothing refused");
    let leader = cluster.wait_for_leader(Duration::from_secs(30));
    let health = cluster.health(leader).unwrap();
    assert_eq!(health["quota_alarm"], true, "{health}");
    assert!(cluster.gauge(leader, "raftcp_state_bytes").unwrap() >= 2_000_000);
    // Members look at their quota once a second.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cluster.log_text(leader).contains("at its quota") {
        assert!(
            Instant::now() < deadline,
            "the member did not log reaching its quota"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Full: growth is refused, reads and what frees space are not.
    let counter = clients[1].get_atomic_long("new-counter");
    let refusal = counter.increment_and_get().await;
    assert!(
        matches!(refusal, Err(Error::Server(OpError::QuotaExceeded { .. }))),
        "{refusal:?}"
    );
    let first = clients[2].get_atomic_reference::<String>(&stored[0]);
    assert_eq!(first.get().await.unwrap().as_deref(), Some(value.as_str()));
    lock.unlock().await.unwrap();
    for name in &stored[..stored.len() / 2] {
        let reference = clients[2].get_atomic_reference::<String>(name);
        reference.destroy().await.unwrap();
    }

    // Back under: writes go through again, and the alarm is off.
    assert_eq!(counter.increment_and_get().await.unwrap(), 1);
    let deadline = Instant::now() + Duration::from_secs(20);
    while cluster.health(leader).unwrap()["quota_alarm"] != false {
        assert!(Instant::now() < deadline, "the alarm stays on");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for client in clients {
        client.close().await;
    }
}
