//! A member whose disk fills up exits (status 74) for its supervisor to
//! restart, instead of staying up answering 503, and the others carry on.
//! Its data directory is a small tmpfs mounted for the test (root only; the
//! test says so and passes vacuously elsewhere).

#![allow(clippy::unwrap_used)]

use raftcp::Client;
use raftcp_tests::{TestCluster, Timings};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Unmounts the small filesystem when the test ends, however it ends.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn mount_small_tmpfs(dir: &Path, bytes: u64) -> Option<Mounted> {
    std::fs::create_dir_all(dir).unwrap();
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={bytes}")])
        .arg("tmpfs")
        .arg(dir)
        .status()
        .ok()?;
    status.success().then(|| Mounted(dir.to_owned()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_whose_disk_is_full_exits_and_the_others_carry_on() {
    let mut cluster = TestCluster::prepare("disk-full", Timings::default());
    // A follower-to-be's directory on 40 MiB: room for the first 16 MiB log
    // file and then some.
    let Some(_mounted) = mount_small_tmpfs(&cluster.data_dir(3), 40 * 1024 * 1024) else {
        eprintln!("cannot mount a tmpfs here (needs root); skipping");
        return;
    };
    cluster.start_all();
    let client = Client::connect([cluster.url(1), cluster.url(2)])
        .await
        .unwrap();
    let reference = client.get_value_reference("filler");
    let value = raftcp_proto::Value::Bytes(vec![7; 200_000]);
    // 60 MB of values, more than member 3's disk holds.
    let mut exited = None;
    for _ in 0..300 {
        reference.set(Some(value.clone())).await.unwrap();
        if let Some(status) = cluster.wait_exit(3, Duration::from_millis(1)) {
            exited = Some(status);
            break;
        }
    }
    let status = exited.or_else(|| cluster.wait_exit(3, Duration::from_secs(30)));
    let status = status.expect("member 3 kept running with a full disk");
    assert_eq!(status.code(), Some(74), "{}", cluster.log_text(3));
    assert!(
        cluster
            .log_text(3)
            .contains("exiting so the member can be restarted")
    );
    // Members 1 and 2 are a quorum: writes go on.
    let counter = client.get_atomic_long("after");
    assert_eq!(counter.increment_and_get().await.unwrap(), 1);
}
