//! What a watcher may see of an object ([`ObjectState`]), and a hook that
//! lets a member see which watched objects each command may have changed
//! while it applies an entry. The hook only reads: the machine's state and
//! answers are the same with or without it.

use super::Machine;
use super::command::{Applied, Command, CommandKind};
use super::destroy::Kind;
use raftcp_proto::{Fence, ObjectKind, ObjectState};

/// Which objects a command may change.
#[derive(Debug, PartialEq)]
pub enum Touched<'a> {
    /// None (handshakes, heartbeats, renewals).
    Nothing,
    /// One object, named by the client's operation; `destroy` when the
    /// operation destroys it.
    One {
        kind: ObjectKind,
        name: &'a str,
        destroy: bool,
    },
    /// Whichever objects the command changes as it applies (a session
    /// that ends releases what it held; a waiter that leaves a
    /// semaphore's queue may let the next in): `after` is told which.
    Several,
}

/// Sees each command of an entry before and after it is applied.
pub trait ApplyObserver {
    /// What `before` noted for `after`.
    type Noted;
    /// Before the command: what to look at afterwards, if anything.
    fn before(&mut self, touched: Touched<'_>) -> Option<Self::Noted>;
    /// After it, at log position `position`; `changed`: the objects it
    /// changed, for [`Touched::Several`] (repeats possible).
    fn after(
        &mut self,
        machine: &Machine,
        position: u64,
        noted: Self::Noted,
        changed: &[(ObjectKind, String)],
    );
}

/// Which objects `kind` may change.
pub fn touched(kind: &CommandKind) -> Touched<'_> {
    match kind {
        CommandKind::Request { op, .. }
        | CommandKind::Client { op, .. }
        | CommandKind::OneShot { op, .. } => Touched::One {
            kind: object_kind_of(Kind::of(op)),
            name: op.name(),
            destroy: op.is_destroy(),
        },
        CommandKind::CloseSession { .. }
        | CommandKind::ExpireSessions
        | CommandKind::ExpireWaits
        | CommandKind::Cancel { .. } => Touched::Several,
        CommandKind::OpenSession { .. }
        | CommandKind::OpenOwnedSession { .. }
        | CommandKind::ResumeSession { .. }
        | CommandKind::Heartbeat { .. }
        | CommandKind::RenewAllSessions
        // Its commands are looked at one by one.
        | CommandKind::Batch(_) => Touched::Nothing,
    }
}

impl Machine {
    /// The observable state of object `name` of `kind`; one that does not
    /// exist looks as a fresh one would.
    pub fn observe(&self, kind: ObjectKind, name: &str) -> ObjectState {
        let objects = &self.objects;
        match kind {
            ObjectKind::AtomicLong => {
                ObjectState::Long(objects.longs.get(name).copied().unwrap_or(0))
            }
            ObjectKind::AtomicReference => {
                ObjectState::Reference(objects.references.get(name).cloned())
            }
            // A free lock shows no fence: a lock nobody holds or waits for
            // is not kept, so its last fence is not known.
            ObjectKind::FencedLock => match objects.locks.get(name).and_then(|l| l.holder.as_ref())
            {
                Some(holder) => ObjectState::Lock {
                    held: true,
                    fence: holder.fence,
                },
                None => ObjectState::Lock {
                    held: false,
                    fence: Fence::INVALID,
                },
            },
            ObjectKind::Semaphore => ObjectState::Semaphore {
                available: objects.semaphores.get(name).map_or(0, |s| s.available),
            },
            ObjectKind::CountDownLatch => match objects.latches.get(name) {
                Some(latch) => ObjectState::Latch {
                    count: latch.count,
                    round: latch.round,
                },
                None => ObjectState::Latch { count: 0, round: 0 },
            },
        }
    }

    /// Whether object `name` of `kind` exists (a destroyed one does not,
    /// until a mutation creates it again).
    pub fn exists(&self, kind: ObjectKind, name: &str) -> bool {
        let objects = &self.objects;
        match kind {
            ObjectKind::AtomicLong => objects.longs.contains_key(name),
            ObjectKind::AtomicReference => objects.references.contains_key(name),
            ObjectKind::FencedLock => objects.locks.contains_key(name),
            ObjectKind::Semaphore => objects.semaphores.contains_key(name),
            ObjectKind::CountDownLatch => objects.latches.contains_key(name),
        }
    }

    /// [`Machine::apply_entry`], showing `observer` each command.
    pub fn apply_entry_observed<O: ApplyObserver>(
        &mut self,
        raft_index: u64,
        command: Command,
        observer: &mut O,
    ) -> Applied {
        let base = raft_index.saturating_mul(super::POSITIONS_PER_ENTRY);
        let CommandKind::Batch(kinds) = &command.kind else {
            return self.apply_observed(base, command, observer);
        };
        // The batch is shared (an `Arc`): this copies a pointer.
        let kinds = kinds.clone();
        let mut responses = Vec::with_capacity(kinds.len());
        let mut effects = Vec::new();
        for (place, kind) in (0..super::POSITIONS_PER_ENTRY).zip(kinds.iter()) {
            let command = Command {
                time_ms: command.time_ms,
                kind: kind.clone(),
            };
            let applied = self.apply_observed(base + place, command, observer);
            responses.push(applied.response);
            effects.extend(applied.effects);
        }
        Applied {
            response: super::CommandResponse::Batch(responses),
            effects,
        }
    }

    /// Applies one command at `position`, showing it to `observer`.
    fn apply_observed<O: ApplyObserver>(
        &mut self,
        position: u64,
        command: Command,
        observer: &mut O,
    ) -> Applied {
        let touched = touched(&command.kind);
        let several = touched == Touched::Several;
        let Some(noted) = observer.before(touched) else {
            return self.apply(position, command);
        };
        if several {
            self.noting = Some(Vec::new());
        }
        let applied = self.apply(position, command);
        let changed: Vec<(ObjectKind, String)> = self
            .noting
            .take()
            .unwrap_or_default()
            .into_iter()
            .map(|(kind, name)| (object_kind_of(kind), name))
            .collect();
        observer.after(self, position, noted, &changed);
        applied
    }
}

/// The watch kind of a machine kind.
fn object_kind_of(kind: Kind) -> ObjectKind {
    match kind {
        Kind::Long => ObjectKind::AtomicLong,
        Kind::Reference => ObjectKind::AtomicReference,
        Kind::Lock => ObjectKind::FencedLock,
        Kind::Semaphore => ObjectKind::Semaphore,
        Kind::Latch => ObjectKind::CountDownLatch,
    }
}

/// Whether two states look the same to a watcher: values compare by their
/// canonical form, as the machine compares them.
pub fn same_state(a: &ObjectState, b: &ObjectState) -> bool {
    match (a, b) {
        (ObjectState::Reference(a), ObjectState::Reference(b)) => {
            super::execute::same_value(a.as_ref(), b.as_ref())
        }
        (a, b) => a == b,
    }
}

/// An observer that looks at nothing.
#[derive(Debug)]
pub struct Unobserved;

impl ApplyObserver for Unobserved {
    type Noted = ();
    fn before(&mut self, _: Touched<'_>) -> Option<()> {
        None
    }
    fn after(&mut self, _: &Machine, _: u64, _: (), _: &[(ObjectKind, String)]) {}
}
