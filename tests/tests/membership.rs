//! Operating a running cluster through the admin API, with real processes:
//! growing it and shrinking it under load (the leader removed too),
//! replacing a member whose disk was wiped under a new id, refusing a
//! change that would lose the majority, and closing a stuck session.

#![allow(clippy::unwrap_used)]

use raftcp::proto::admin::Members;
use raftcp::{Client, Error, Fence, OpError};
use raftcp_tests::{TestCluster, Timings, server_binary, wipe};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// What the load clients saw: the counter values their increments
/// returned, how many increments ended without an answer, and their holds
/// of the lock and of the semaphore's one permit.
#[derive(Debug, Default)]
struct Seen {
    increments: Vec<i64>,
    unanswered: usize,
    lock_holds: Vec<Hold>,
    permit_holds: Vec<Hold>,
}

/// One hold, from the moment its acquire returned to the moment its
/// release was sent; `kept` if the release then succeeded (a hold whose
/// session was lost may overlap the next, legitimately).
#[derive(Clone, Copy, Debug)]
struct Hold {
    fence: Option<Fence>,
    acquired: Instant,
    released: Instant,
    kept: bool,
}

/// Load clients that contend for the lock and the permit.
const LOAD_CLIENTS: usize = 2;

/// Increments a counter, and every few increments takes the lock and the
/// semaphore's one permit, over and over until `stop`.
async fn load_client(urls: Vec<String>, stop: Arc<AtomicBool>, done: Arc<AtomicUsize>) -> Seen {
    let client = Client::builder()
        .endpoints(urls)
        .request_timeout(Duration::from_secs(30))
        .connect()
        .await
        .unwrap();
    let counter = client.get_atomic_long("counter");
    let lock = client.get_fenced_lock("lock");
    let pool = client.get_semaphore("pool");
    pool.init(1).await.unwrap();
    let mut seen = Seen::default();
    let mut round = 0u64;
    while !stop.load(Ordering::Relaxed) {
        round += 1;
        match counter.increment_and_get().await {
            Ok(value) => seen.increments.push(value),
            Err(_) => seen.unanswered += 1,
        }
        if round.is_multiple_of(5)
            && let Ok(fence) = lock.lock().await
        {
            let acquired = Instant::now();
            tokio::time::sleep(Duration::from_millis(2)).await;
            let released = Instant::now();
            let kept = lock.unlock().await.is_ok();
            let fence = Some(fence);
            seen.lock_holds.push(Hold {
                fence,
                acquired,
                released,
                kept,
            });
        }
        if round % 5 == 2 && pool.acquire().await.is_ok() {
            let acquired = Instant::now();
            tokio::time::sleep(Duration::from_millis(2)).await;
            let released = Instant::now();
            let kept = pool.release().await.is_ok();
            seen.permit_holds.push(Hold {
                fence: None,
                acquired,
                released,
                kept,
            });
        }
        done.fetch_add(1, Ordering::Relaxed);
    }
    client.close().await;
    seen
}

async fn load(urls: Vec<String>, stop: Arc<AtomicBool>, done: Arc<AtomicUsize>) -> Seen {
    let clients = (0..LOAD_CLIENTS)
        .map(|_| tokio::spawn(load_client(urls.clone(), stop.clone(), done.clone())));
    let mut all = Seen::default();
    for client in clients.collect::<Vec<_>>() {
        let seen = client.await.unwrap();
        all.increments.extend(seen.increments);
        all.unanswered += seen.unanswered;
        all.lock_holds.extend(seen.lock_holds);
        all.permit_holds.extend(seen.permit_holds);
    }
    all
}

/// No two kept holds overlap: each began after the one before it ended.
fn no_overlaps(mut holds: Vec<Hold>, what: &str) {
    holds.retain(|hold| hold.kept);
    holds.sort_by_key(|hold| hold.acquired);
    for pair in holds.windows(2) {
        assert!(
            pair[1].acquired >= pair[0].released,
            "two holders of {what} at once: {pair:?}"
        );
    }
}

