//! Goal: a snapshot of a machine holding every object kind, queued waiters
//! and live sessions restores to an identical machine that then behaves
//! identically. Method: build such a machine, restore a copy, feed both the
//! same future entries and compare every output.

#![allow(clippy::unwrap_used)] // tests may panic on what they do not expect

mod support;

use raftcp_proto::RequestId;
use raftcp_proto::{LatchOp, LockOp, LongOp, RefOp, SemaphoreOp, Value};
use raftcp_server::machine::{Command, CommandKind, Machine, Outcome};
use support::*;

fn busy_machine() -> (Driver, Vec<raftcp_proto::SessionId>) {
    let mut d = Driver::new();
    let s: Vec<_> = (0..3).map(|_| d.open()).collect();
    d.ok(s[0], long("counter", LongOp::Set(41)));
    d.ok(
        s[0],
        reference(
            "config",
            RefOp::Set(Some(map(&[("k", Value::Bytes(vec![1, 2]))]))),
        ),
    );
    d.ok(s[0], lock("l", 1, acquire_lock(None)));
    d.ok(s[0], lock("l", 1, acquire_lock(None))); // reentrant
    assert_eq!(
        d.send(s[1], lock("l", 1, acquire_lock(None))).1,
        Outcome::Pending
    );
    assert_eq!(
        d.send(s[2], lock("l", 1, acquire_lock(Some(5_000)))).1,
        Outcome::Pending
    );
    d.ok(s[0], semaphore("pool", 1, SemaphoreOp::Init { permits: 2 }));
    d.ok(
        s[0],
        semaphore(
            "pool",
            1,
            SemaphoreOp::Acquire {
                permits: 2,
                timeout_ms: None,
            },
        ),
    );
    assert_eq!(
        d.send(
            s[1],
            semaphore(
                "pool",
                1,
                SemaphoreOp::Acquire {
                    permits: 1,
                    timeout_ms: None
                }
            )
        )
        .1,
        Outcome::Pending
    );
    d.ok(s[0], latch("gate", LatchOp::TrySetCount { count: 2 }));
    assert_eq!(
        d.send(
            s[2],
            latch(
                "gate",
                LatchOp::Await {
                    timeout_ms: Some(8_000)
                }
            )
        )
        .1,
        Outcome::Pending
    );
    (d, s)
}

#[test]
fn restored_machine_is_identical_and_behaves_identically() {
    let (d, s) = busy_machine();
    let bytes = d.machine.snapshot();
    let mut restored = Machine::restore(&bytes).expect("restores");
    assert_eq!(restored, d.machine);
    assert_eq!(restored.snapshot(), bytes, "snapshots are byte-identical");
    assert_eq!(restored.next_deadline_ms(), d.machine.next_deadline_ms());

    let mut original = d.machine.clone();
    let mut index = d.index();
    let mut time_ms = d.now_ms;
    let future = vec![
        CommandKind::Client {
            session: s[0],
            request: RequestId(100),
            acked_below: RequestId(0),
            op: lock("l", 1, LockOp::Unlock),
        },
        CommandKind::Client {
            session: s[0],
            request: RequestId(101),
            acked_below: RequestId(0),
            op: lock("l", 1, LockOp::Unlock),
        },
        CommandKind::Client {
            session: s[0],
            request: RequestId(102),
            acked_below: RequestId(0),
            op: latch("gate", LatchOp::CountDown),
        },
        CommandKind::Heartbeat {
            sessions: vec![s[1], s[2]],
        },
        CommandKind::ExpireWaits,
        CommandKind::ExpireSessions,
        CommandKind::Client {
            session: s[1],
            request: RequestId(100),
            acked_below: RequestId(0),
            op: long("counter", LongOp::AddAndGet(1)),
        },
    ];
    for kind in future {
        index += 1;
        time_ms += 4_000;
        let command = Command { time_ms, kind };
        let a = original.apply(index, command.clone());
        let b = restored.apply(index, command);
        assert_eq!(a, b);
    }
    assert_eq!(original, restored);
    restored.check_invariants().expect("invariants hold");
}

#[test]
fn damaged_snapshots_are_refused() {
    let (d, _) = busy_machine();
    let bytes = d.machine.snapshot();
    assert!(Machine::restore(&bytes[..bytes.len() / 2]).is_err());
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert!(Machine::restore(&trailing).is_err());
}
