//! How many bytes a group's state takes, by one deterministic size function
//! that every replica computes the same: names, values, waiters, sessions
//! and cached replies. The gateway refuses requests that would grow a
//! group past its quota (`--max-state-bytes`) before they are proposed;
//! `/metrics` reports the figure.
//!
//! The figure is kept up to date as the state changes: the parts that
//! change with each request (objects, cached replies) by measuring what a
//! step touched before and after it, the rest by the containers that hold
//! them. It is not stored in snapshots: a restore counts it afresh, and the
//! model tests check after every entry that the kept figure equals a fresh
//! count.

use super::Machine;
use super::command::Outcome;
use super::destroy::Kind;
use raftcp_proto::{OpError, Reply, Value};

/// What an object costs besides its name and value: map entries, state.
pub const OBJECT_BYTES: u64 = 64;
/// A session besides its client name (and its cached replies).
pub const SESSION_BYTES: u64 = 128;
/// A cached reply besides a value it carries.
pub const RESPONSE_BYTES: u64 = 32;
/// A queued waiter: its queue entry and its wait index entry (besides the
/// object's name, which the index entry repeats).
pub const WAITER_BYTES: u64 = 64;
/// A semaphore holder's entry.
pub const HOLDER_BYTES: u64 = 32;
/// A kept answer to a session-less mutation besides a value or text it
/// carries: its key, fingerprint, expiry and expiry index entry.
pub const ONE_SHOT_BYTES: u64 = 64;

/// The parts of the figure measured per step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub objects: u64,
    pub responses: u64,
}

/// About the bytes `value` takes: its payload plus a word per node.
pub fn value_bytes(value: &Value) -> u64 {
    8 + match value {
        Value::String(s) => s.len() as u64,
        Value::Bytes(b) => b.len() as u64,
        Value::List(items) => items.iter().map(value_bytes).sum(),
        Value::Map(entries) => entries
            .iter()
            .map(|(key, value)| key.len() as u64 + value_bytes(value))
            .sum(),
        _ => 0,
    }
}

/// A cached reply: its fixed cost plus any value or text it carries.
pub fn outcome_bytes(outcome: &Outcome) -> u64 {
    RESPONSE_BYTES
        + match outcome {
            Outcome::Done(result) => result_bytes(result),
            _ => 0,
        }
}

/// What a kept result carries besides its fixed cost: a value or a text.
pub fn result_bytes(result: &Result<Reply, OpError>) -> u64 {
    match result {
        Ok(Reply::Value(Some(value))) => value_bytes(value),
        Ok(_) => 0,
        Err(error) => error_bytes(error),
    }
}

/// Errors carry names and reasons; counted by their message's length.
fn error_bytes(error: &OpError) -> u64 {
    error.to_string().len() as u64
}

impl Machine {
    /// The group's state in bytes, as the size function counts it.
    pub fn state_bytes(&self) -> u64 {
        self.usage.objects
            + self.usage.responses
            + self.sessions.bytes()
            + self.waits.len() as u64 * WAITER_BYTES
            + self.one_shots.bytes()
    }

    /// What object `name` of `kind` costs now (0 if it does not exist).
    pub(super) fn object_bytes(&self, kind: Kind, name: &str) -> u64 {
        let objects = &self.objects;
        let name_bytes = name.len() as u64 + OBJECT_BYTES;
        // Each waiter's index entry repeats the name.
        let waiter = name.len() as u64 + WAITER_BYTES;
        let state = match kind {
            Kind::Long => objects.longs.get(name).map(|_| 0),
            Kind::Reference => objects.references.get(name).map(value_bytes),
            Kind::Lock => objects
                .locks
                .get(name)
                .map(|lock| lock.queue.len() as u64 * waiter),
            Kind::Semaphore => objects.semaphores.get(name).map(|semaphore| {
                semaphore.queue.len() as u64 * waiter + semaphore.held.len() as u64 * HOLDER_BYTES
            }),
            Kind::Latch => objects
                .latches
                .get(name)
                .map(|latch| latch.queue.len() as u64 * waiter),
        };
        state.map_or(0, |state| name_bytes + state)
    }

    /// Runs `step`, which may change object `name` of `kind`, keeping the
    /// objects' figure up to date.
    pub(super) fn measuring<R>(
        &mut self,
        kind: Kind,
        name: &str,
        step: impl FnOnce(&mut Self) -> R,
    ) -> R {
        if let Some(noting) = &mut self.noting {
            noting.push((kind, name.to_owned()));
        }
        let before = self.object_bytes(kind, name);
        let result = step(self);
        let after = self.object_bytes(kind, name);
        self.usage.objects = self.usage.objects.saturating_sub(before) + after;
        result
    }

    /// The per-step parts counted afresh (on restore, and by the checks).
    pub(super) fn count_usage(&self) -> Usage {
        let objects = &self.objects;
        let sum = |kind: Kind, names: Vec<&String>| -> u64 {
            names.iter().map(|name| self.object_bytes(kind, name)).sum()
        };
        let objects_bytes = sum(Kind::Long, objects.longs.keys().collect())
            + sum(Kind::Reference, objects.references.keys().collect())
            + sum(Kind::Lock, objects.locks.keys().collect())
            + sum(Kind::Semaphore, objects.semaphores.keys().collect())
            + sum(Kind::Latch, objects.latches.keys().collect());
        let responses = self
            .sessions
            .iter()
            .map(|(_, session)| session.responses.bytes())
            .sum();
        Usage {
            objects: objects_bytes,
            responses,
        }
    }
}
