//! Snapshots in a real cluster: a member that missed more than the leader
//! keeps in its log catches up by installing a snapshot (larger than one
//! chunk of the transfer), and every member restarts from its snapshot file
//! plus the log after it.

#![allow(clippy::unwrap_used)]

use raftcp::Client;
use raftcp_server::limits::SNAPSHOT_CHUNK_BYTES;
use raftcp_tests::{TestCluster, Timings};
use std::time::{Duration, Instant};

/// 200 KB that end in `i`.
fn big_value(i: usize) -> String {
    format!("{}{i}", " ".repeat(200_000))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_member_catches_up_from_a_snapshot_and_all_restart_from_theirs() {
    let timings = Timings {
        snapshot_every: 40,
        ..Timings::default()
    };
    let mut cluster = TestCluster::start_with("snapshots", timings);
    let client = Client::connect(cluster.urls()).await.unwrap();
    let counter = client.get_atomic_long("snap-counter");
    let config = client.get_atomic_reference::<serde_json::Value>("snap-config");
    let latch = client.get_count_down_latch("snap-latch");
    config
        .set(&serde_json::json!({"mode": "on", "limit": 3}))
        .await
        .unwrap();
    latch.try_set_count(2).await.unwrap();

    let first_leader = cluster.wait_for_leader(Duration::from_secs(30));
    let lagging = cluster.follower();
    cluster.kill(lagging);
    for _ in 0..300 {
        counter.increment_and_get().await.unwrap();
    }
    // 20 MB of values: the snapshot travels in several chunks.
    for i in 0..100 {
        let big = client.get_atomic_reference::<String>(&format!("snap-big-{i}"));
        big.set(&big_value(i)).await.unwrap();
    }
    latch.count_down().await.unwrap();
    // A leader keeps the log a down follower still needs; a follower purges
    // after each snapshot. So make the third member lead: its log no longer
    // reaches back to where the lagging one stopped.
    cluster.kill(first_leader);
    cluster.start_node(lagging);

    // It catches up to the leader's commit index.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let leader = cluster.wait_for_leader(Duration::from_secs(30));
        let target = cluster.health(leader).unwrap()["commit_index"]
            .as_u64()
            .unwrap();
        let applied = cluster
            .health(lagging)
            .and_then(|h| h["applied_index"].as_u64())
            .unwrap_or(0);
        if applied >= target {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "member {lagging} did not catch up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        cluster
            .gauge(lagging, "raftcp_snapshots_installed")
            .unwrap()
            >= 1,
        "the leader's log was purged, so catching up needs a snapshot"
    );
    let leader = cluster.wait_for_leader(Duration::from_secs(30));
    assert_eq!(
        cluster.gauge(lagging, "raftcp_objects"),
        cluster.gauge(leader, "raftcp_objects")
    );
    let snapshot = cluster.data_dir(lagging).join("state/snapshot");
    let snapshot_bytes = std::fs::metadata(snapshot).unwrap().len();
    assert!(
        snapshot_bytes > 2 * SNAPSHOT_CHUNK_BYTES as u64,
        "the installed snapshot is {snapshot_bytes} bytes: not over two chunks"
    );
    cluster.start_node(first_leader);
    client.close().await;

    // Everyone restarts from snapshot + log.
    cluster.crash_and_restart_all();
    let client = Client::connect(cluster.urls()).await.unwrap();
    assert_eq!(
        client.get_atomic_long("snap-counter").get().await.unwrap(),
        300
    );
    let config = client.get_atomic_reference::<serde_json::Value>("snap-config");
    assert_eq!(
        config.get().await.unwrap(),
        Some(serde_json::json!({"limit": 3, "mode": "on"}))
    );
    assert_eq!(
        client
            .get_count_down_latch("snap-latch")
            .get_count()
            .await
            .unwrap(),
        1
    );
    let big = client.get_atomic_reference::<String>("snap-big-99");
    assert_eq!(big.get().await.unwrap(), Some(big_value(99)));

    // The member that installed the snapshot serves as leader too.
    let leader = cluster.wait_for_leader(Duration::from_secs(30));
    if leader != lagging {
        cluster.kill(leader);
        cluster.wait_for_leader(Duration::from_secs(30));
        assert!(cluster.is_running(lagging));
    }
    assert_eq!(
        client
            .get_atomic_long("snap-counter")
            .increment_and_get()
            .await
            .unwrap(),
        301
    );
}
