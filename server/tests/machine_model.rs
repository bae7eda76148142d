//! Model-based property tests, one per primitive. Goal: the machine agrees
//! with the reference model (`support/model.rs`) on every response and every
//! completion, under random interleavings from three clients with two handles
//! each, including retried requests, heartbeats that stop, session expiry,
//! wait timeouts, cancels, closes and leader changes. Invariants are checked
//! after every entry; fences are checked to never go backwards; a retry
//! must answer exactly what the first attempt answered.

#![allow(clippy::unwrap_used)] // tests may panic on what they do not expect

mod support;

use proptest::prelude::*;
use raftcp_proto::limits::{ACKED_EXCEPT_MAX, LEASE_MS_MAX, LEASE_MS_MIN, ONE_SHOT_KEY_TTL_MS};
use raftcp_proto::{
    HandleId, LatchOp, LeaseSecret, LockOp, LongOp, Op, RefOp, Reply, RequestId, SemaphoreOp,
    SessionId, Value,
};
use raftcp_server::machine::{
    Command, CommandKind, CommandResponse, Effect, Machine, OneShotKey, OpFingerprint, Outcome,
    SessionOwner,
};
use std::collections::BTreeMap;
use support::model::Model;

const CLIENTS: usize = 3;
const NAMES: [&str; 2] = ["a", "b"];
const TTL_MS: u64 = 1_000;

#[derive(Clone, Debug)]
enum Step {
    Call {
        client: usize,
        handle: u64,
        name: usize,
        op: Op,
    },
    Retry {
        pick: usize,
    },
    Advance {
        ms: u64,
    },
    Heartbeat {
        client: usize,
    },
    Cancel {
        pick: usize,
    },
    Close {
        client: usize,
    },
    /// The client resumes its session on a new connection, with its own
    /// secret or (as an attacker would) another.
    Resume {
        client: usize,
        own_secret: bool,
    },
    Renew,
    /// A session-less call under one of a few keys, so keys are reused,
    /// for the same operation (a retry) and for another.
    OneShot {
        key: u8,
        name: usize,
        op: Op,
    },
    /// Long enough for kept session-less answers to expire, or nearly.
    LongPause {
        ms: u64,
    },
    /// A leased lock's call, in a client's session or without one: take
    /// the lock for a lease, or renew or end one of the leases taken so
    /// far, with its own secret or another.
    Leased {
        client: usize,
        one_shot: bool,
        name: usize,
        call: LeaseCall,
    },
}

/// What a [`Step::Leased`] asks.
#[derive(Clone, Debug)]
struct LeaseCall {
    /// Permits of a semaphore, or (`None`) a lock.
    permits: Option<u32>,
    action: LeaseAction,
    lease_ms: u64,
    pick: usize,
    own_secret: bool,
}

#[derive(Clone, Copy, Debug)]
enum LeaseAction {
    Take,
    Renew,
    End,
}

/// Lease lengths: common ones, and the ends of the allowed range and just
/// past them.
fn lease_ms() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => LEASE_MS_MIN..3_000,
        1 => Just(LEASE_MS_MAX),
        1 => Just(LEASE_MS_MIN - 1),
        1 => Just(LEASE_MS_MAX + 1),
        1 => Just(0),
        1 => Just(u64::MAX),
    ]
}

fn leased_steps() -> impl Strategy<Value = Vec<Step>> {
    let action = prop_oneof![
        Just(LeaseAction::Take),
        Just(LeaseAction::Renew),
        Just(LeaseAction::End)
    ];
    let leased = (
        (0..CLIENTS, any::<bool>(), 0..NAMES.len()),
        prop_oneof![Just(None), count(3).prop_map(Some)],
        action,
        lease_ms(),
        any::<usize>(),
        prop_oneof![4 => Just(true), 1 => Just(false)],
    )
        .prop_map(
            |((client, one_shot, name), permits, action, lease_ms, pick, own_secret)| {
                let call = LeaseCall {
                    permits,
                    action,
                    lease_ms,
                    pick,
                    own_secret,
                };
                Step::Leased {
                    client,
                    one_shot,
                    name,
                    call,
                }
            },
        );
    let lock_steps = steps(prop_oneof![lock_op(), semaphore_op()]);
    (lock_steps, proptest::collection::vec(leased, 1..60)).prop_map(|(mut steps, leased)| {
        // Interleaved: lease calls among the session holders' calls.
        for (i, step) in leased.into_iter().enumerate() {
            let at = (i * 2).min(steps.len());
            steps.insert(at, step);
        }
        steps
    })
}

