//! Crashes: kill -9 of the leader, of every member at once, and of a client
//! that holds a lock; a wiped data directory coming back under its old id.

#![allow(clippy::unwrap_used)]

use raftcp::Client;
use raftcp_tests::{TestCluster, wipe};
use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// Starts a client process (connected to member 1) that takes lock `name`;
/// returns it, its output and the fence it got. Its stdin stays open, so it
/// runs until killed.
fn lock_in_another_process(
    cluster: &TestCluster,
    name: &str,
) -> (Child, BufReader<ChildStdout>, u64) {
    let mut holder = Command::new(env!("CARGO_BIN_EXE_raftcp-test-client"))
        .args([cluster.url(1).as_str(), "lock", name])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut output = BufReader::new(holder.stdout.take().unwrap());
    let mut line = String::new();
    output.read_line(&mut line).unwrap();
    let fence = line.trim().strip_prefix("fence ").unwrap().parse().unwrap();
    (holder, output, fence)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_goes_on_after_the_leader_is_killed() {
    let mut cluster = TestCluster::start("kill-leader");
    let client = Client::connect(cluster.urls()).await.unwrap();
    let counter = client.get_atomic_long("counter");
    for expected in 1..=20 {
        assert_eq!(counter.increment_and_get().await.unwrap(), expected);
    }
    let old_leader = cluster.wait_for_leader(Duration::from_secs(30));
    cluster.kill(old_leader);
    // Every increment is acknowledged exactly once, through the election.
    for expected in 21..=40 {
        assert_eq!(counter.increment_and_get().await.unwrap(), expected);
    }
    let new_leader = cluster.wait_for_leader(Duration::from_secs(30));
    assert_ne!(new_leader, old_leader);
    cluster.start_node(old_leader);
    for expected in 41..=50 {
        assert_eq!(counter.increment_and_get().await.unwrap(), expected);
    }
    assert_eq!(counter.get().await.unwrap(), 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_of_every_member() {
    let mut cluster = TestCluster::start("kill-all");
    let client = Client::connect(cluster.urls()).await.unwrap();
    let counter = client.get_atomic_long("durable");
    let lock = client.get_fenced_lock("durable-lock");
    let mut acknowledged = 0;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let counter = counter.clone();
        tasks.push(tokio::spawn(async move {
            let mut done = 0;
            for _ in 0..25 {
                counter.increment_and_get().await.unwrap();
                done += 1;
            }
            done
        }));
    }
    for task in tasks {
        acknowledged += task.await.unwrap();
    }
    let fence = lock.lock().await.unwrap();
    lock.unlock().await.unwrap();
    client.close().await;
    cluster.crash_and_restart_all();
    let client = Client::connect(cluster.urls()).await.unwrap();
    assert_eq!(
        client.get_atomic_long("durable").get().await.unwrap(),
        acknowledged
    );
    // Fences keep increasing across the restart.
    let lock = client.get_fenced_lock("durable-lock");
    assert!(lock.lock().await.unwrap() > fence);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_clients_lock_passes_on_after_its_session_ttl() {
    let cluster = TestCluster::start("client-killed");
    let (mut holder, _output, holder_fence) = lock_in_another_process(&cluster, "job-lock");
    let client = Client::connect([cluster.url(2)]).await.unwrap();
    let lock = client.get_fenced_lock("job-lock");
    assert_eq!(lock.try_lock().await.unwrap(), None);
    assert!(
        holder.try_wait().unwrap().is_none(),
        "the holder must still run"
    );
    holder.kill().unwrap(); // SIGKILL
    holder.wait().unwrap();
    let started = Instant::now();
    let fence = lock.lock().await.unwrap();
    assert!(fence.0 > holder_fence);
    // Not before the TTL (4 s in tests) less a heartbeat of slack.
    assert!(
        started.elapsed() >= Duration::from_millis(3_000),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wiped_member_is_refused_not_silently_rejoined() {
    let mut cluster = TestCluster::start("wiped");
    let client = Client::connect(cluster.urls()).await.unwrap();
    let counter = client.get_atomic_long("kept");
    counter.add_and_get(5).await.unwrap();
    let victim = cluster.follower();
    cluster.kill(victim);
    wipe(&cluster.data_dir(victim));
    cluster.start_node(victim);
    // The others refuse its new incarnation, so it never learns a leader.
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Some(health) = cluster.health(victim) {
            assert!(health["leader"].is_null(), "wiped node joined: {health}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let refused = (1..=3)
        .filter(|id| *id != victim)
        .any(|id| cluster.log_text(id).contains("data was wiped or replaced"));
    assert!(refused, "no member logged the refusal");
    // The cluster goes on with its two healthy members.
    assert_eq!(counter.add_and_get(1).await.unwrap(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_survives_losing_the_member_it_was_connected_to() {
    let mut cluster = TestCluster::start("resume");
    let first = cluster.follower();
    let mut urls = vec![cluster.url(first)];
    urls.extend(
        cluster
            .urls()
            .into_iter()
            .filter(|u| *u != cluster.url(first)),
    );
    let client = Client::connect(urls).await.unwrap();
    let lock = client.get_fenced_lock("kept-lock");
    let fence = lock.lock().await.unwrap();
    let waiter_client = Client::connect(cluster.urls()).await.unwrap();
    let waiter = waiter_client.get_fenced_lock("kept-lock");
    let queued = tokio::spawn({
        let waiter = waiter.clone();
        async move { waiter.lock().await }
    });
    cluster.kill(first);
    // The client reconnects elsewhere and resumes its session: the lock is
    // still its own, with the same fence, well past the session TTL.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(lock.is_locked_by_me().await.unwrap());
    assert_eq!(lock.get_fence().await.unwrap(), fence);
    assert!(!queued.is_finished());
    lock.unlock().await.unwrap();
    let next = queued.await.unwrap().unwrap();
    assert!(next > fence);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_clients_lock_passes_on_and_it_learns_ownership_was_lost() {
    let cluster = TestCluster::start("client-paused");
    let (mut holder, mut output, holder_fence) = lock_in_another_process(&cluster, "paused-lock");
    let mut line = String::new();

    let pid = holder.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-STOP", &pid])
            .status()
            .unwrap()
            .success()
    );
    let client = Client::connect([cluster.url(2)]).await.unwrap();
    let lock = client.get_fenced_lock("paused-lock");
    let started = Instant::now();
    let fence = lock.lock().await.unwrap();
    assert!(fence.0 > holder_fence);
    assert!(
        started.elapsed() >= Duration::from_millis(3_000),
        "{:?}",
        started.elapsed()
    );

    assert!(
        Command::new("kill")
            .args(["-CONT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let mut stdin = holder.stdin.take().unwrap();
    std::io::Write::write_all(&mut stdin, b"unlock\n").unwrap();
    line.clear();
    output.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "error LOCK_OWNERSHIP_LOST");
    // The new holder is untouched.
    assert!(lock.is_locked_by_me().await.unwrap());
    assert_eq!(lock.get_fence().await.unwrap(), fence);
    drop(stdin);
    holder.kill().unwrap();
    holder.wait().unwrap();
}

/// Whether member `id` says it holds back its vote (`/health`).
fn recovering(cluster: &TestCluster, id: u64) -> Option<bool> {
    cluster.health(id)?.get("recovering")?.as_bool()
}

/// Waits until member `id` answers `/health` with `recovering` as given.
async fn wait_recovering(cluster: &TestCluster, id: u64, expected: bool, within: Duration) {
    let deadline = Instant::now() + within;
    while recovering(cluster, id) != Some(expected) {
        assert!(
            Instant::now() < deadline,
            "member {id} did not say recovering={expected} within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Asserts that none of `ids` is elected for `quiet`.
async fn no_leader_among(cluster: &TestCluster, ids: &[u64], quiet: Duration) {
    let until = Instant::now() + quiet;
    while Instant::now() < until {
        for id in ids {
            let state = cluster
                .health(*id)
                .and_then(|h| h["state"].as_str().map(str::to_owned));
            assert_ne!(state.as_deref(), Some("leader"), "member {id} was elected");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A member whose log lost its last record while it was down (torn by a
/// power cut, or lost on the disk after it was synced: the file cannot
/// tell) may have lost an entry it acknowledged. It comes back marked, and
/// the mark outlives restarts: it neither votes nor stands for election,
/// so the member that kept its log cannot be elected with its help, until
/// it has caught up with a leader. Then it votes again and nothing is lost.
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
    cluster.cut_log_tail(victim, 3);
    cluster.kill(leader);
    cluster.start_node(victim);
    wait_recovering(&cluster, victim, true, Duration::from_secs(30)).await;
    no_leader_among(&cluster, &[victim, other], Duration::from_secs(6)).await;
    assert!(cluster.log_text(victim).contains("may have lost entries"));
    // Restarted, it is still held back: the mark is on disk.
    cluster.kill(victim);
    cluster.start_node(victim);
    wait_recovering(&cluster, victim, true, Duration::from_secs(30)).await;
    no_leader_among(&cluster, &[victim, other], Duration::from_secs(4)).await;

    // A member that kept its log returns: a leader is elected, the
    // recovering member catches up and votes again, and nothing is lost.
    cluster.start_node(leader);
    cluster.wait_for_leader(Duration::from_secs(60));
    wait_recovering(&cluster, victim, false, Duration::from_secs(60)).await;
    assert!(cluster.log_text(victim).contains("votes again"));
    assert_eq!(counter.get().await.unwrap(), 50);
    assert_eq!(counter.increment_and_get().await.unwrap(), 51);
    assert_eq!(cluster.gauge(victim, "raftcp_recovering"), Some(0));
    // Caught up once, it stays so: the mark was cleared from disk.
    cluster.kill(victim);
    cluster.start_node(victim);
    wait_recovering(&cluster, victim, false, Duration::from_secs(30)).await;
    client.close().await;
}

/// A power cut of the whole site can tear the record every member was
/// writing. Each comes back marked, yet they elect a leader by themselves:
/// one whose log is at least as up to date as every voter's. Here the old
/// leader lost the most, so a follower, which still names the old leader
/// from its vote, must notice that nobody leads and stand.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_every_member_lost_a_tail_they_elect_the_most_up_to_date() {
    let mut cluster = TestCluster::start("site-power-cut");
    let client = Client::connect(cluster.urls()).await.unwrap();
    let counter = client.get_atomic_long("site-counter");
    for _ in 0..30 {
        counter.increment_and_get().await.unwrap();
    }
    client.close().await;
    let old_leader = cluster.wait_for_leader(Duration::from_secs(30));
    for id in 1..=3 {
        cluster.kill(id);
        // 3 bytes end inside the last record (none is that short): always
        // seen; 2,000 take several records, entries among them.
        let bytes = if id == old_leader { 2_000 } else { 3 };
        cluster.cut_log_tail(id, bytes);
    }
    for id in 1..=3 {
        cluster.start_node(id);
    }
    let leader = cluster.wait_for_leader(Duration::from_secs(60));
    assert_ne!(
        leader, old_leader,
        "the member that lost the most was elected"
    );
    for id in 1..=3 {
        wait_recovering(&cluster, id, false, Duration::from_secs(60)).await;
    }
    let client = Client::connect(cluster.urls()).await.unwrap();
    let counter = client.get_atomic_long("site-counter");
    // Each follower lost its last record, as if all had lost synced data
    // (past what the group promises to survive): it may have held the
    // last write.
    let kept = counter.get().await.unwrap();
    assert!((29..=30).contains(&kept), "{kept}");
    assert_eq!(counter.increment_and_get().await.unwrap(), kept + 1);
    client.close().await;
}

/// Two members lost a tail and the third is gone: they cannot know that
/// the third held nothing more, so no leader is elected, until the
/// operator, who knows, runs `raftcp vote-again` on each stopped member.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_voter_gone_the_operator_lets_the_others_vote_again() {
    let mut cluster = TestCluster::start("vote-again");
    let client = Client::connect(cluster.urls()).await.unwrap();
    let counter = client.get_atomic_long("gone-counter");
    for _ in 0..20 {
        counter.increment_and_get().await.unwrap();
    }
    client.close().await;
    for id in 1..=3 {
        cluster.kill(id);
    }
    for id in [1, 2] {
        cluster.cut_log_tail(id, 3);
        cluster.start_node(id);
    }
    for id in [1, 2] {
        wait_recovering(&cluster, id, true, Duration::from_secs(30)).await;
    }
    no_leader_among(&cluster, &[1, 2], Duration::from_secs(8)).await;

    // Taken now: the command runs while the cluster is being changed.
    let data_dirs: std::collections::BTreeMap<u64, _> =
        [1, 2].map(|id| (id, cluster.data_dir(id))).into();
    let vote_again = |id: u64| {
        Command::new(raftcp_tests::server_binary())
            .args(["vote-again", "--data-dir"])
            .arg(&data_dirs[&id])
            .output()
            .unwrap()
    };
    assert!(
        !vote_again(1).status.success(),
        "it refuses a running member"
    );
    for id in [1, 2] {
        cluster.kill(id);
        let cleared = vote_again(id);
        let said = String::from_utf8_lossy(&cleared.stdout);
        assert!(cleared.status.success(), "{said}");
        assert!(said.contains("votes again"), "{said}");
    }
    for id in [1, 2] {
        cluster.start_node(id);
    }
    cluster.wait_for_leader(Duration::from_secs(60));
    let client = Client::connect(cluster.urls()).await.unwrap();
    let counter = client.get_atomic_long("gone-counter");
    let kept = counter.get().await.unwrap();
    assert!((19..=20).contains(&kept), "{kept}");
    assert_eq!(counter.increment_and_get().await.unwrap(), kept + 1);
    client.close().await;
}
