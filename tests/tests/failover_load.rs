//! Steady load from several clients while the leader is killed (kill -9)
//! and restarted, again and again. Every operation must succeed (retries are
//! the client's job, not the caller's), the counter must equal the number of
//! acknowledged increments exactly, fences must strictly increase, lock
//! holders must never overlap, and permits in use must never exceed the pool.

#![allow(clippy::unwrap_used)]

use raftcp::Client;
use raftcp_tests::TestCluster;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CLIENTS: usize = 3;
const PERMITS: u32 = 2;

#[derive(Default)]
struct Observed {
    increments: AtomicU64,
    fences: Mutex<Vec<u64>>,
    in_critical_section: AtomicBool,
    permits_in_use: AtomicI64,
    lock_rounds: AtomicU64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_kills_under_load_lose_and_duplicate_nothing() {
    let mut cluster = TestCluster::start("failover-load");
    let setup = Client::connect(cluster.urls()).await.unwrap();
    setup
        .get_semaphore("load-pool")
        .init(PERMITS)
        .await
        .unwrap();
    setup.close().await;

    let observed = Arc::new(Observed::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for _ in 0..CLIENTS {
        let client = Client::connect(cluster.urls()).await.unwrap();
        workers.push(tokio::spawn(increments(
            client.clone(),
            observed.clone(),
            stop.clone(),
        )));
        workers.push(tokio::spawn(locking(
            client.clone(),
            observed.clone(),
            stop.clone(),
        )));
        workers.push(tokio::spawn(permits(
            client,
            observed.clone(),
            stop.clone(),
        )));
    }

    for _ in 0..3 {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let leader = cluster.wait_for_leader(Duration::from_secs(30));
        cluster.kill(leader);
        tokio::time::sleep(Duration::from_secs(1)).await;
        cluster.start_node(leader);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Release);
    for worker in workers {
        worker.await.unwrap();
    }

    eprintln!(
        "acknowledged {} increments, {} lock rounds, through 3 leader kills",
        observed.increments.load(Ordering::Acquire),
        observed.lock_rounds.load(Ordering::Acquire)
    );
    let check = Client::connect(cluster.urls()).await.unwrap();
    let counter = check.get_atomic_long("load-counter").get().await.unwrap();
    let acknowledged = observed.increments.load(Ordering::Acquire);
    assert!(acknowledged > 0);
    assert_eq!(
        counter as u64, acknowledged,
        "lost or duplicated increments"
    );
    let fences = observed.fences.lock().unwrap().clone();
    assert!(observed.lock_rounds.load(Ordering::Acquire) > 0);
    assert!(
        fences.windows(2).all(|pair| pair[0] < pair[1]),
        "fences not strictly increasing: {fences:?}"
    );
    assert_eq!(
        check
            .get_semaphore("load-pool")
            .available_permits()
            .await
            .unwrap(),
        PERMITS
    );
}

async fn increments(client: Client, observed: Arc<Observed>, stop: Arc<AtomicBool>) {
    let counter = client.get_atomic_long("load-counter");
    while !stop.load(Ordering::Acquire) {
        counter.increment_and_get().await.unwrap();
        observed.increments.fetch_add(1, Ordering::AcqRel);
    }
}

async fn locking(client: Client, observed: Arc<Observed>, stop: Arc<AtomicBool>) {
    let lock = client.get_fenced_lock("load-lock");
    while !stop.load(Ordering::Acquire) {
        let fence = lock.lock().await.unwrap();
        let overlapping = observed.in_critical_section.swap(true, Ordering::AcqRel);
        assert!(!overlapping, "two holders of load-lock at once");
        observed.fences.lock().unwrap().push(fence.0);
        tokio::time::sleep(Duration::from_millis(2)).await;
        observed.in_critical_section.store(false, Ordering::Release);
        lock.unlock().await.unwrap();
        observed.lock_rounds.fetch_add(1, Ordering::AcqRel);
    }
}

async fn permits(client: Client, observed: Arc<Observed>, stop: Arc<AtomicBool>) {
    let semaphore = client.get_semaphore("load-pool");
    while !stop.load(Ordering::Acquire) {
        semaphore.acquire().await.unwrap();
        let in_use = observed.permits_in_use.fetch_add(1, Ordering::AcqRel) + 1;
        assert!(in_use <= i64::from(PERMITS), "{in_use} permits in use");
        tokio::time::sleep(Duration::from_millis(1)).await;
        observed.permits_in_use.fetch_sub(1, Ordering::AcqRel);
        semaphore.release().await.unwrap();
    }
}