fn timeout() -> impl Strategy<Value = Option<u64>> {
    prop_oneof![
        Just(None),
        Just(Some(0)),
        (1u64..1_500).prop_map(Some),
        Just(Some(u64::MAX))
    ]
}

/// The ends of the range, where arithmetic slips live.
fn extreme_long() -> impl Strategy<Value = i64> {
    prop_oneof![
        Just(i64::MIN),
        Just(i64::MIN + 1),
        Just(i64::MAX),
        Just(i64::MAX - 1)
    ]
}

/// A small count (often what the step needs), or an extreme one: the
/// machine must refuse or absorb every `u32` without breaking an invariant.
fn count(below: u32) -> impl Strategy<Value = u32> {
    prop_oneof![
        6 => 0..below,
        1 => Just(u32::MAX),
        1 => Just(u32::MAX - 1),
        1 => Just(u32::MAX / 2 + 1),
    ]
}

fn reentrancy_limit() -> impl Strategy<Value = u32> {
    prop_oneof![4 => 0u32..3, 1 => Just(u32::MAX)]
}

fn long_op() -> impl Strategy<Value = Op> {
    let op = prop_oneof![
        Just(LongOp::Get),
        (-3i64..4).prop_map(LongOp::Set),
        extreme_long().prop_map(LongOp::Set),
        (-2i64..3).prop_map(LongOp::AddAndGet),
        extreme_long().prop_map(LongOp::AddAndGet),
        (-2i64..3).prop_map(LongOp::GetAndAdd),
        extreme_long().prop_map(LongOp::GetAndAdd),
        (-1i64..3, -1i64..3).prop_map(|(expect, update)| LongOp::CompareAndSet { expect, update }),
        (-3i64..4).prop_map(LongOp::GetAndSet),
        Just(LongOp::Destroy),
    ];
    op.prop_map(|op| Op::AtomicLong {
        name: String::new(),
        op,
    })
}

fn small_value() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        Just(None),
        (0i64..3).prop_map(|n| Some(Value::I64(n))),
        (0u64..3).prop_map(|n| Some(Value::U64(n))),
        (0u8..3).prop_map(|n| Some(Value::F64(f64::from(n)))),
        Just(Some(Value::String("x".into()))),
    ]
}

fn reference_op() -> impl Strategy<Value = Op> {
    let op = prop_oneof![
        Just(RefOp::Get),
        Just(RefOp::IsNull),
        small_value().prop_map(RefOp::Set),
        small_value().prop_map(RefOp::GetAndSet),
        small_value().prop_map(RefOp::Contains),
        (small_value(), small_value())
            .prop_map(|(expect, update)| RefOp::CompareAndSet { expect, update }),
        Just(RefOp::Destroy),
    ];
    op.prop_map(|op| Op::AtomicReference {
        name: String::new(),
        op,
    })
}

fn lock_op() -> impl Strategy<Value = Op> {
    let op = prop_oneof![
        3 => (timeout(), reentrancy_limit()).prop_map(|(timeout_ms, reentrancy_limit)| LockOp::Lock { timeout_ms, reentrancy_limit }),
        3 => Just(LockOp::Unlock),
        1 => Just(LockOp::IsLocked),
        1 => Just(LockOp::IsLockedByMe),
        1 => Just(LockOp::LockCount),
        1 => Just(LockOp::GetFence),
        1 => Just(LockOp::Destroy),
    ];
    op.prop_map(|op| Op::Lock {
        name: String::new(),
        handle: HandleId(0),
        op,
    })
}

fn semaphore_op() -> impl Strategy<Value = Op> {
    let op = prop_oneof![
        1 => count(4).prop_map(|permits| SemaphoreOp::Init { permits }),
        3 => (count(3), timeout()).prop_map(|(permits, timeout_ms)| SemaphoreOp::Acquire { permits, timeout_ms }),
        3 => count(3).prop_map(|permits| SemaphoreOp::Release { permits }),
        1 => Just(SemaphoreOp::AvailablePermits),
        1 => Just(SemaphoreOp::Drain),
        1 => count(3).prop_map(|permits| SemaphoreOp::Reduce { permits }),
        1 => count(3).prop_map(|permits| SemaphoreOp::Increase { permits }),
        1 => Just(SemaphoreOp::Destroy),
    ];
    op.prop_map(|op| Op::Semaphore {
        name: String::new(),
        handle: HandleId(0),
        op,
    })
}

