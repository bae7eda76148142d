//! Every snippet and use case of the seed document, through the Rust client,
//! against a real 3-node cluster: once connected to a follower (writes and
//! reads forwarded to the leader) and once to the leader.

#![allow(clippy::unwrap_used)]

use raftcp::{Client, Error, OpError};
use raftcp_tests::TestCluster;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_snippets_through_a_follower_and_the_leader() {
    let cluster = TestCluster::start("seed");
    let follower = cluster.follower();
    let leader = cluster.wait_for_leader(Duration::from_secs(30));
    for (label, node) in [("follower", follower), ("leader", leader)] {
        // Stay on the member reached, so the follower run really goes
        // through forwarding.
        let client = Client::builder()
            .endpoints([cluster.url(node)])
            .follow_leader(false)
            .connect()
            .await
            .unwrap();
        atomic_long(&client, label).await;
        atomic_reference(&client, label).await;
        fenced_lock(&client, label).await;
        semaphore(&client, label).await;
        count_down_latch(&client, label).await;
        use_cases(&client, label).await;
        client.close().await;
    }
    let metrics = cluster.metrics(leader).unwrap();
    assert!(metrics.contains("raftcp_operations_total{kind=\"atomic_long_write\",result=\"ok\"}"));
}

async fn atomic_long(client: &Client, label: &str) {
    let atomic_long = client.get_atomic_long(&format!("sequence-generator-{label}"));
    atomic_long.set(0).await.unwrap();
    assert_eq!(atomic_long.increment_and_get().await.unwrap(), 1);
    assert_eq!(atomic_long.decrement_and_get().await.unwrap(), 0);
    assert_eq!(atomic_long.add_and_get(10).await.unwrap(), 10);
    assert_eq!(atomic_long.get_and_add(5).await.unwrap(), 10);
    assert_eq!(atomic_long.get().await.unwrap(), 15);
    assert!(atomic_long.compare_and_set(15, 20).await.unwrap());
    assert!(!atomic_long.compare_and_set(15, 30).await.unwrap());
    // The seed's `increment_and_get_async()`: start now, collect later.
    let future = tokio::spawn({
        let atomic_long = atomic_long.clone();
        async move { atomic_long.increment_and_get().await }
    });
    assert_eq!(future.await.unwrap().unwrap(), 21);
    assert_eq!(atomic_long.get_and_set(7).await.unwrap(), 21);
    assert_eq!(atomic_long.get_and_increment().await.unwrap(), 7);
    assert_eq!(atomic_long.get_and_decrement().await.unwrap(), 8);
    assert_eq!(atomic_long.get().await.unwrap(), 7);
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Config {
    timeout: i64,
    retries: i64,
}

async fn atomic_reference(client: &Client, label: &str) {
    let atomic_ref = client.get_atomic_reference::<Config>(&format!("config-{label}"));
    assert!(atomic_ref.is_null().await.unwrap());
    let default_config = Config {
        timeout: 10,
        retries: 1,
    };
    assert!(atomic_ref.set_if_absent(&default_config).await.unwrap());
    let old_config = Config {
        timeout: 30,
        retries: 3,
    };
    atomic_ref.set(&old_config).await.unwrap();
    assert_eq!(atomic_ref.get().await.unwrap(), Some(old_config.clone()));
    let new_config = Config {
        timeout: 60,
        retries: 5,
    };
    assert!(
        atomic_ref
            .compare_and_set(Some(&old_config), Some(&new_config))
            .await
            .unwrap()
    );
    assert!(
        !atomic_ref
            .compare_and_set(Some(&old_config), Some(&new_config))
            .await
            .unwrap()
    );
    let previous = atomic_ref.get_and_set(&old_config).await.unwrap();
    assert_eq!(previous, Some(new_config));
    assert!(!atomic_ref.set_if_absent(&default_config).await.unwrap());
    assert!(atomic_ref.contains(Some(&old_config)).await.unwrap());
    assert!(!atomic_ref.is_null().await.unwrap());
    atomic_ref.clear().await.unwrap();
    assert!(atomic_ref.is_null().await.unwrap());
    assert_eq!(atomic_ref.get().await.unwrap(), None);
    // Key order does not matter: a map set in another order compares equal.
    let raw = client.get_atomic_reference::<serde_json::Value>(&format!("config-{label}"));
    raw.set(&serde_json::json!({"retries": 3, "timeout": 30}))
        .await
        .unwrap();
    assert!(atomic_ref.contains(Some(&old_config)).await.unwrap());
}

async fn fenced_lock(client: &Client, label: &str) {
    let name = format!("resource-lock-{label}");
    let lock = client.get_fenced_lock(&name);
    let fence = lock.lock().await.unwrap();
    assert!(fence.0 > 0);
    assert!(lock.is_locked_by_me().await.unwrap());
    assert_eq!(lock.get_fence().await.unwrap(), fence);
    lock.unlock().await.unwrap();
    let fence = lock
        .try_lock_timeout(Duration::from_secs(5))
        .await
        .unwrap()
        .expect("a free lock is granted");
    // Another handle, even in this process, is excluded.
    let other = client.get_fenced_lock(&name);
    assert_eq!(other.try_lock().await.unwrap(), None);
    let started = Instant::now();
    assert_eq!(
        other
            .try_lock_timeout(Duration::from_millis(300))
            .await
            .unwrap(),
        None
    );
    assert!(started.elapsed() >= Duration::from_millis(250));
    lock.unlock().await.unwrap();
    // Reentrant: the same fence, counted.
    let fence1 = lock.lock().await.unwrap();
    let fence2 = lock.lock().await.unwrap();
    assert_eq!(fence1, fence2);
    assert!(fence1 > fence);
    assert_eq!(lock.get_lock_count().await.unwrap(), 2);
    lock.unlock().await.unwrap();
    lock.unlock().await.unwrap();
    assert!(!lock.is_locked().await.unwrap());
    // Unlocking what this handle does not hold is an error, not a no-op.
    let err = lock.unlock().await.unwrap_err();
    assert!(
        matches!(err, Error::Server(OpError::NotOwner { .. })),
        "{err}"
    );
    // A waiter is handed the lock with a larger fence.
    let holder_fence = lock.lock().await.unwrap();
    let waiter = tokio::spawn({
        let other = other.clone();
        async move { other.lock().await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    lock.unlock().await.unwrap();
    let waiter_fence = waiter.await.unwrap().unwrap();
    assert!(waiter_fence > holder_fence);
    let result = other
        .with_lock(|fence| async move { fence.0 * 2 })
        .await
        .unwrap();
    assert!(result > 0);
    other.unlock().await.unwrap();
    assert!(!other.is_locked().await.unwrap());
    // with_lock unlocks when the work panics, and the panic goes on.
    let panicked = tokio::spawn({
        let other = other.clone();
        async move { other.with_lock(|_| async { panic!("work failed") }).await }
    })
    .await;
    assert!(panicked.unwrap_err().is_panic());
    assert!(!other.is_locked().await.unwrap());
}

async fn semaphore(client: &Client, label: &str) {
    let semaphore = client.get_semaphore(&format!("connection-pool-{label}"));
    assert!(semaphore.init(10).await.unwrap());
    assert!(!semaphore.init(99).await.unwrap());
    semaphore.acquire().await.unwrap();
    semaphore.acquire_many(3).await.unwrap();
    assert!(semaphore.try_acquire().await.unwrap());
    assert!(
        semaphore
            .try_acquire_many(2, Duration::from_secs(5))
            .await
            .unwrap()
    );
    assert_eq!(semaphore.available_permits().await.unwrap(), 3);
    semaphore.release().await.unwrap();
    semaphore.release_many(3).await.unwrap();
    assert_eq!(semaphore.available_permits().await.unwrap(), 7);
    assert_eq!(semaphore.drain_permits().await.unwrap(), 7);
    semaphore.release_many(2).await.unwrap();
    semaphore.reduce_permits(2).await.unwrap();
    assert_eq!(semaphore.available_permits().await.unwrap(), 0);
    semaphore.increase_permits(5).await.unwrap();
    assert_eq!(semaphore.available_permits().await.unwrap(), 5);
    assert!(
        !semaphore
            .try_acquire_many(6, Duration::from_millis(100))
            .await
            .unwrap()
    );
}

async fn count_down_latch(client: &Client, label: &str) {
    let latch = client.get_count_down_latch(&format!("startup-latch-{label}"));
    assert!(latch.try_set_count(3).await.unwrap());
    assert!(!latch.try_set_count(5).await.unwrap());
    let waiter = tokio::spawn({
        let latch = latch.clone();
        async move { latch.await_latch().await }
    });
    for _ in 0..3 {
        latch.count_down().await.unwrap();
    }
    waiter.await.unwrap().unwrap();
    assert_eq!(latch.get_count().await.unwrap(), 0);
    assert!(
        latch
            .await_latch_timeout(Duration::from_secs(30))
            .await
            .unwrap()
    );
    assert!(latch.try_set_count(1).await.unwrap());
    assert!(
        !latch
            .await_latch_timeout(Duration::from_millis(200))
            .await
            .unwrap()
    );
}

async fn use_cases(client: &Client, label: &str) {
    // Unique id generation.
    let counter = client.get_atomic_long(&format!("id-sequence-{label}"));
    let mut ids = Vec::new();
    for _ in 0..20 {
        ids.push(counter.increment_and_get().await.unwrap());
    }
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(unique.len(), 20);
    // Rate limiting: at most `limit` concurrent requests per user.
    let limit = 3;
    let semaphore = client.get_semaphore(&format!("rate-limit:user-{label}"));
    if semaphore.available_permits().await.unwrap() == 0 {
        semaphore.init(limit).await.unwrap();
    }
    let mut admitted = 0;
    for _ in 0..5 {
        if semaphore.try_acquire_many(1, Duration::ZERO).await.unwrap() {
            admitted += 1;
        }
    }
    assert_eq!(admitted, limit);
    // Leader election: one of two contenders leads.
    let first = client.get_fenced_lock(&format!("leader-lock-{label}"));
    let second = client.get_fenced_lock(&format!("leader-lock-{label}"));
    let fence = first.try_lock().await.unwrap();
    assert!(fence.is_some());
    assert_eq!(second.try_lock().await.unwrap(), None);
    // Barrier: every participant counts down and waits.
    let participant_count = 3;
    let latch = client.get_count_down_latch(&format!("barrier-{label}"));
    latch.try_set_count(participant_count).await.unwrap();
    let mut participants = Vec::new();
    for _ in 0..participant_count {
        let latch = latch.clone();
        participants.push(tokio::spawn(async move {
            latch.count_down().await?;
            latch.await_latch().await
        }));
    }
    for participant in participants {
        participant.await.unwrap().unwrap();
    }
}
