//! What a run records: every operation's invocation and completion on one
//! clock, with unknown outcomes kept as unknown, plus the facts the
//! invariant checks need (lock holds, permits held, latch rounds).

use serde::Serialize;
use std::sync::Mutex;
use std::time::Instant;

/// An operation on a linearizable object (AtomicLong or AtomicReference).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Call {
    /// `add_and_get(delta)`.
    Add(i64),
    /// `get()` of an AtomicLong or an AtomicReference.
    Get,
    /// `set(value)` of an AtomicReference.
    Set(i64),
    /// `compare_and_set(expect, update)` of an AtomicReference.
    Cas(Option<i64>, Option<i64>),
}

/// What a completed operation returned.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Ret {
    Long(i64),
    Reference(Option<i64>),
    Bool(bool),
    Unit,
}

#[derive(Clone, Debug, Serialize)]
pub enum Outcome {
    Ok(Ret),
    /// Definitely had no effect (a read that failed).
    Failed(String),
    /// A mutation whose fate is unknown: it may or may not have happened.
    Unknown(String),
}

#[derive(Clone, Debug, Serialize)]
pub struct Op {
    pub process: usize,
    pub object: String,
    pub call: Call,
    pub invoked_us: u64,
    /// `None` while unknown: the operation may take effect at any later time.
    pub completed_us: Option<u64>,
    pub outcome: Outcome,
}

/// A lock acquisition and what became of it.
#[derive(Clone, Debug, Serialize)]
pub struct LockHold {
    /// Which lock.
    pub lock: &'static str,
    pub process: usize,
    pub fence: u64,
    pub lock_invoked_us: u64,
    pub acquired_us: u64,
    /// When `unlock` was invoked, and whether it confirmed the hold.
    pub unlock_invoked_us: Option<u64>,
    pub unlock_ok: bool,
    /// Held under a lease (no session), ended by `unlock_leased`.
    pub leased: bool,
}

/// Permits held between an acquire and a release.
#[derive(Clone, Debug, Serialize)]
pub struct PermitHold {
    pub process: usize,
    pub acquired_us: u64,
    pub release_invoked_us: u64,
    pub release_ok: bool,
}

/// One CountDownLatch round.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LatchRound {
    pub count: u32,
    pub count_down_invoked_us: Vec<u64>,
    /// Completion times of awaits that reported the latch open.
    pub opened_us: Vec<u64>,
}

/// A wait with a timeout that ended without being granted.
#[derive(Clone, Debug, Serialize)]
pub struct TimedOutWait {
    pub process: usize,
    pub timeout_ms: u64,
    pub invoked_us: u64,
    pub completed_us: u64,
}

/// A session that ended under a client that was never cut off.
#[derive(Clone, Debug, Serialize)]
pub struct SessionLoss {
    pub process: usize,
    pub at_us: u64,
    pub error: String,
}

#[derive(Debug, Default, Serialize)]
pub struct Records {
    pub ops: Vec<Op>,
    pub lock_holds: Vec<LockHold>,
    pub permit_holds: Vec<PermitHold>,
    pub latch_rounds: Vec<LatchRound>,
    pub session_losses: Vec<SessionLoss>,
    pub timed_out_waits: Vec<TimedOutWait>,
    /// Processes the nemesis cut off from every member (their sessions may
    /// rightly expire).
    pub frozen: Vec<usize>,
    /// What each watcher saw of its counter.
    pub watches: Vec<WatchedCounter>,
}

/// One watcher's stream of a counter that only `add_and_get(1)` changes.
#[derive(Clone, Debug, Default, Serialize)]
pub struct WatchedCounter {
    pub process: usize,
    pub object: &'static str,
    /// `(position, value, jump)` in the order they arrived.
    pub changes: Vec<(u64, i64, bool)>,
    /// The counter's value read after the run, which the stream must reach.
    pub final_value: Option<i64>,
    /// Why the stream ended early, if it did.
    pub ended: Option<String>,
}

/// Shared by every worker of a run.
#[derive(Debug)]
pub struct History {
    start: Instant,
    pub records: Mutex<Records>,
}

impl Default for History {
    fn default() -> Self {
        Self::new()
    }
}

impl History {
    pub fn new() -> Self {
        History {
            start: Instant::now(),
            records: Mutex::default(),
        }
    }

    /// Microseconds on the run's clock.
    pub fn now_us(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut Records) -> R) -> R {
        f(&mut self.records.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Records an operation invoked at `invoked_us` that just finished.
    pub fn record(
        &self,
        process: usize,
        object: &str,
        call: Call,
        invoked_us: u64,
        outcome: Outcome,
    ) {
        let completed_us = match outcome {
            Outcome::Unknown(_) => None,
            _ => Some(self.now_us()),
        };
        let op = Op {
            process,
            object: object.to_owned(),
            call,
            invoked_us,
            completed_us,
            outcome,
        };
        self.with(|r| r.ops.push(op));
    }
}