fn latch_op() -> impl Strategy<Value = Op> {
    let op = prop_oneof![
        1 => count(4).prop_map(|count| LatchOp::TrySetCount { count }),
        3 => Just(LatchOp::CountDown),
        1 => Just(LatchOp::GetCount),
        2 => timeout().prop_map(|timeout_ms| LatchOp::Await { timeout_ms }),
        1 => Just(LatchOp::Destroy),
    ];
    op.prop_map(|op| Op::Latch {
        name: String::new(),
        op,
    })
}

fn steps(op: impl Strategy<Value = Op> + 'static) -> impl Strategy<Value = Vec<Step>> {
    let op = op.boxed();
    let op_again = op.clone();
    let step = prop_oneof![
        12 => (0..CLIENTS, 0u64..2, 0..NAMES.len(), op)
            .prop_map(|(client, handle, name, op)| Step::Call { client, handle, name, op }),
        2 => any::<usize>().prop_map(|pick| Step::Retry { pick }),
        3 => (0u64..700).prop_map(|ms| Step::Advance { ms }),
        3 => (0..CLIENTS).prop_map(|client| Step::Heartbeat { client }),
        1 => any::<usize>().prop_map(|pick| Step::Cancel { pick }),
        1 => (0..CLIENTS).prop_map(|client| Step::Close { client }),
        1 => (0..CLIENTS, any::<bool>())
            .prop_map(|(client, own_secret)| Step::Resume { client, own_secret }),
        1 => Just(Step::Renew),
        3 => (0u8..4, 0..NAMES.len(), op_again)
            .prop_map(|(key, name, op)| Step::OneShot { key, name, op }),
        1 => (ONE_SHOT_KEY_TTL_MS - 100..ONE_SHOT_KEY_TTL_MS + 100)
            .prop_map(|ms| Step::LongPause { ms }),
    ];
    proptest::collection::vec(step, 1..120)
}

/// Sets the generated name and handle on a generated operation.
fn address(op: Op, name: &str, handle: u64) -> Op {
    let name = name.to_owned();
    match op {
        Op::AtomicLong { op, .. } => Op::AtomicLong { name, op },
        Op::AtomicReference { op, .. } => Op::AtomicReference { name, op },
        Op::Lock { op, .. } => Op::Lock {
            name,
            handle: HandleId(handle),
            op,
        },
        Op::Semaphore { op, .. } => Op::Semaphore {
            name,
            handle: HandleId(handle),
            op,
        },
        Op::Latch { op, .. } => Op::Latch { name, op },
    }
}

struct Sent {
    session: SessionId,
    request: RequestId,
    op: Op,
    /// The final answer as the client would have seen it.
    answer: Option<Result<Reply, raftcp_proto::OpError>>,
}

#[derive(Default)]
struct Run {
    machine: Machine,
    model: Model,
    index: u64,
    now_ms: u64,
    clients: [Option<SessionId>; CLIENTS],
    next_request: BTreeMap<SessionId, u64>,
    sent: Vec<Sent>,
    last_fence: BTreeMap<String, u64>,
    /// Leases taken so far: object, whether a semaphore, id and secret.
    leases: Vec<(usize, bool, SessionId, LeaseSecret)>,
    /// Keys of session-less lease calls, each used once.
    fresh_keys: u64,
    /// The first session-less call under each key: its operation, answer
    /// and machine time.
    one_shots: BTreeMap<u8, (Op, Result<Reply, raftcp_proto::OpError>, u64)>,
}

fn sorted(effects: &[Effect]) -> Vec<String> {
    let mut all: Vec<String> = effects.iter().map(|e| format!("{e:?}")).collect();
    all.sort();
    all
}

impl Run {
    fn apply(&mut self, kind: CommandKind) -> CommandResponse {
        self.index += 1;
        let applied = self.machine.apply(
            self.index,
            Command {
                time_ms: self.now_ms,
                kind: kind.clone(),
            },
        );
        let (expected, expected_effects) = self.model.apply(self.index, self.now_ms, kind.clone());
        assert_eq!(
            applied.response, expected,
            "response to {kind:?} at entry {}",
            self.index
        );
        assert_eq!(
            sorted(&applied.effects),
            sorted(&expected_effects),
            "effects of {kind:?}"
        );
        if let Err(violation) = self.machine.check_invariants() {
            panic!("after {kind:?}: {violation}");
        }
        for effect in &applied.effects {
            if let Effect::Completed(c) = effect {
                self.observe_fence(c.session, c.request, &c.result);
                if let Some(sent) = self
                    .sent
                    .iter_mut()
                    .find(|s| s.session == c.session && s.request == c.request)
                {
                    sent.answer = Some(c.result.clone());
                }
            }
        }
        applied.response
    }

