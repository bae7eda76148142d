//! The seed snippets through `raftcp::blocking::Client`, from plain threads.

#![allow(clippy::unwrap_used)]

use raftcp::blocking::Client;
use raftcp_tests::TestCluster;
use std::time::Duration;

#[test]
fn seed_snippets_through_the_blocking_client() {
    let cluster = TestCluster::start("blocking");
    let client = Client::connect(cluster.urls()).unwrap();

    let atomic_long = client.get_atomic_long("sequence-generator");
    atomic_long.set(0).unwrap();
    assert_eq!(atomic_long.increment_and_get().unwrap(), 1);
    assert_eq!(atomic_long.decrement_and_get().unwrap(), 0);
    assert_eq!(atomic_long.add_and_get(10).unwrap(), 10);
    assert_eq!(atomic_long.get_and_add(5).unwrap(), 10);
    assert_eq!(atomic_long.get().unwrap(), 15);
    assert!(atomic_long.compare_and_set(15, 20).unwrap());

    let atomic_ref = client.get_atomic_reference::<serde_json::Value>("config");
    atomic_ref
        .set(&serde_json::json!({"timeout": 30, "retries": 3}))
        .unwrap();
    let old_config = atomic_ref.get().unwrap().unwrap();
    let new_config = serde_json::json!({"timeout": 60, "retries": 5});
    assert!(
        atomic_ref
            .compare_and_set(Some(&old_config), Some(&new_config))
            .unwrap()
    );
    assert_eq!(
        atomic_ref.get_and_set(&old_config).unwrap(),
        Some(new_config)
    );
    assert!(!atomic_ref.set_if_absent(&old_config).unwrap());
    atomic_ref.clear().unwrap();
    assert!(atomic_ref.is_null().unwrap());

    let lock = client.get_fenced_lock("resource-lock");
    let fence = lock.lock().unwrap();
    let other = client.get_fenced_lock("resource-lock");
    assert_eq!(other.try_lock().unwrap(), None);
    let waiter = std::thread::spawn({
        let other = other.clone();
        move || other.lock()
    });
    std::thread::sleep(Duration::from_millis(200));
    lock.unlock().unwrap();
    let next = waiter.join().unwrap().unwrap();
    assert!(next > fence);
    other.unlock().unwrap();
    let fence1 = lock.lock().unwrap();
    assert_eq!(lock.lock().unwrap(), fence1);
    assert_eq!(lock.get_lock_count().unwrap(), 2);
    lock.unlock().unwrap();
    lock.unlock().unwrap();
    assert!(lock.with_lock(|fence| fence.0 > 0).unwrap());
    let panicked = std::panic::catch_unwind(|| lock.with_lock(|_| panic!("work failed")));
    assert!(panicked.is_err());
    assert!(!lock.is_locked().unwrap());

    let semaphore = client.get_semaphore("connection-pool");
    assert!(semaphore.init(10).unwrap());
    semaphore.acquire().unwrap();
    semaphore.acquire_many(3).unwrap();
    assert!(semaphore.try_acquire().unwrap());
    assert!(
        semaphore
            .try_acquire_many(2, Duration::from_secs(5))
            .unwrap()
    );
    semaphore.release().unwrap();
    semaphore.release_many(3).unwrap();
    assert_eq!(semaphore.available_permits().unwrap(), 7);
    assert_eq!(semaphore.drain_permits().unwrap(), 7);
    semaphore.release_many(2).unwrap();
    semaphore.reduce_permits(2).unwrap();
    semaphore.increase_permits(5).unwrap();
    assert_eq!(semaphore.available_permits().unwrap(), 5);

    let latch = client.get_count_down_latch("startup-latch");
    assert!(latch.try_set_count(3).unwrap());
    let waiting = std::thread::spawn({
        let latch = latch.clone();
        move || latch.await_latch()
    });
    for _ in 0..3 {
        latch.count_down().unwrap();
    }
    waiting.join().unwrap().unwrap();
    assert_eq!(latch.get_count().unwrap(), 0);
    assert!(latch.await_latch_timeout(Duration::from_secs(30)).unwrap());
    client.close();
}
