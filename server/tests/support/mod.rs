//! A deterministic driver for machine-level tests: it plays the leader
//! (stamps time, proposes expiries when deadlines pass), numbers requests
//! like a client engine, and checks every invariant after every entry.

#![allow(dead_code)]

pub mod model;

use raftcp_proto::{
    HandleId, LatchOp, LockOp, LongOp, Op, OpError, RefOp, Reply, RequestId, SemaphoreOp,
    SessionId, Value,
};
use raftcp_server::machine::{
    Command, CommandKind, CommandResponse, Completion, Effect, Machine, Outcome,
};
use std::collections::{BTreeMap, BTreeSet};

pub const TTL_MS: u64 = 10_000;

#[derive(Default)]
pub struct Driver {
    pub machine: Machine,
    index: u64,
    pub now_ms: u64,
    next_request: BTreeMap<SessionId, u64>,
    pending: BTreeMap<SessionId, BTreeSet<u64>>,
    pub completions: Vec<Completion>,
    pub ended: Vec<SessionId>,
}

impl Driver {
    pub fn new() -> Self {
        Self {
            now_ms: 1_000,
            ..Self::default()
        }
    }

    /// Appends and applies one entry stamped with the driver's clock.
    pub fn apply(&mut self, kind: CommandKind) -> CommandResponse {
        self.index += 1;
        let applied = self.machine.apply(
            self.index,
            Command {
                time_ms: self.now_ms,
                kind,
            },
        );
        for effect in applied.effects {
            match effect {
                Effect::Completed(completion) => {
                    if let Some(pending) = self.pending.get_mut(&completion.session) {
                        pending.remove(&completion.request.0);
                    }
                    self.completions.push(completion);
                }
                Effect::SessionEnded(session) => self.ended.push(session),
            }
        }
        if let Err(violation) = self.machine.check_invariants() {
            panic!("invariant broken after entry {}: {violation}", self.index);
        }
        applied.response
    }

    pub fn index(&self) -> u64 {
        self.index
    }

    pub fn open(&mut self) -> SessionId {
        self.open_with_ttl(TTL_MS)
    }

    pub fn open_with_ttl(&mut self, ttl_ms: u64) -> SessionId {
        let kind = CommandKind::OpenSession {
            client_name: "test".into(),
            ttl_ms,
        };
        match self.apply(kind) {
            CommandResponse::SessionOpened { session } => session,
            other => panic!("open session answered {other:?}"),
        }
    }

    /// Sends `op` as the session's next request; returns its id and outcome.
    pub fn send(&mut self, session: SessionId, op: Op) -> (RequestId, Outcome) {
        let next = self.next_request.entry(session).or_insert(1);
        let request = RequestId(*next);
        *next += 1;
        let outcome = self.resend(session, request, op);
        if outcome == Outcome::Pending {
            self.pending.entry(session).or_default().insert(request.0);
        }
        (request, outcome)
    }

    /// Sends `op` under an explicit request id (a retry reuses the first id).
    pub fn resend(&mut self, session: SessionId, request: RequestId, op: Op) -> Outcome {
        let acked_below = RequestId(self.acked_below(session, request));
        match self.apply(CommandKind::Client {
            session,
            request,
            acked_below,
            op,
        }) {
            CommandResponse::Client(outcome) => outcome,
            other => panic!("client request answered {other:?}"),
        }
    }

    /// The client acknowledges everything below its oldest unanswered request.
    fn acked_below(&self, session: SessionId, request: RequestId) -> u64 {
        let oldest_pending = self.pending.get(&session).and_then(|p| p.first().copied());
        oldest_pending.unwrap_or(request.0).min(request.0)
    }

    pub fn call(&mut self, session: SessionId, op: Op) -> Result<Reply, OpError> {
        match self.send(session, op) {
            (_, Outcome::Done(result)) => result,
            (request, Outcome::Pending) => panic!("request {request} unexpectedly waits"),
            (request, Outcome::Awaited) => panic!("request {request} answered with a cache marker"),
        }
    }

    pub fn ok(&mut self, session: SessionId, op: Op) -> Reply {
        self.call(session, op)
            .unwrap_or_else(|error| panic!("unexpected error: {error}"))
    }

    pub fn cancel(&mut self, session: SessionId, request: RequestId) {
        self.apply(CommandKind::Cancel { session, request });
    }

    /// Moves the clock and, like a leader, proposes whatever became due.
    pub fn advance(&mut self, ms: u64) {
        self.now_ms += ms;
        if self.machine.sessions_due(self.now_ms) {
            self.apply(CommandKind::ExpireSessions);
        }
        if self.machine.waits_due(self.now_ms) {
            self.apply(CommandKind::ExpireWaits);
        }
    }

    pub fn heartbeat(&mut self, sessions: &[SessionId]) {
        self.apply(CommandKind::Heartbeat {
            sessions: sessions.to_vec(),
        });
    }

    /// The result delivered for `(session, request)`, if it completed.
    pub fn completion(
        &self,
        session: SessionId,
        request: RequestId,
    ) -> Option<Result<Reply, OpError>> {
        self.completions
            .iter()
            .find(|c| c.session == session && c.request == request)
            .map(|c| c.result.clone())
    }
}

pub fn long(name: &str, op: LongOp) -> Op {
    Op::AtomicLong {
        name: name.into(),
        op,
    }
}

pub fn reference(name: &str, op: RefOp) -> Op {
    Op::AtomicReference {
        name: name.into(),
        op,
    }
}

pub fn lock(name: &str, handle: u64, op: LockOp) -> Op {
    Op::Lock {
        name: name.into(),
        handle: HandleId(handle),
        op,
    }
}

pub fn semaphore(name: &str, handle: u64, op: SemaphoreOp) -> Op {
    Op::Semaphore {
        name: name.into(),
        handle: HandleId(handle),
        op,
    }
}

pub fn latch(name: &str, op: LatchOp) -> Op {
    Op::Latch {
        name: name.into(),
        op,
    }
}

pub fn acquire_lock(timeout_ms: Option<u64>) -> LockOp {
    LockOp::Lock {
        timeout_ms,
        reentrancy_limit: 0,
    }
}

pub fn fence_of(reply: Reply) -> u64 {
    match reply {
        Reply::Fence(Some(fence)) => fence.0,
        other => panic!("expected a fence, got {other:?}"),
    }
}

pub fn map(entries: &[(&str, Value)]) -> Value {
    Value::Map(
        entries
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    )
}
