//! The deterministic CP state machine of one group: sessions, exactly-once
//! responses, FIFO waiters and the five primitives.
//!
//! Pure and sans-IO: it never reads a clock, a random source or the network.
//! Time enters only in [`Command::time_ms`]. Every replica that applies the
//! same entries in the same order reaches the same state and produces the
//! same responses and effects.
//!
//! A driver uses it like this:
//! 1. Propose a [`Command`] stamped with the leader's clock: the machine
//!    time it found on taking office, advanced by the monotonic time
//!    elapsed since (`clock::LeaderClock`), never its wall clock.
//! 2. When the entry at index `i` commits, call [`Machine::apply`]`(i, command)`
//!    exactly once, in log order.
//! 3. Deliver [`Applied::response`] to the proposer, and each
//!    [`Effect::Completed`] to the connection that holds that session
//!    (a response leaves only after its entry is applied).
//! 4. Whenever [`Machine::next_deadline_ms`] has passed on the leader's clock,
//!    propose `ExpireSessions` / `ExpireWaits`; the machine re-checks against
//!    its own `now`, so a late or duplicate proposal is harmless.
//! 5. A new leader proposes `RenewAllSessions` before anything else.
//! 6. Reads that need no log entry go through [`Machine::query`] after a
//!    ReadIndex barrier.

mod command;
mod destroy;
mod execute;
mod invariants;
mod latch;
mod leases;
mod lifecycle;
mod listing;
mod lock;
mod objects;
mod observe;
mod one_shots;
mod owner;
mod query;
mod semaphore;
mod sessions;
mod snapshot;
mod usage;
mod validate;
mod wait_queue;
mod waits;

pub use command::{
    Applied, Command, CommandKind, CommandResponse, Completion, Effect, Outcome, SessionOwner,
};
pub use destroy::Kind;
pub use invariants::InvariantViolation;
pub use leases::LEASE_CLIENT_NAME;
pub use observe::{ApplyObserver, Touched, same_state};
pub use one_shots::{NO_SESSION, OneShotKey, OpFingerprint};
pub use sessions::Acknowledged;
pub use snapshot::{RestoreError, SNAPSHOT_BYTES_MAX};
pub use usage::value_bytes;
pub use validate::{validate_acknowledged, validate_client_name, validate_op};

use crate::faults::PlantedBug;
use objects::Objects;
use raftcp_proto::limits::SESSIONS_MAX;
use raftcp_proto::{OpError, RequestId, SessionId};
use serde::{Deserialize, Serialize};
use sessions::Sessions;
use std::collections::BTreeMap;
use waits::Waits;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// Machine time: the largest `time_ms` applied so far.
    now_ms: u64,
    last_applied: u64,
    sessions: Sessions,
    objects: Objects,
    waits: Waits,
    /// Who may resume each session opened with an owner. A snapshot
    /// written before owners existed is this layout cut short here (see
    /// `snapshot`).
    owners: BTreeMap<SessionId, SessionOwner>,
    /// Holds lost to a `destroy` that their handle has not heard of (see
    /// `destroy`). Last, for the same reason.
    lost_holds: destroy::LostHolds,
    /// Kept answers to session-less operations (see `one_shots`). Last,
    /// for the same reason.
    one_shots: one_shots::OneShots,
    /// Bytes of the state by parts (see `usage`); not in snapshots.
    #[serde(skip)]
    usage: usage::Usage,
    /// A bug the fault campaign planted in this replica (see
    /// [`Machine::plant`]); not in snapshots.
    #[serde(skip)]
    planted: Option<PlantedBug>,
    /// While a watched command applies: the objects it changed (see
    /// `observe`); not in snapshots.
    #[serde(skip)]
    noting: Option<Vec<(Kind, String)>>,
}

/// Sizes for metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stats {
    pub sessions: usize,
    pub objects: usize,
    pub waiters: usize,
}

/// Log positions per Raft entry: the most commands one batch may carry.
pub const POSITIONS_PER_ENTRY: u64 = 1024;

impl Machine {
    pub fn new() -> Self {
        Self::default()
    }

    /// Plants `bug` in this replica (the fault campaign's negative
    /// controls: `faults`); `None` takes it out. Kept by nothing: a
    /// restored machine has none until planted again.
    pub fn plant(&mut self, bug: Option<PlantedBug>) {
        self.planted = bug;
    }

    fn planted(&self, bug: PlantedBug) -> bool {
        self.planted == Some(bug)
    }

    /// How this replica's locks pick fences.
    fn fences(&self) -> lock::Fences {
        if self.planted(PlantedBug::FenceNotAdvanced) {
            lock::Fences::ReusedPlanted
        } else {
            lock::Fences::Advancing
        }
    }

    /// Applies the Raft entry at `raft_index`, which carries one command or
    /// a [`CommandKind::Batch`]. Each command gets its own log position,
    /// `raft_index * POSITIONS_PER_ENTRY + place in the batch`, which serves
    /// as its index: session ids and fences stay unique and strictly
    /// increasing even when one entry grants a lock twice.
    pub fn apply_entry(&mut self, raft_index: u64, command: Command) -> Applied {
        self.apply_entry_observed(raft_index, command, &mut observe::Unobserved)
    }

