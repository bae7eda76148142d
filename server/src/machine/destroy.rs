//! The end of an object: `destroy`, and dropping objects that are back in
//! their never-used state.
//!
//! `destroy` removes an object at once, whoever holds it or waits on it.
//! Its waiters fail with `ObjectDestroyed`. A handle other than the
//! destroying one that held it (a lock's holder, a semaphore's permit
//! holders) is recorded as having lost it, and its next unlock, lock or
//! release of that name fails with `ObjectDestroyed` (and so does its
//! `get_fence` until then), so a holder learns that it no longer holds it
//! rather than meeting a fresh object.
//! The next use of the name creates a fresh object. Fences come from log
//! positions, not from the object, so a re-created lock's fences still
//! exceed every fence handed out before.
//!
//! An object whose state cannot be told apart from a never-used one
//! (docs/semantics.md lists them) is not kept: the entry that brings it
//! there drops it, so names used once cost nothing afterwards.

use super::Machine;
use super::command::Effect;
use super::owner::Owner;
use raftcp_proto::{HandleId, Op, OpError, Reply, SessionId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The five kinds of object, as the machine, errors and token rules name
/// them. Stored in snapshots (in lost holds): variant order is disk format,
/// append only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Kind {
    Long,
    Reference,
    Lock,
    Semaphore,
    Latch,
}

impl Kind {
    /// Every kind, in order.
    pub const ALL: [Kind; 5] = [
        Kind::Long,
        Kind::Reference,
        Kind::Lock,
        Kind::Semaphore,
        Kind::Latch,
    ];

    /// The kind `op` addresses.
    pub fn of(op: &Op) -> Kind {
        match op {
            Op::AtomicLong { .. } => Kind::Long,
            Op::AtomicReference { .. } => Kind::Reference,
            Op::Lock { .. } => Kind::Lock,
            Op::Semaphore { .. } => Kind::Semaphore,
            Op::Latch { .. } => Kind::Latch,
        }
    }

    /// As token rules name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Long => "long",
            Kind::Reference => "reference",
            Kind::Lock => "lock",
            Kind::Semaphore => "semaphore",
            Kind::Latch => "latch",
        }
    }

    /// As errors name it.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Long => "atomic long",
            Kind::Reference => "atomic reference",
            Kind::Lock => "lock",
            Kind::Semaphore => "semaphore",
            Kind::Latch => "latch",
        }
    }
}

/// Holds lost to a `destroy`, per session: (handle, kind, name).
pub type LostHolds = BTreeMap<SessionId, BTreeSet<(HandleId, Kind, String)>>;

/// Most lost holds a session keeps to tell: handles are the client's to
/// pick, so a session could otherwise hold and lose without end. Past it a
/// lost hold is not recorded, and its handle's next call finds a fresh
/// object (`NOT_OWNER` on an unlock or release) instead of
/// `OBJECT_DESTROYED`.
pub const LOST_HOLDS_PER_SESSION_MAX: usize = 1024;

fn destroyed(kind: Kind, name: &str) -> OpError {
    OpError::ObjectDestroyed {
        kind: kind.label().into(),
        name: name.to_owned(),
    }
}

impl Machine {
    /// Removes the object `name` of `kind` on behalf of `by` (the handle
    /// that asked, for locks and semaphores): its waiters fail, its other
    /// holders lose it.
    pub(super) fn destroy(
        &mut self,
        index: u64,
        kind: Kind,
        name: &str,
        by: Option<Owner>,
        effects: &mut Vec<Effect>,
    ) -> Reply {
        let mut waiters = Vec::new();
        let mut holders = Vec::new();
        match kind {
            Kind::Long => {
                self.objects.longs.remove(name);
            }
            Kind::Reference => {
                self.objects.references.remove(name);
            }
            Kind::Lock => {
                if let Some(lock) = self.objects.locks.remove(name) {
                    holders.extend(lock.holder.map(|holder| holder.owner));
                    waiters.extend(lock.queue.keys());
                }
            }
            Kind::Semaphore => {
                if let Some(semaphore) = self.objects.semaphores.remove(name) {
                    holders.extend(semaphore.held.keys().copied());
                    waiters.extend(semaphore.queue.keys());
                }
            }
            Kind::Latch => {
                if let Some(latch) = self.objects.latches.remove(name) {
                    waiters.extend(latch.queue.keys());
                }
            }
        }
        // A lease holds one object: losing it ends the lease, which would
        // otherwise linger, holding nothing, for the rest of its length.
        let leases: Vec<SessionId> = (holders.iter())
            .map(|owner| owner.session)
            .filter(|session| self.is_lease(*session))
            .collect();
        for owner in holders {
            self.lose_hold(owner, kind, name, by != Some(owner));
        }
        for (session, request) in waiters {
            self.complete(session, request, Err(destroyed(kind, name)), effects);
        }
        self.end_sessions(index, &leases, effects);
        Reply::Unit
    }

