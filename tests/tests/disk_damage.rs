//! A member whose Raft log lost a tail while it was down (the last record
//! cut short: torn by a power cut, or its length damaged after it was
//! synced, which the file cannot tell apart) comes back without a vote: it
//! neither votes nor stands for election until it has caught up with a
//! leader, so it cannot help elect a leader that lacks an entry it had
//! acknowledged. Once caught up it votes again, and nothing is lost.

#![allow(clippy::unwrap_used)]

use raftcp::Client;
use raftcp_tests::TestCluster;
use std::time::{Duration, Instant};

/// Cuts `bytes` off the end of member `id`'s newest WAL file.
fn cut_log_tail(cluster: &TestCluster, id: u64, bytes: u64) {
    let log = cluster.data_dir(id).join("log");
    let newest = std::fs::read_dir(&log)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "wal"))
        .max()
        .unwrap();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&newest)
        .unwrap();
    let length = file.metadata().unwrap().len();
    file.set_len(length - bytes).unwrap();
}

fn recovering(cluster: &TestCluster, id: u64) -> Option<bool> {
    cluster.health(id)?.get("recovering")?.as_bool()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_whose_log_lost_a_tail_votes_only_after_catching_up() {
    let mut cluster = TestCluster::start("log-tail");
    let client = Client::connect(cluster.urls()).await.unwrap();
    let counter = client.get_atomic_long("tail-counter");
    for _ in 0..50 {
        counter.increment_and_get().await.unwrap();
    }
    let leader = cluster.wait_for_leader(Duration::from_secs(30));
    let victim = cluster.follower();
    let other = (1..=3).find(|id| *id != leader && *id != victim).unwrap();

    cluster.kill(victim);
    cut_log_tail(&cluster, victim, 3);
    cluster.kill(leader);
    cluster.start_node(victim);

    // The member that kept its log cannot be elected without the
    // recovering member's vote, which it does not get.
    let deadline = Instant::now() + Duration::from_secs(30);
    while recovering(&cluster, victim) != Some(true) {
        assert!(
            Instant::now() < deadline,
            "member {victim} did not come back recovering"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let quiet = Instant::now() + Duration::from_secs(6);
    while Instant::now() < quiet {
        for id in [victim, other] {
            let state = cluster
                .health(id)
                .and_then(|h| h["state"].as_str().map(str::to_owned));
            assert_ne!(state.as_deref(), Some("leader"), "member {id} was elected");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(cluster.log_text(victim).contains("lost a tail"));

    // A member that kept its log returns: a leader is elected, the
    // recovering member catches up and votes again, and nothing is lost.
    cluster.start_node(leader);
    cluster.wait_for_leader(Duration::from_secs(60));
    let deadline = Instant::now() + Duration::from_secs(60);
    while recovering(&cluster, victim) != Some(false) {
        assert!(Instant::now() < deadline, "member {victim} never caught up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(cluster.log_text(victim).contains("votes again"));
    assert_eq!(counter.get().await.unwrap(), 50);
    assert_eq!(counter.increment_and_get().await.unwrap(), 51);
    client.close().await;
}