/// Every acknowledged increment applied exactly once; fences rising in
/// the order the lock was held; one holder of the lock, and of the permit,
/// at a time.
async fn check(seen: &Seen, urls: Vec<String>) {
    let distinct: BTreeSet<i64> = seen.increments.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        seen.increments.len(),
        "an increment applied twice"
    );
    let client = Client::connect(urls).await.unwrap();
    let value = client.get_atomic_long("counter").get().await.unwrap();
    let acknowledged = seen.increments.len() as i64;
    assert!(
        value >= acknowledged && value <= acknowledged + seen.unanswered as i64,
        "counter at {value} after {acknowledged} acknowledged and {} unanswered increments",
        seen.unanswered
    );
    let mut by_time: Vec<Hold> = seen.lock_holds.iter().filter(|h| h.kept).copied().collect();
    by_time.sort_by_key(|hold| hold.acquired);
    assert!(
        by_time.windows(2).all(|pair| pair[0].fence < pair[1].fence),
        "fences did not rise with the holds: {by_time:?}"
    );
    let (locks, permits) = (seen.lock_holds.len(), seen.permit_holds.len());
    assert!(
        locks > 10 && permits > 10,
        "{locks} lock and {permits} permit holds"
    );
    no_overlaps(seen.lock_holds.clone(), "the lock");
    no_overlaps(seen.permit_holds.clone(), "the permit");
    // Every permit came back.
    let available = client.get_semaphore("pool").available_permits().await;
    assert_eq!(available.unwrap(), 1);
    client.close().await;
}