    /// Fences handed out for one lock never go backwards in log order.
    fn observe_fence(
        &mut self,
        session: SessionId,
        request: RequestId,
        result: &Result<Reply, raftcp_proto::OpError>,
    ) {
        let Ok(Reply::Fence(Some(fence))) = result else {
            return;
        };
        let name = self
            .sent
            .iter()
            .find(|s| s.session == session && s.request == request)
            .map(|s| s.op.name().to_owned());
        let Some(name) = name else { return };
        let last = self.last_fence.entry(name.clone()).or_insert(0);
        assert!(fence.0 >= *last, "lock {name}: fence {fence} after {last}");
        *last = fence.0;
    }

    fn session_of(&mut self, client: usize) -> SessionId {
        if let Some(session) = self.clients[client]
            && self.machine.session_exists(session)
        {
            return session;
        }
        // Even clients open sessions as protocol 3 does, odd ones as logs
        // written before it hold them.
        let client_name = format!("c{client}");
        let response = self.apply(match client % 2 {
            0 => CommandKind::OpenOwnedSession {
                client_name,
                ttl_ms: TTL_MS,
                owner: owner_of(client),
            },
            _ => CommandKind::OpenSession {
                client_name,
                ttl_ms: TTL_MS,
            },
        });
        let CommandResponse::SessionOpened { session } = response else {
            panic!("{response:?}")
        };
        self.clients[client] = Some(session);
        session
    }

    /// Acknowledge all but the newest few answered requests, so retries of
    /// those stay answerable from the cache, and around requests that still
    /// wait, as the client engine does.
    fn acknowledgement(&self, session: SessionId) -> (RequestId, Vec<RequestId>) {
        let next = self.next_request.get(&session).copied().unwrap_or(1);
        let mut below = next.saturating_sub(3);
        let mut unanswered: Vec<&Sent> = self
            .sent
            .iter()
            .filter(|s| s.session == session && s.answer.is_none())
            .collect();
        unanswered.sort_by_key(|s| s.request);
        let mut except = Vec::new();
        for sent in unanswered {
            if !sent.op.may_wait() || except.len() == ACKED_EXCEPT_MAX {
                below = below.min(sent.request.0);
                break;
            }
            except.push(sent.request);
        }
        except.retain(|id| id.0 < below);
        (RequestId(below), except)
    }

    fn send(&mut self, session: SessionId, request: RequestId, op: Op) -> Outcome {
        let (acked_below, acked_except) = self.acknowledgement(session);
        let kind = CommandKind::Request {
            session,
            request,
            acked_below,
            acked_except: acked_except.into(),
            op,
        };
        match self.apply(kind) {
            CommandResponse::Client(outcome) => outcome,
            other => panic!("{other:?}"),
        }
    }

