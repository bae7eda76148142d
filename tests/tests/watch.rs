//! Watch against a real cluster: every primitive's changes in log order,
//! once each, from a watcher on a follower; a resumed watch after kill -9
//! of its member; limits; and a dropped stream freeing the member's
//! watcher (`raftcp_watchers` in /metrics).

#![allow(clippy::unwrap_used)]

use futures_util::StreamExt;
use raftcp::{Change, Changes, Client, Error, Fence, LatchState, LockState, OpError};
use raftcp_tests::TestCluster;
use std::time::{Duration, Instant};

const PATIENCE: Duration = Duration::from_secs(30);

/// A client on member `id` only, staying there (no move to the leader).
async fn client_on(cluster: &TestCluster, id: u64) -> Client {
    Client::builder()
        .endpoints([cluster.url(id)])
        .follow_leader(false)
        .connect()
        .await
        .unwrap()
}

async fn next<T: Default>(changes: &mut Changes<T>) -> Change<T> {
    tokio::time::timeout(PATIENCE, changes.next())
        .await
        .expect("a change in time")
        .expect("the stream goes on")
        .expect("a change, not an error")
}

/// Waits until member `id` reports `watchers` watchers.
async fn until_watchers(cluster: &TestCluster, id: u64, watchers: u64) {
    let deadline = Instant::now() + PATIENCE;
    while cluster.gauge(id, "raftcp_watchers") != Some(watchers) {
        assert!(
            Instant::now() < deadline,
            "member {id} has {:?} watchers, not {watchers}",
            cluster.gauge(id, "raftcp_watchers")
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_shows_each_change_once_in_order_from_a_follower() {
    let cluster = TestCluster::start("watch-kinds");
    cluster.wait_for_leader(PATIENCE);
    let follower = cluster.follower();
    let watcher = client_on(&cluster, follower).await;
    let writer = Client::connect(cluster.urls()).await.unwrap();

    // A counter: its value now, then every increment, sequential and
    // concurrent (many in one entry, each at its own position).
    let counter = writer.get_atomic_long("watched-counter");
    counter.set(7).await.unwrap();
    let mut changes = watcher
        .get_atomic_long("watched-counter")
        .watch()
        .await
        .unwrap();
    let first = next(&mut changes).await;
    assert_eq!(
        (first.value, first.jump, first.destroyed),
        (7, false, false)
    );
    for _ in 0..20 {
        counter.increment_and_get().await.unwrap();
    }
    let together = (0..100).map(|_| counter.increment_and_get());
    futures_util::future::try_join_all(together).await.unwrap();
    let mut position = first.position;
    for expected in 8..=127 {
        let change = next(&mut changes).await;
        assert_eq!(change.value, expected, "every value, in order");
        assert!(!change.jump, "a client that keeps reading sees no jump");
        assert!(change.position > position, "positions rise");
        position = change.position;
    }
    // A write that changes nothing is not a change; destroy is one.
    counter.set(127).await.unwrap();
    counter.destroy().await.unwrap();
    let gone = next(&mut changes).await;
    assert!(gone.destroyed && gone.value == 0, "{gone:?}");
    // Nothing changes while it is gone: destroying it again, a refused
    // compare-and-set.
    counter.destroy().await.unwrap();
    assert!(!counter.compare_and_set(5, 6).await.unwrap());
    counter.increment_and_get().await.unwrap();
    let again = next(&mut changes).await;
    assert_eq!((again.value, again.destroyed), (1, false), "created again");

    // A lock changes hands: held and free, fences rising, no holder named.
    let other = Client::connect(cluster.urls()).await.unwrap();
    let mut lock_changes = watcher
        .get_fenced_lock("watched-lock")
        .watch()
        .await
        .unwrap();
    let free = next(&mut lock_changes).await.value;
    assert_eq!(free, LockState::default());
    let writer_lock = writer.get_fenced_lock("watched-lock");
    let first_fence = writer_lock.lock().await.unwrap();
    let held = next(&mut lock_changes).await.value;
    assert_eq!(
        held,
        LockState {
            held: true,
            fence: first_fence
        }
    );
    writer_lock.unlock().await.unwrap();
    let released = next(&mut lock_changes).await.value;
    assert_eq!(released, LockState::default(), "free: no fence");
    let second_fence = other.get_fenced_lock("watched-lock").lock().await.unwrap();
    let taken = next(&mut lock_changes).await.value;
    assert_eq!(
        taken,
        LockState {
            held: true,
            fence: second_fence
        }
    );
    assert!(second_fence > first_fence);
    // A holder whose session ends releases it: the watcher sees it freed.
    other.close().await;
    let freed = next(&mut lock_changes).await.value;
    assert_eq!(freed, LockState::default());

    // A semaphore's available permits, and a latch's count and round.
    let mut permits = watcher.get_semaphore("watched-pool").watch().await.unwrap();
    assert_eq!(next(&mut permits).await.value, 0);
    let pool = writer.get_semaphore("watched-pool");
    assert!(pool.init(3).await.unwrap());
    assert_eq!(next(&mut permits).await.value, 3);
    pool.acquire_many(2).await.unwrap();
    assert_eq!(next(&mut permits).await.value, 1);
    let mut latch_changes = watcher
        .get_count_down_latch("watched-latch")
        .watch()
        .await
        .unwrap();
    assert_eq!(next(&mut latch_changes).await.value, LatchState::default());
    let latch = writer.get_count_down_latch("watched-latch");
    assert!(latch.try_set_count(2).await.unwrap());
    let set = next(&mut latch_changes).await.value;
    assert_eq!(set, LatchState { count: 2, round: 1 });
    latch.count_down().await.unwrap();
    assert_eq!(next(&mut latch_changes).await.value.count, 1);

    // A reference, typed.
    let mut values = watcher
        .get_atomic_reference::<String>("watched-config")
        .watch()
        .await
        .unwrap();
    assert_eq!(next(&mut values).await.value, None);
    let config = writer.get_atomic_reference::<String>("watched-config");
    config.set(&"blue".to_owned()).await.unwrap();
    assert_eq!(next(&mut values).await.value.as_deref(), Some("blue"));
    assert_ne!(Fence::INVALID, first_fence);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_resumes_after_its_member_is_killed() {
    let mut cluster = TestCluster::start("watch-resume");
    cluster.wait_for_leader(PATIENCE);
    let follower = cluster.follower();
    // The watcher starts on a follower and may move to any member.
    let mut endpoints = vec![cluster.url(follower)];
    endpoints.extend(
        cluster
            .urls()
            .into_iter()
            .filter(|u| *u != cluster.url(follower)),
    );
    let watcher = Client::builder()
        .endpoints(endpoints)
        .follow_leader(false)
        .connect()
        .await
        .unwrap();
    let writer = Client::connect(cluster.urls()).await.unwrap();
    let counter = writer.get_atomic_long("resumed-counter");
    let mut changes = watcher
        .get_atomic_long("resumed-counter")
        .watch()
        .await
        .unwrap();
    let mut last = next(&mut changes).await;
    for _ in 0..5 {
        counter.increment_and_get().await.unwrap();
    }
    for expected in 1..=5 {
        last = next(&mut changes).await;
        assert_eq!(last.value, expected);
    }
    cluster.kill(follower);
    for _ in 0..5 {
        counter.increment_and_get().await.unwrap();
    }
    // Each value at most once, in order, up to the latest: steps missed
    // while the watcher moved come as one change marked `jump` (which may
    // show the value it had, if the watch resumed before the writes).
    let mut jumped = false;
    while last.value < 10 {
        let change = next(&mut changes).await;
        assert!(
            change.position > last.position,
            "no duplicate, no step back"
        );
        let stepped = match change.jump {
            true => change.value >= last.value,
            false => change.value == last.value + 1,
        };
        assert!(stepped, "{change:?} after {last:?}: a gap is marked");
        jumped |= change.jump;
        last = change;
    }
    assert!(jumped, "a resumed watch says it may have skipped changes");
    counter.increment_and_get().await.unwrap();
    let after = next(&mut changes).await;
    assert_eq!((after.value, after.jump), (11, false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_are_bounded_checked_and_freed() {
    let cluster = TestCluster::start("watch-limits");
    let leader = cluster.wait_for_leader(PATIENCE);
    let client = client_on(&cluster, leader).await;

    // A name that cannot exist is refused when the watch starts.
    let refused = client.get_atomic_long(&"x".repeat(300)).watch().await;
    assert!(
        matches!(refused, Err(Error::Server(OpError::InvalidName { .. }))),
        "{refused:?}"
    );

    // At most WATCHES_PER_SESSION_MAX per connection.
    let max = raftcp::proto::limits::WATCHES_PER_SESSION_MAX;
    let mut held = Vec::new();
    for i in 0..max {
        held.push(
            client
                .get_atomic_long(&format!("bounded-{i}"))
                .watch()
                .await
                .unwrap(),
        );
    }
    until_watchers(&cluster, leader, max as u64).await;
    let one_more = client.get_atomic_long("one-more").watch().await;
    assert!(
        matches!(one_more, Err(Error::Server(OpError::TooManyWatches { .. }))),
        "{one_more:?}"
    );

    // Dropping streams ends their watches on the member.
    held.truncate(1);
    until_watchers(&cluster, leader, 1).await;
    drop(held);
    until_watchers(&cluster, leader, 0).await;
    // Closing the client ends the rest.
    let _kept = client.get_atomic_long("kept").watch().await.unwrap();
    until_watchers(&cluster, leader, 1).await;
    client.close().await;
    until_watchers(&cluster, leader, 0).await;
}
