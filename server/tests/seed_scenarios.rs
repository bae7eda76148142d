//! Every snippet and use case of the CP subsystem guide, played against the
//! state machine alone. Goal: the semantics users rely on hold at the core,
//! before any network or Raft is involved.

#![allow(clippy::unwrap_used)] // tests may panic on what they do not expect

mod support;

use raftcp_proto::{LatchOp, LockOp, LongOp, OpError, RefOp, Reply, SemaphoreOp, Value};
use raftcp_server::machine::Outcome;
use support::*;

#[test]
fn atomic_long_snippet() {
    let mut d = Driver::new();
    let client = d.open();
    let counter = |op| long("sequence-generator", op);
    assert_eq!(d.ok(client, counter(LongOp::Set(0))), Reply::Unit);
    assert_eq!(d.ok(client, counter(LongOp::AddAndGet(1))), Reply::Long(1));
    assert_eq!(d.ok(client, counter(LongOp::AddAndGet(-1))), Reply::Long(0));
    assert_eq!(
        d.ok(client, counter(LongOp::AddAndGet(10))),
        Reply::Long(10)
    );
    assert_eq!(d.ok(client, counter(LongOp::GetAndAdd(5))), Reply::Long(10));
    assert_eq!(d.ok(client, counter(LongOp::Get)), Reply::Long(15));
    let cas = LongOp::CompareAndSet {
        expect: 15,
        update: 20,
    };
    assert_eq!(d.ok(client, counter(cas.clone())), Reply::Bool(true));
    assert_eq!(d.ok(client, counter(cas)), Reply::Bool(false));
    assert_eq!(d.ok(client, counter(LongOp::GetAndSet(7))), Reply::Long(20));
    assert_eq!(d.ok(client, counter(LongOp::GetAndAdd(1))), Reply::Long(7));
    assert_eq!(d.ok(client, counter(LongOp::GetAndAdd(-1))), Reply::Long(8));
    assert_eq!(d.ok(client, counter(LongOp::AddAndGet(1))), Reply::Long(8));
}

#[test]
fn atomic_long_wraps_like_java() {
    let mut d = Driver::new();
    let client = d.open();
    d.ok(client, long("edge", LongOp::Set(i64::MAX)));
    assert_eq!(
        d.ok(client, long("edge", LongOp::AddAndGet(1))),
        Reply::Long(i64::MIN)
    );
}

#[test]
fn atomic_reference_snippet() {
    let mut d = Driver::new();
    let client = d.open();
    let config = |op| reference("config", op);
    let old = map(&[("timeout", Value::I64(30)), ("retries", Value::I64(3))]);
    // The same map as another language would send it: other key order, a
    // float that is an integer, an unsigned integer.
    let old_elsewhere = map(&[("retries", Value::U64(3)), ("timeout", Value::F64(30.0))]);
    let new = map(&[("timeout", Value::I64(60)), ("retries", Value::I64(5))]);
    let default = map(&[("timeout", Value::I64(10))]);

    assert_eq!(
        d.ok(client, config(RefOp::Set(Some(old.clone())))),
        Reply::Unit
    );
    assert_eq!(
        d.ok(client, config(RefOp::Get)),
        Reply::Value(Some(old.clone()))
    );
    let cas = RefOp::CompareAndSet {
        expect: Some(old_elsewhere),
        update: Some(new.clone()),
    };
    assert_eq!(d.ok(client, config(cas)), Reply::Bool(true));
    assert_eq!(
        d.ok(client, config(RefOp::GetAndSet(Some(new.clone())))),
        Reply::Value(Some(new.clone()))
    );
    let set_if_absent = RefOp::CompareAndSet {
        expect: None,
        update: Some(default.clone()),
    };
    assert_eq!(
        d.ok(client, config(set_if_absent.clone())),
        Reply::Bool(false)
    );
    assert_eq!(d.ok(client, config(RefOp::IsNull)), Reply::Bool(false));
    assert_eq!(
        d.ok(client, config(RefOp::Contains(Some(new)))),
        Reply::Bool(true)
    );
    assert_eq!(d.ok(client, config(RefOp::Set(None))), Reply::Unit);
    assert_eq!(d.ok(client, config(RefOp::IsNull)), Reply::Bool(true));
    assert_eq!(
        d.ok(client, config(RefOp::Contains(None))),
        Reply::Bool(true)
    );
    assert_eq!(d.ok(client, config(set_if_absent)), Reply::Bool(true));
    assert_eq!(
        d.ok(client, config(RefOp::Get)),
        Reply::Value(Some(default))
    );
}