    /// Applies one command at log position `index`. Positions must strictly
    /// increase.
    pub fn apply(&mut self, index: u64, command: Command) -> Applied {
        assert!(
            index > self.last_applied,
            "index {index} applied after {}",
            self.last_applied
        );
        self.last_applied = index;
        self.now_ms = self.now_ms.max(command.time_ms);
        self.one_shots.expire(self.now_ms);
        let mut effects = Vec::new();
        let response = match command.kind {
            CommandKind::OpenSession {
                client_name,
                ttl_ms,
            } => self.open_session(index, client_name, ttl_ms),
            CommandKind::Heartbeat { sessions } => {
                let now_ms = self.now_ms;
                let unknown = sessions
                    .into_iter()
                    .filter(|id| self.sessions.touch(*id, now_ms).is_none());
                CommandResponse::Heartbeat {
                    unknown: unknown.collect(),
                }
            }
            CommandKind::CloseSession { session } => {
                if self.sessions.get(session).is_none() {
                    CommandResponse::Refused(OpError::SessionExpired { session })
                } else {
                    self.end_sessions(index, &[session], &mut effects);
                    CommandResponse::Done
                }
            }
            CommandKind::ExpireSessions => {
                let expired = self.sessions.expired(self.now_ms);
                self.end_sessions(index, &expired, &mut effects);
                CommandResponse::Done
            }
            CommandKind::ExpireWaits => {
                self.expire_waits(&mut effects);
                CommandResponse::Done
            }
            CommandKind::RenewAllSessions => {
                self.sessions.renew_all(self.now_ms);
                CommandResponse::Done
            }
            CommandKind::Client {
                session,
                request,
                acked_below,
                op,
            } => self.client_command(
                index,
                session,
                request,
                (acked_below, &[]),
                op,
                &mut effects,
            ),
            CommandKind::Request {
                session,
                request,
                acked_below,
                acked_except,
                op,
            } => {
                let acknowledged = (acked_below, &*acked_except);
                self.client_command(index, session, request, acknowledged, op, &mut effects)
            }
            CommandKind::Cancel { session, request } => {
                self.cancel(session, request, &mut effects);
                CommandResponse::Done
            }
            CommandKind::OpenOwnedSession {
                client_name,
                ttl_ms,
                owner,
            } => {
                let response = self.open_session(index, client_name, ttl_ms);
                if let CommandResponse::SessionOpened { session } = response {
                    self.owners.insert(session, owner);
                }
                response
            }
            CommandKind::ResumeSession { session, owner } => {
                let owned = self.owners.get(&session) == Some(&owner);
                if owned && self.sessions.touch(session, self.now_ms).is_some() {
                    CommandResponse::Done
                } else {
                    CommandResponse::Refused(OpError::SessionExpired { session })
                }
            }
            CommandKind::OneShot {
                key,
                fingerprint,
                op,
            } => self.one_shot(index, key, fingerprint, op, &mut effects),
            // Batches are unpacked by `apply_entry`; one inside a batch is refused.
            CommandKind::Batch(_) => CommandResponse::Refused(OpError::InvalidArgument {
                reason: "a batch cannot contain a batch".into(),
            }),
        };
        Applied { response, effects }
    }

    /// The earliest machine time at which `ExpireSessions` or `ExpireWaits`
    /// has work to do.
    pub fn next_deadline_ms(&self) -> Option<u64> {
        match (
            self.sessions.next_expiry_ms(),
            self.waits.next_deadline_ms(),
        ) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether some session's deadline is at or before `now_ms`.
    pub fn sessions_due(&self, now_ms: u64) -> bool {
        self.sessions
            .next_expiry_ms()
            .is_some_and(|at| at <= now_ms)
    }

    /// Whether some waiter's deadline is at or before `now_ms`.
    pub fn waits_due(&self, now_ms: u64) -> bool {
        self.waits.next_deadline_ms().is_some_and(|at| at <= now_ms)
    }

    pub fn last_applied(&self) -> u64 {
        self.last_applied
    }

    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    pub fn session_exists(&self, session: SessionId) -> bool {
        self.sessions.get(session).is_some()
    }

    /// TTL of a live session, for the handshake answer.
    pub fn session_ttl_ms(&self, session: SessionId) -> Option<u64> {
        self.sessions.get(session).map(|s| s.ttl_ms)
    }

    pub fn stats(&self) -> Stats {
        Stats {
            sessions: self.sessions.len(),
            objects: self.objects.len(),
            waiters: self.waits.len(),
        }
    }

    /// A client operation, from either form the log may hold.
    fn client_command(
        &mut self,
        index: u64,
        session: SessionId,
        request: RequestId,
        (below, except): (RequestId, &[RequestId]),
        op: raftcp_proto::Op,
        effects: &mut Vec<Effect>,
    ) -> CommandResponse {
        let acknowledged = Acknowledged { below, except };
        let outcome = self.client_request(index, session, request, acknowledged, op, effects);
        CommandResponse::Client(outcome)
    }

    fn open_session(&mut self, index: u64, client_name: String, ttl_ms: u64) -> CommandResponse {
        if self.sessions.len() >= SESSIONS_MAX {
            return CommandResponse::Refused(OpError::TooManySessions {
                max: SESSIONS_MAX as u64,
            });
        }
        if let Err(error) = validate_client_name(&client_name) {
            return CommandResponse::Refused(error);
        }
        let session = SessionId(index);
        self.sessions
            .open(session, client_name, ttl_ms.max(1), self.now_ms);
        CommandResponse::SessionOpened { session }
    }
}