/// Waits until the leader sees `node` at most `lag` entries behind.
async fn until_caught_up(admin: &raftcp::Admin, node: u64, lag: u64) -> Members {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(members) = admin.members().await
            && members
                .members
                .iter()
                .any(|m| m.node_id == node && m.matched.is_some() && m.lag <= lag)
        {
            return members;
        }
        assert!(Instant::now() < deadline, "node {node} did not catch up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn voters(members: &Members) -> BTreeSet<u64> {
    members
        .members
        .iter()
        .filter(|m| m.voter)
        .map(|m| m.node_id)
        .collect()
}

/// Adds `id`, started with `--join`, as a learner and promotes it.
async fn join(cluster: &mut TestCluster, admin: &raftcp::Admin, id: u64) {
    let addr = cluster.start_joining_node(id);
    admin.add_learner(id, &addr).await.unwrap();
    // A retry of the same change changes nothing.
    admin.add_learner(id, &addr).await.unwrap();
    until_caught_up(admin, id, 100).await;
    admin.promote(id, false).await.unwrap();
}

async fn start_load(cluster: &TestCluster) -> (Arc<AtomicBool>, tokio::task::JoinHandle<Seen>) {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let task = tokio::spawn(load(cluster.urls(), stop.clone(), done.clone()));
    // Enough entries that a member joining later starts from a snapshot.
    let deadline = Instant::now() + Duration::from_secs(60);
    while done.load(Ordering::Relaxed) < 1_000 {
        assert!(Instant::now() < deadline, "the load did not get going");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (stop, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grows_to_five_and_shrinks_to_three_removing_the_leader_under_load() {
    let timings = Timings {
        snapshot_every: 300,
        ..Timings::default()
    };
    let mut cluster = TestCluster::start_with("membership-grow", timings);
    let client = Client::connect(cluster.urls()).await.unwrap();
    let admin = client.admin();
    let (stop, load) = start_load(&cluster).await;

    join(&mut cluster, &admin, 4).await;
    join(&mut cluster, &admin, 5).await;
    let members = admin.members().await.unwrap();
    assert_eq!(voters(&members), BTreeSet::from([1, 2, 3, 4, 5]));
    // The log it needed was purged by snapshots: it started from one.
    let installed = cluster.gauge(4, "raftcp_snapshots_installed").unwrap();
    assert!(installed >= 1, "node 4 caught up without a snapshot");

    // The leader removes itself, then another original member goes.
    let leader = members.leader;
    admin.remove_member(leader, false).await.unwrap();
    cluster.forget(leader);
    let members = admin.members().await.unwrap();
    assert_ne!(members.leader, leader);
    let other = *voters(&members)
        .iter()
        .find(|id| **id <= 3 && **id != members.leader)
        .unwrap();
    admin.remove_member(other, false).await.unwrap();
    cluster.forget(other);
    // Removing a member that is gone is a retry: nothing changes.
    admin.remove_member(other, false).await.unwrap();
    let members = admin.members().await.unwrap();
    assert_eq!(voters(&members).len(), 3, "{members:?}");
    assert!(!members.changing);

    stop.store(true, Ordering::Relaxed);
    let seen = load.await.unwrap();
    assert!(
        seen.increments.len() > 1_000,
        "{} increments",
        seen.increments.len()
    );
    check(&seen, cluster.urls()).await;
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaces_a_wiped_member_under_a_new_id_under_load() {
    let timings = Timings {
        snapshot_every: 300,
        ..Timings::default()
    };
    let mut cluster = TestCluster::start_with("membership-replace", timings);
    let client = Client::connect(cluster.urls()).await.unwrap();
    let admin = client.admin();
    let (stop, load) = start_load(&cluster).await;

    // Its disk dies: the member is gone with everything it had.
    let dead = cluster.follower();
    cluster.kill(dead);
    wipe(&cluster.data_dir(dead));
    admin.remove_member(dead, false).await.unwrap();
    cluster.forget(dead);
    join(&mut cluster, &admin, 4).await;
    let members = admin.members().await.unwrap();
    let expected: BTreeSet<u64> = [1, 2, 3, 4].into_iter().filter(|id| *id != dead).collect();
    assert_eq!(voters(&members), expected);

    stop.store(true, Ordering::Relaxed);
    let seen = load.await.unwrap();
    check(&seen, cluster.urls()).await;
    client.close().await;
}

fn refused(result: Result<impl std::fmt::Debug, Error>, words: &str) {
    match result {
        Err(Error::Server(OpError::AdminRefused { reason })) => {
            assert!(reason.contains(words), "{reason}")
        }
        other => panic!("expected ADMIN_REFUSED ({words}), got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_changes_that_would_lose_the_majority_and_moves_leadership() {
    let mut cluster = TestCluster::start("membership-refusals");
    let client = Client::connect(cluster.urls()).await.unwrap();
    let admin = client.admin();
    let leader = cluster.wait_for_leader(Duration::from_secs(30));
    let followers: Vec<u64> = [1, 2, 3].into_iter().filter(|id| *id != leader).collect();
    cluster.kill(followers[0]);
    // Give the leader time to notice it no longer hears the dead member.
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Left with the leader and the dead member, the group could not commit.
    refused(admin.remove_member(followers[1], false).await, "reachable");
    refused(admin.promote(9, false).await, "not a member");
    let invalid = admin.add_learner(9, "no-port").await;
    assert!(
        matches!(invalid, Err(Error::Server(OpError::InvalidArgument { .. }))),
        "{invalid:?}"
    );
    // Leadership moves to the live follower on request.
    admin.transfer_leader(followers[1]).await.unwrap();
    assert_eq!(admin.members().await.unwrap().leader, followers[1]);
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_session_hands_a_held_lock_to_the_next_waiter() {
    let cluster = TestCluster::start("membership-close-session");
    let connect = |name: &str| {
        Client::builder()
            .endpoints(cluster.urls())
            .client_name(name)
            .connect()
    };
    let stuck = connect("stuck-worker").await.unwrap();
    let next = connect("next-worker").await.unwrap();
    let operator = connect("operator").await.unwrap();
    let admin = operator.admin();

    let first = stuck.get_fenced_lock("job").lock().await.unwrap();
    let waiting_lock = next.get_fenced_lock("job");
    let waiting = tokio::spawn(async move { waiting_lock.lock().await });
    let deadline = Instant::now() + Duration::from_secs(20);
    let stuck_session = loop {
        let sessions = admin.sessions().await.unwrap();
        let holder = sessions.iter().find(|s| s.client_name == "stuck-worker");
        let waits = sessions
            .iter()
            .any(|s| s.client_name == "next-worker" && s.waits == ["lock \"job\""]);
        if let Some(holder) = holder.filter(|_| waits) {
            assert_eq!(holder.holds, ["lock \"job\""]);
            break holder.session;
        }
        assert!(Instant::now() < deadline, "{sessions:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let objects = admin.objects("jo").await.unwrap();
    assert_eq!(objects.len(), 1, "{objects:?}");
    assert_eq!(
        (objects[0].key.kind.as_str(), objects[0].waiters),
        ("lock", 1)
    );
    assert!(
        objects[0].summary.contains(&first.0.to_string()),
        "{objects:?}"
    );

    // The same, from the command line.
    let output = std::process::Command::new(server_binary())
        .args([
            "admin",
            "--endpoints",
            &cluster.urls().join(","),
            "sessions",
        ])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    assert!(
        table.contains("stuck-worker") && table.contains("lock \"job\""),
        "{table}"
    );

    assert!(admin.close_session(stuck_session).await.unwrap());
    let granted = waiting.await.unwrap().unwrap();
    assert!(granted > first, "{granted} after {first}");
    // Closing it again is a retry: it was not open any more.
    assert!(!admin.close_session(stuck_session).await.unwrap());
    for client in [stuck, next, operator] {
        client.close().await;
    }
}
