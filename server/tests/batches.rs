//! A batch entry applies each command at its own log position, exactly as
//! if the commands had been separate entries at those positions.

#![allow(clippy::unwrap_used)]

use raftcp_proto::{HandleId, LockOp, Op, Reply, RequestId, SessionId};
use raftcp_server::machine::{
    Command, CommandKind, CommandResponse, Machine, Outcome, POSITIONS_PER_ENTRY,
};

fn lock(request: u64, handle: u64) -> CommandKind {
    CommandKind::Client {
        session: SessionId(POSITIONS_PER_ENTRY),
        request: RequestId(request),
        acked_below: RequestId(0),
        op: Op::Lock {
            name: "l".into(),
            handle: HandleId(handle),
            op: LockOp::Lock {
                timeout_ms: None,
                reentrancy_limit: 0,
            },
        },
    }
}

fn unlock(request: u64, handle: u64) -> CommandKind {
    CommandKind::Client {
        session: SessionId(POSITIONS_PER_ENTRY),
        request: RequestId(request),
        acked_below: RequestId(0),
        op: Op::Lock {
            name: "l".into(),
            handle: HandleId(handle),
            op: LockOp::Unlock,
        },
    }
}

fn kinds() -> Vec<CommandKind> {
    vec![
        lock(1, 1),   // granted
        lock(2, 2),   // queued
        unlock(3, 1), // hands the lock to handle 2
        unlock(4, 2),
        lock(5, 1), // granted again: a third fence in one entry
    ]
}

fn open_session(machine: &mut Machine) {
    let command = Command {
        time_ms: 1,
        kind: CommandKind::OpenSession {
            client_name: "c".into(),
            ttl_ms: 60_000,
        },
    };
    let applied = machine.apply_entry(1, command);
    assert_eq!(
        applied.response,
        CommandResponse::SessionOpened {
            session: SessionId(POSITIONS_PER_ENTRY)
        }
    );
}

#[test]
fn a_batch_equals_its_commands_at_consecutive_positions() {
    let mut batched = Machine::new();
    open_session(&mut batched);
    let applied = batched.apply_entry(
        2,
        Command {
            time_ms: 2,
            kind: CommandKind::Batch(kinds().into()),
        },
    );
    let CommandResponse::Batch(responses) = applied.response else {
        panic!("expected a batch response")
    };

    let mut single = Machine::new();
    open_session(&mut single);
    let mut expected = Vec::new();
    let mut expected_effects = Vec::new();
    for (place, kind) in kinds().into_iter().enumerate() {
        let position = 2 * POSITIONS_PER_ENTRY + place as u64;
        let one = single.apply(position, Command { time_ms: 2, kind });
        expected.push(one.response);
        expected_effects.extend(one.effects);
    }
    assert_eq!(responses, expected);
    assert_eq!(applied.effects, expected_effects);
    assert_eq!(batched.snapshot(), single.snapshot());

    // Three grants in one entry, three strictly increasing fences.
    let fence = |response: &CommandResponse| match response {
        CommandResponse::Client(Outcome::Done(Ok(Reply::Fence(Some(f))))) => *f,
        other => panic!("expected a fence, got {other:?}"),
    };
    let first = fence(&responses[0]);
    let handed_over = applied
        .effects
        .iter()
        .find_map(|effect| match effect {
            raftcp_server::machine::Effect::Completed(c) => match &c.result {
                Ok(Reply::Fence(Some(f))) => Some(*f),
                _ => None,
            },
            _ => None,
        })
        .unwrap();
    let third = fence(&responses[4]);
    assert!(first < handed_over && handed_over < third);
}

#[test]
fn a_batch_inside_a_batch_is_refused() {
    let mut machine = Machine::new();
    open_session(&mut machine);
    let nested =
        CommandKind::Batch(vec![CommandKind::Batch(vec![lock(1, 1)].into()), lock(2, 1)].into());
    let applied = machine.apply_entry(
        2,
        Command {
            time_ms: 2,
            kind: nested,
        },
    );
    let CommandResponse::Batch(responses) = applied.response else {
        panic!("expected a batch response")
    };
    assert!(matches!(responses[0], CommandResponse::Refused(_)));
    assert!(matches!(
        responses[1],
        CommandResponse::Client(Outcome::Done(Ok(Reply::Fence(Some(_)))))
    ));
}

/// The first fence the `kinds()` batch grants (applied at entry 2) and the
/// fence of the lock handed over by the unlock after it.
fn granted_and_handed_over(machine: &mut Machine) -> (u64, u64) {
    let applied = machine.apply_entry(
        2,
        Command {
            time_ms: 2,
            kind: CommandKind::Batch(kinds().into()),
        },
    );
    let CommandResponse::Batch(responses) = applied.response else {
        panic!("expected a batch response")
    };
    let CommandResponse::Client(Outcome::Done(Ok(Reply::Fence(Some(first))))) = &responses[0]
    else {
        panic!("expected a fence, got {:?}", responses[0])
    };
    let handed_over = applied.effects.iter().find_map(|effect| match effect {
        raftcp_server::machine::Effect::Completed(c) => match &c.result {
            Ok(Reply::Fence(Some(f))) => Some(f.0),
            _ => None,
        },
        _ => None,
    });
    (first.0, handed_over.unwrap())
}

#[test]
fn a_planted_bug_lives_in_the_machine_it_was_planted_in_only() {
    use raftcp_server::faults::PlantedBug;
    // Planted: the lock handed over keeps the last fence (the campaign's
    // negative control).
    let mut planted = Machine::new();
    planted.plant(Some(PlantedBug::FenceNotAdvanced));
    open_session(&mut planted);
    let (granted, handed_over) = granted_and_handed_over(&mut planted);
    assert_eq!(granted, handed_over);

    // Not carried by a snapshot: the restored machine is healthy until its
    // replica plants the bug again (`StateMachine` does, on every restore).
    let mut before = Machine::new();
    before.plant(Some(PlantedBug::FenceNotAdvanced));
    open_session(&mut before);
    let mut restored = Machine::restore(&before.snapshot()).unwrap();
    let (granted, handed_over) = granted_and_handed_over(&mut restored);
    assert!(granted < handed_over);
}