    /// `owner` held `name` when it was destroyed; `tell` unless it destroyed
    /// it itself.
    fn lose_hold(&mut self, owner: Owner, kind: Kind, name: &str, tell: bool) {
        let Some(session) = self.sessions.get_mut(owner.session) else {
            return;
        };
        match kind {
            Kind::Lock => session.locks.remove(name),
            _ => session.semaphores.remove(name),
        };
        if !tell {
            return;
        }
        let lost = self.lost_holds.entry(owner.session).or_default();
        if lost.len() < LOST_HOLDS_PER_SESSION_MAX {
            lost.insert((owner.handle, kind, name.to_owned()));
        }
    }

    /// Whether `owner` lost `name` to a destroy and has not heard yet.
    pub(super) fn lost_hold(&self, owner: Owner, kind: Kind, name: &str) -> bool {
        self.lost_holds
            .get(&owner.session)
            .is_some_and(|lost| lost.contains(&(owner.handle, kind, name.to_owned())))
    }

    /// If `owner` lost `name` to a destroy, the error that tells it, once.
    pub(super) fn take_lost_hold(
        &mut self,
        owner: Owner,
        kind: Kind,
        name: &str,
    ) -> Option<OpError> {
        let lost = self.lost_holds.get_mut(&owner.session)?;
        let key = (owner.handle, kind, name.to_owned());
        if !lost.remove(&key) {
            return None;
        }
        if lost.is_empty() {
            self.lost_holds.remove(&owner.session);
        }
        Some(destroyed(kind, name))
    }

    /// Drops `name` of `kind` if it is back in its never-used state.
    pub(super) fn drop_if_idle(&mut self, kind: Kind, name: &str) {
        let objects = &mut self.objects;
        let idle = match kind {
            Kind::Long => objects.longs.get(name) == Some(&0),
            // Null is absence already.
            Kind::Reference => false,
            Kind::Lock => objects.locks.get(name).is_some_and(|l| l.is_idle()),
            Kind::Semaphore => objects.semaphores.get(name).is_some_and(|s| s.is_idle()),
            Kind::Latch => objects.latches.get(name).is_some_and(|l| l.is_idle()),
        };
        if !idle {
            return;
        }
        match kind {
            Kind::Long => objects.longs.remove(name).map(drop),
            Kind::Reference => None,
            Kind::Lock => objects.locks.remove(name).map(drop),
            Kind::Semaphore => objects.semaphores.remove(name).map(drop),
            Kind::Latch => objects.latches.remove(name).map(drop),
        };
    }

    /// Drops every idle object: a snapshot written before idle objects
    /// were dropped holds some.
    pub(super) fn drop_all_idle(&mut self) {
        let objects = &mut self.objects;
        objects.longs.retain(|_, value| *value != 0);
        objects.locks.retain(|_, lock| !lock.is_idle());
        objects
            .semaphores
            .retain(|_, semaphore| !semaphore.is_idle());
        objects.latches.retain(|_, latch| !latch.is_idle());
    }

    /// A session ended: what it lost no longer needs telling.
    pub(super) fn forget_lost_holds(&mut self, session: SessionId) {
        self.lost_holds.remove(&session);
    }
}