#[test]
fn fenced_lock_snippet() {
    let mut d = Driver::new();
    let client = d.open();
    let resource = |op| lock("resource-lock", 1, op);
    let fence = fence_of(d.ok(client, resource(acquire_lock(None))));
    assert!(fence > 0);
    assert_eq!(
        d.ok(client, resource(LockOp::IsLockedByMe)),
        Reply::Bool(true)
    );
    assert_eq!(
        d.ok(client, resource(LockOp::GetFence)),
        Reply::Fence(Some(raftcp_proto::Fence(fence)))
    );
    assert_eq!(d.ok(client, resource(LockOp::Unlock)), Reply::Unit);
    // try_lock(timeout = 5 s) on a free lock: immediate, with a larger fence.
    let second = fence_of(d.ok(client, resource(acquire_lock(Some(5_000)))));
    assert!(second > fence);
    d.ok(client, resource(LockOp::Unlock));
    assert_eq!(d.ok(client, resource(LockOp::IsLocked)), Reply::Bool(false));
    // Unlocking what is not held is an error, never a silent no-op.
    assert!(matches!(
        d.call(client, resource(LockOp::Unlock)),
        Err(OpError::NotOwner { .. })
    ));
}

#[test]
fn fence_grows_when_a_hung_holder_loses_the_lock() {
    let mut d = Driver::new();
    let hung = d.open();
    let other = d.open();
    let fence1 = fence_of(d.ok(hung, lock("resource-lock", 1, acquire_lock(None))));
    let (waiting, outcome) = d.send(other, lock("resource-lock", 1, acquire_lock(None)));
    assert_eq!(outcome, Outcome::Pending);
    // `other` keeps heartbeating; `hung` does not, and its session expires.
    for _ in 0..3 {
        d.advance(support::TTL_MS / 2);
        d.heartbeat(&[other]);
    }
    assert!(d.ended.contains(&hung));
    let fence2 = fence_of(d.completion(other, waiting).expect("granted").unwrap());
    assert!(
        fence2 > fence1,
        "fence2 {fence2} must exceed fence1 {fence1}"
    );
    // The hung client's next call learns its session is gone.
    let late = d.call(hung, lock("resource-lock", 1, LockOp::Unlock));
    assert!(matches!(late, Err(OpError::SessionExpired { .. })));
}

#[test]
fn semaphore_snippet() {
    let mut d = Driver::new();
    let client = d.open();
    let pool = |op| semaphore("connection-pool", 1, op);
    let try_acquire = |permits, timeout_ms| SemaphoreOp::Acquire {
        permits,
        timeout_ms: Some(timeout_ms),
    };
    assert_eq!(
        d.ok(client, pool(SemaphoreOp::Init { permits: 10 })),
        Reply::Bool(true)
    );
    assert_eq!(
        d.ok(client, pool(SemaphoreOp::Init { permits: 99 })),
        Reply::Bool(false)
    );
    assert_eq!(
        d.ok(
            client,
            pool(SemaphoreOp::Acquire {
                permits: 1,
                timeout_ms: None
            })
        ),
        Reply::Bool(true)
    );
    assert_eq!(
        d.ok(
            client,
            pool(SemaphoreOp::Acquire {
                permits: 3,
                timeout_ms: None
            })
        ),
        Reply::Bool(true)
    );
    assert_eq!(d.ok(client, pool(try_acquire(1, 0))), Reply::Bool(true));
    assert_eq!(d.ok(client, pool(try_acquire(2, 5_000))), Reply::Bool(true));
    assert_eq!(
        d.ok(client, pool(SemaphoreOp::AvailablePermits)),
        Reply::Count(3)
    );
    d.ok(client, pool(SemaphoreOp::Release { permits: 1 }));
    d.ok(client, pool(SemaphoreOp::Release { permits: 3 }));
    assert_eq!(
        d.ok(client, pool(SemaphoreOp::AvailablePermits)),
        Reply::Count(7)
    );
    assert_eq!(d.ok(client, pool(SemaphoreOp::Drain)), Reply::Count(7));
    assert_eq!(
        d.ok(client, pool(SemaphoreOp::AvailablePermits)),
        Reply::Count(0)
    );
    d.ok(client, pool(SemaphoreOp::Reduce { permits: 2 }));
    assert_eq!(
        d.ok(client, pool(SemaphoreOp::AvailablePermits)),
        Reply::Count(0)
    );
    d.ok(client, pool(SemaphoreOp::Increase { permits: 5 }));
    assert_eq!(
        d.ok(client, pool(SemaphoreOp::AvailablePermits)),
        Reply::Count(5)
    );
    // Releasing more than held is refused with the numbers.
    let too_many = d.call(client, pool(SemaphoreOp::Release { permits: 100 }));
    assert!(matches!(
        too_many,
        Err(OpError::NotEnoughPermits {
            held: 10,
            requested: 100,
            ..
        })
    ));
}

