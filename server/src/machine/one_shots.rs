//! Session-less operations (`raftcp_proto::one_shot`): exactly once by
//! idempotency key instead of by `(session, request)`. The answer to each
//! mutation is kept under its key for [`ONE_SHOT_KEY_TTL_MS`] of machine
//! time, so a retry on any member gets the first answer; then it expires
//! on every replica at the same entry (expiry is by command time).
//!
//! Keys reach the machine scoped by their caller (the gateway hashes the
//! token subject with the client's key), with a fingerprint of the
//! operation, so one caller cannot read another's answers and a key used
//! again for another operation is refused rather than answered wrongly.

use super::Machine;
use super::command::{CommandResponse, Effect, Outcome};
use super::usage::{ONE_SHOT_BYTES, result_bytes};
use crate::faults::PlantedBug;
use raftcp_proto::limits::{ONE_SHOT_ANSWERS_MAX, ONE_SHOT_KEY_TTL_MS};
use raftcp_proto::{Op, OpError, Reply, RequestId, SessionId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A caller's idempotency key, scoped to that caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OneShotKey(pub [u8; 16]);

/// Names the operation a key was first used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OpFingerprint(pub [u8; 8]);

/// Session-less operations act for nobody: no session is ever this one
/// (session ids are log positions, and position 0 is never applied), and
/// the operations they may run record no owner.
pub const NO_SESSION: SessionId = SessionId(0);

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Answered {
    expires_ms: u64,
    fingerprint: OpFingerprint,
    result: Result<Reply, OpError>,
}

/// The kept answers, with their expiry order and size.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OneShots {
    answers: BTreeMap<OneShotKey, Answered>,
    /// Derived: `(expires_ms, key)` of every answer; rebuilt on restore.
    #[serde(skip)]
    expiry: BTreeSet<(u64, OneShotKey)>,
    /// Derived: what the answers cost in the byte quota.
    #[serde(skip)]
    bytes: u64,
}

impl OneShots {
    pub fn len(&self) -> usize {
        self.answers.len()
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    fn insert(&mut self, key: OneShotKey, answered: Answered) {
        // Only the planted bug `one-shot-no-dedup` replaces a kept answer
        // (a kept key is answered from here); kept exact all the same.
        if let Some(replaced) = self.answers.remove(&key) {
            self.expiry.remove(&(replaced.expires_ms, key));
            self.bytes -= answer_bytes(&replaced);
        }
        self.expiry.insert((answered.expires_ms, key));
        self.bytes += answer_bytes(&answered);
        self.answers.insert(key, answered);
    }

    /// Forgets every answer whose time is up at `now_ms`.
    pub fn expire(&mut self, now_ms: u64) {
        while let Some(&(expires_ms, key)) = self.expiry.first() {
            if expires_ms > now_ms {
                return;
            }
            self.expiry.pop_first();
            if let Some(answered) = self.answers.remove(&key) {
                self.bytes -= answer_bytes(&answered);
            }
        }
    }

    /// Rebuilds the derived parts (after a restore).
    pub fn rebuild(&mut self) {
        self.expiry = self
            .answers
            .iter()
            .map(|(key, answered)| (answered.expires_ms, *key))
            .collect();
        self.bytes = self.answers.values().map(answer_bytes).sum();
    }

    /// What must hold at machine time `now_ms`, or what broke.
    pub fn check(&self, now_ms: u64) -> Result<(), String> {
        if self.answers.len() > ONE_SHOT_ANSWERS_MAX {
            return Err(format!("{} one-shot answers kept", self.answers.len()));
        }
        let mut fresh = self.clone();
        fresh.rebuild();
        if fresh.expiry != self.expiry || fresh.bytes != self.bytes {
            return Err("one-shot answers' expiry index or size is stale".into());
        }
        let latest = now_ms.saturating_add(ONE_SHOT_KEY_TTL_MS);
        match self.expiry.last() {
            Some(&(expires_ms, _)) if expires_ms > latest => Err(format!(
                "a one-shot answer expires at {expires_ms}, after {latest}"
            )),
            _ => Ok(()),
        }
    }
}

fn answer_bytes(answered: &Answered) -> u64 {
    ONE_SHOT_BYTES + result_bytes(&answered.result)
}

impl Machine {
    /// A session-less operation, run once per `key`: a key seen before
    /// answers from what was kept.
    pub(super) fn one_shot(
        &mut self,
        index: u64,
        key: OneShotKey,
        fingerprint: OpFingerprint,
        op: Op,
        effects: &mut Vec<Effect>,
    ) -> CommandResponse {
        let done = |result| CommandResponse::Client(Outcome::Done(result));
        let planted_no_dedup = self.planted(PlantedBug::OneShotNoDedup);
        if let Some(answered) = self.one_shots.answers.get(&key)
            && !planted_no_dedup
        {
            return done(match answered.fingerprint == fingerprint {
                true => answered.result.clone(),
                false => Err(OpError::IdempotencyKeyReused),
            });
        }
        // Checked by the gateway too; the log is what every replica obeys.
        if op.needs_session() {
            return done(Err(OpError::SessionRequired {
                op: op.label().into(),
            }));
        }
        if !op.is_mutating() {
            return done(super::validate_op(&op).and_then(|()| self.query(NO_SESSION, &op)));
        }
        if self.one_shots.len() >= ONE_SHOT_ANSWERS_MAX {
            let max = ONE_SHOT_ANSWERS_MAX as u64;
            return done(Err(OpError::TooManyKeys { max }));
        }
        // A refusal is kept too: the key's answer is its first.
        let result = match super::validate_op(&op) {
            Err(error) => Err(error),
            Ok(()) => match self.execute(index, NO_SESSION, RequestId(0), op, effects) {
                Outcome::Done(result) => result,
                // Only operations that wait end pending, and none of them
                // runs without a session.
                Outcome::Pending | Outcome::Awaited => Err(OpError::SessionRequired {
                    op: "a waiting operation".into(),
                }),
            },
        };
        let answered = Answered {
            expires_ms: self.now_ms.saturating_add(ONE_SHOT_KEY_TTL_MS),
            fingerprint,
            result: result.clone(),
        };
        self.one_shots.insert(key, answered);
        done(result)
    }
}
