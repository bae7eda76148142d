//! The client's examples run against a real cluster and do what they say.

#![allow(clippy::unwrap_used)]

use raftcp_tests::{TestCluster, built_profile_dir};
use std::process::Command;

fn run(dir: &std::path::Path, name: &str, endpoints: &str) -> String {
    let output = Command::new(dir.join(name))
        .env("RAFTCP_ENDPOINTS", endpoints)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{name} failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn every_example_runs_against_a_cluster() {
    let dir = built_profile_dir().join("examples");
    let cluster = TestCluster::start("examples");
    let endpoints = cluster.urls().join(",");

    let ids = run(&dir, "sequence_generator", &endpoints);
    assert!(
        ids.contains("next id: 1") && ids.contains("next id: 5"),
        "{ids}"
    );
    let ids = run(&dir, "sequence_generator", &endpoints);
    assert!(
        ids.contains("next id: 6"),
        "ids continue across processes: {ids}"
    );

    let limited = run(&dir, "rate_limiter", &endpoints);
    assert_eq!(limited.matches("admitted").count(), 3, "{limited}");
    assert_eq!(limited.matches("rejected").count(), 2, "{limited}");

    let led = run(&dir, "leader_election", &endpoints);
    assert!(
        led.contains("leading with fence") && led.contains("stepped down"),
        "{led}"
    );

    let barrier = run(&dir, "barrier", &endpoints);
    assert_eq!(
        barrier.matches("passed the barrier").count(),
        3,
        "{barrier}"
    );
}