#[test]
fn count_down_latch_snippet() {
    let mut d = Driver::new();
    let main = d.open();
    let workers: Vec<_> = (0..3).map(|_| d.open()).collect();
    let startup = |op| latch("startup-latch", op);
    assert_eq!(
        d.ok(main, startup(LatchOp::TrySetCount { count: 3 })),
        Reply::Bool(true)
    );
    assert_eq!(
        d.ok(main, startup(LatchOp::TrySetCount { count: 5 })),
        Reply::Bool(false)
    );
    let (waiting, outcome) = d.send(main, startup(LatchOp::Await { timeout_ms: None }));
    assert_eq!(outcome, Outcome::Pending);
    for worker in &workers {
        assert!(d.completion(main, waiting).is_none());
        d.ok(*worker, startup(LatchOp::CountDown));
    }
    assert_eq!(d.completion(main, waiting), Some(Ok(Reply::Bool(true))));
    assert_eq!(d.ok(main, startup(LatchOp::GetCount)), Reply::Count(0));
    // A new round that nobody counts down: await with a timeout gives false.
    assert_eq!(
        d.ok(main, startup(LatchOp::TrySetCount { count: 1 })),
        Reply::Bool(true)
    );
    let (timed, _) = d.send(
        main,
        startup(LatchOp::Await {
            timeout_ms: Some(30_000),
        }),
    );
    for _ in 0..29 {
        d.advance(1_000);
        d.heartbeat(&[main]);
    }
    assert!(d.completion(main, timed).is_none());
    d.advance(1_000);
    assert_eq!(d.completion(main, timed), Some(Ok(Reply::Bool(false))));
    assert_eq!(d.ok(main, startup(LatchOp::GetCount)), Reply::Count(1));
}

#[test]
fn use_case_sequence_generator() {
    let mut d = Driver::new();
    let clients: Vec<_> = (0..4).map(|_| d.open()).collect();
    let mut ids = Vec::new();
    for round in 0..25 {
        for client in &clients {
            let _ = round;
            match d.ok(*client, long("id-sequence", LongOp::AddAndGet(1))) {
                Reply::Long(id) => ids.push(id),
                other => panic!("{other:?}"),
            }
        }
    }
    let expected: Vec<i64> = (1..=100).collect();
    assert_eq!(ids, expected, "ids are unique and gap-free");
}

#[test]
fn use_case_rate_limiter() {
    let mut d = Driver::new();
    let client = d.open();
    let check_rate_limit = |d: &mut Driver, user: &str, limit: u32| -> bool {
        let name = format!("rate-limit:{user}");
        if d.ok(client, semaphore(&name, 1, SemaphoreOp::AvailablePermits)) == Reply::Count(0) {
            d.ok(
                client,
                semaphore(&name, 1, SemaphoreOp::Init { permits: limit }),
            );
        }
        d.ok(
            client,
            semaphore(
                &name,
                1,
                SemaphoreOp::Acquire {
                    permits: 1,
                    timeout_ms: Some(0),
                },
            ),
        ) == Reply::Bool(true)
    };
    let allowed = (0..5)
        .filter(|_| check_rate_limit(&mut d, "alice", 3))
        .count();
    assert_eq!(allowed, 3);
    assert!(check_rate_limit(&mut d, "bob", 3), "limits are per user");
}

#[test]
fn use_case_leader_election() {
    let mut d = Driver::new();
    let candidates: Vec<_> = (0..3).map(|_| d.open()).collect();
    let try_become_leader = |d: &mut Driver, who| {
        d.ok(who, lock("leader-lock", 1, acquire_lock(Some(0)))) != Reply::Fence(None)
    };
    let leaders: Vec<_> = candidates
        .iter()
        .filter(|c| try_become_leader(&mut d, **c))
        .collect();
    assert_eq!(leaders, vec![&candidates[0]]);
    // do_leader_work: `with lock:` blocks until the leader steps down.
    let (waiting, outcome) = d.send(candidates[1], lock("leader-lock", 1, acquire_lock(None)));
    assert_eq!(outcome, Outcome::Pending);
    d.ok(candidates[0], lock("leader-lock", 1, LockOp::Unlock));
    assert!(matches!(
        d.completion(candidates[1], waiting),
        Some(Ok(Reply::Fence(Some(_))))
    ));
    d.ok(candidates[1], lock("leader-lock", 1, LockOp::Unlock));
}

#[test]
fn use_case_distributed_barrier() {
    let mut d = Driver::new();
    let participants: Vec<_> = (0..4).map(|_| d.open()).collect();
    let mut waits = Vec::new();
    for p in &participants {
        d.ok(*p, latch("barrier", LatchOp::TrySetCount { count: 4 }));
        d.ok(*p, latch("barrier", LatchOp::CountDown));
        let (request, outcome) = d.send(*p, latch("barrier", LatchOp::Await { timeout_ms: None }));
        waits.push((*p, request, outcome));
    }
    // The last participant finds the latch open; everyone else is released.
    assert_eq!(waits[3].2, Outcome::Done(Ok(Reply::Bool(true))));
    for (p, request, _) in &waits[..3] {
        assert_eq!(d.completion(*p, *request), Some(Ok(Reply::Bool(true))));
    }
}

#[test]
fn query_refuses_mutations_instead_of_applying_them() {
    let mut d = Driver::new();
    let client = d.open();
    let refused = d.machine.query(client, &long("x", LongOp::AddAndGet(1)));
    assert!(matches!(refused, Err(OpError::InvalidArgument { .. })));
    assert_eq!(d.ok(client, long("x", LongOp::Get)), Reply::Long(0));
}