    fn step(&mut self, step: Step) {
        match step {
            Step::Call {
                client,
                handle,
                name,
                op,
            } => {
                let session = self.session_of(client);
                let next = self.next_request.entry(session).or_insert(1);
                let request = RequestId(*next);
                *next += 1;
                let op = address(op, NAMES[name], handle);
                self.sent.push(Sent {
                    session,
                    request,
                    op: op.clone(),
                    answer: None,
                });
                let outcome = self.send(session, request, op);
                if let Outcome::Done(result) = outcome {
                    self.observe_fence(session, request, &result);
                    if let Some(sent) = self.sent.last_mut() {
                        sent.answer = Some(result);
                    }
                }
            }
            Step::Retry { pick } if !self.sent.is_empty() => {
                let sent = &self.sent[pick % self.sent.len()];
                let (session, request, op, answer) = (
                    sent.session,
                    sent.request,
                    sent.op.clone(),
                    sent.answer.clone(),
                );
                let (below, except) = self.acknowledgement(session);
                let acked = request < below && !except.contains(&request);
                let outcome = self.send(session, request, op.clone());
                // Exactly once: a retry answers what the first attempt did
                // (or is still waiting), unless its answer was acknowledged
                // or its session is gone.
                if op.is_mutating() && !acked && self.machine.session_exists(session) {
                    match (answer, outcome) {
                        (Some(first), Outcome::Done(again)) => {
                            assert_eq!(first, again, "retry of {op:?}")
                        }
                        (None, Outcome::Pending) => {}
                        (first, again) => {
                            panic!("retry of {op:?}: first {first:?}, retry {again:?}")
                        }
                    }
                }
            }
            Step::Retry { .. } => {}
            Step::Advance { ms } => {
                self.now_ms += ms;
                if self.machine.sessions_due(self.now_ms) {
                    self.apply(CommandKind::ExpireSessions);
                }
                if self.machine.waits_due(self.now_ms) {
                    self.apply(CommandKind::ExpireWaits);
                }
            }
            Step::Heartbeat { client } => {
                let sessions = self.clients[client].into_iter().collect();
                self.apply(CommandKind::Heartbeat { sessions });
            }
            Step::Cancel { pick } if !self.sent.is_empty() => {
                let sent = &self.sent[pick % self.sent.len()];
                let kind = CommandKind::Cancel {
                    session: sent.session,
                    request: sent.request,
                };
                self.apply(kind);
            }
            Step::Cancel { .. } => {}
            Step::Close { client } => {
                if let Some(session) = self.clients[client].take() {
                    self.apply(CommandKind::CloseSession { session });
                }
            }
            Step::Resume { client, own_secret } => {
                if let Some(session) = self.clients[client] {
                    let owner = match own_secret {
                        true => owner_of(client),
                        false => owner_of(client + 1),
                    };
                    let response = self.apply(CommandKind::ResumeSession { session, owner });
                    let resumable = own_secret && client.is_multiple_of(2);
                    if response == CommandResponse::Done {
                        assert!(resumable, "session {session} resumed without its secret");
                    }
                }
            }
            Step::Renew => {
                self.apply(CommandKind::RenewAllSessions);
            }
            Step::OneShot { key, name, op } => self.one_shot(key, address(op, NAMES[name], 0)),
            Step::Leased {
                client,
                one_shot,
                name,
                call,
            } => self.leased(client, one_shot, name, call),
            Step::LongPause { ms } => {
                self.now_ms += ms;
                // Sessions and waits expire on the way, as a leader would
                // have proposed.
                self.apply(CommandKind::ExpireSessions);
                self.apply(CommandKind::ExpireWaits);
            }
        }
    }

    /// A leased call; a lease it takes is kept for later calls, and a
    /// lock's fence must exceed every earlier grant of that lock.
    fn leased(&mut self, client: usize, one_shot: bool, name: usize, call: LeaseCall) {
        let forged = LeaseSecret([0xee; 32]);
        let taken_secret = LeaseSecret([(call.pick % 2) as u8 + 1; 32]);
        let (name, semaphore, lease, secret) = match call.action {
            LeaseAction::Take => (name, call.permits.is_some(), None, taken_secret),
            LeaseAction::Renew | LeaseAction::End if self.leases.is_empty() => return,
            LeaseAction::Renew | LeaseAction::End => {
                let (name, semaphore, lease, secret) = self.leases[call.pick % self.leases.len()];
                let secret = if call.own_secret { secret } else { forged };
                (name, semaphore, Some(lease), secret)
            }
        };
        let op = match (semaphore, lease, call.action) {
            (false, None, _) => Op::Lock {
                name: String::new(),
                handle: HandleId(0),
                op: LockOp::TryLockLeased {
                    lease_ms: call.lease_ms,
                    secret,
                },
            },
            (true, None, _) => Op::Semaphore {
                name: String::new(),
                handle: HandleId(0),
                op: SemaphoreOp::TryAcquireLeased {
                    permits: call.permits.unwrap_or(1),
                    lease_ms: call.lease_ms,
                    secret,
                },
            },
            (false, Some(lease), LeaseAction::Renew) => Op::Lock {
                name: String::new(),
                handle: HandleId(0),
                op: LockOp::RenewLease { lease, secret },
            },
            (false, Some(lease), _) => Op::Lock {
                name: String::new(),
                handle: HandleId(0),
                op: LockOp::UnlockLeased { lease, secret },
            },
            (true, Some(lease), LeaseAction::Renew) => Op::Semaphore {
                name: String::new(),
                handle: HandleId(0),
                op: SemaphoreOp::RenewLease { lease, secret },
            },
            (true, Some(lease), _) => Op::Semaphore {
                name: String::new(),
                handle: HandleId(0),
                op: SemaphoreOp::ReleaseLeased { lease, secret },
            },
        };
        let op = address(op, NAMES[name], 0);
        let answer = match one_shot {
            true => {
                self.fresh_keys += 1;
                let mut key = [0xff; 16];
                key[..8].copy_from_slice(&self.fresh_keys.to_le_bytes());
                let kind = CommandKind::OneShot {
                    key: OneShotKey(key),
                    fingerprint: fingerprint(&op),
                    op,
                };
                let CommandResponse::Client(Outcome::Done(answer)) = self.apply(kind) else {
                    panic!("a leased call did not end at once");
                };
                answer
            }
            false => {
                self.step(Step::Call {
                    client,
                    handle: 0,
                    name,
                    op,
                });
                let Some(answer) = self.sent.last().and_then(|sent| sent.answer.clone()) else {
                    panic!("a leased call waits");
                };
                answer
            }
        };
        match &answer {
            Ok(Reply::Lease(Some(lease))) => {
                let last = self.last_fence.entry(NAMES[name].to_owned()).or_insert(0);
                assert!(
                    lease.fence.0 > *last,
                    "lease fence {} after {last}",
                    lease.fence
                );
                *last = lease.fence.0;
                self.leases.push((name, false, lease.id, secret));
            }
            Ok(Reply::PermitsLeased(Some(lease))) => {
                self.leases.push((name, true, *lease, secret));
            }
            _ => {}
        }
        if !call.own_secret && !matches!(call.action, LeaseAction::Take) {
            assert!(
                matches!(answer, Err(raftcp_proto::OpError::LockOwnershipLost { .. })),
                "a forged lease secret was taken: {answer:?}"
            );
        }
    }

    /// Exactly once without a session: under a key still kept, the same
    /// operation answers what it first did and another is refused.
    fn one_shot(&mut self, key: u8, op: Op) {
        let kind = CommandKind::OneShot {
            key: OneShotKey([key; 16]),
            fingerprint: fingerprint(&op),
            op: op.clone(),
        };
        let CommandResponse::Client(Outcome::Done(answer)) = self.apply(kind) else {
            panic!("a session-less call did not end at once");
        };
        let kept = self.one_shots.get(&key).filter(|(first_op, _, at_ms)| {
            first_op.is_mutating() && self.now_ms < at_ms + ONE_SHOT_KEY_TTL_MS
        });
        match kept {
            Some((first_op, first, _)) if *first_op == op => {
                assert_eq!(&answer, first, "retry of {op:?} without a session")
            }
            Some(_) => assert_eq!(answer, Err(raftcp_proto::OpError::IdempotencyKeyReused)),
            None if op.needs_session() => assert!(
                matches!(answer, Err(raftcp_proto::OpError::SessionRequired { .. })),
                "{op:?} ran without a session: {answer:?}"
            ),
            None if op.is_mutating() => {
                self.one_shots.insert(key, (op, answer, self.now_ms));
            }
            None => {}
        }
    }
}

/// What the gateway would name `op` by; any function that tells
/// operations apart does here.
fn fingerprint(op: &Op) -> OpFingerprint {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut hasher = DefaultHasher::new();
    format!("{op:?}").hash(&mut hasher);
    OpFingerprint(hasher.finish().to_le_bytes())
}

/// The owner client `client`'s sessions are opened with.
fn owner_of(client: usize) -> SessionOwner {
    SessionOwner {
        secret_hash: [client as u8; 32],
        subject: client.is_multiple_of(4).then(|| format!("user-{client}")),
    }
}

fn run(steps: Vec<Step>) {
    let mut run = Run {
        now_ms: 1_000,
        ..Run::default()
    };
    for step in steps {
        run.step(step);
    }
    // A snapshot taken at the end restores to an identical machine.
    let restored = Machine::restore(&run.machine.snapshot()).expect("restore");
    assert_eq!(restored, run.machine);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn atomic_long_agrees_with_model(steps in steps(long_op())) { run(steps) }

    #[test]
    fn atomic_reference_agrees_with_model(steps in steps(reference_op())) { run(steps) }

    #[test]
    fn fenced_lock_agrees_with_model(steps in steps(lock_op())) { run(steps) }

    #[test]
    fn leased_locks_agree_with_model(steps in leased_steps()) { run(steps) }

    #[test]
    fn semaphore_agrees_with_model(steps in steps(semaphore_op())) { run(steps) }

    #[test]
    fn latch_agrees_with_model(steps in steps(latch_op())) { run(steps) }

    #[test]
    fn all_primitives_together_agree_with_model(
        steps in steps(prop_oneof![long_op(), reference_op(), lock_op(), semaphore_op(), latch_op()])
    ) { run(steps) }
}
