//! The objects watched on this member and their watchers, shared by the
//! apply loop (which finds what changed: [`Observer`]) and the client
//! connections (which add and remove watchers).
//!
//! A change's state is kept once, shared by every watcher of the object.
//! Each watcher queues the changes its connection has not yet sent; past
//! a bound (changes per watch, bytes per connection, bytes per member) a
//! watcher's queue becomes its newest change alone, marked `jump`, so a
//! slow client costs the member a bounded amount of memory. Adding and
//! removing a watcher costs the same however many watch the object.

use crate::limits::{
    WATCH_BUFFER_BYTES_PER_CONNECTION_MAX, WATCH_BUFFER_BYTES_PER_MEMBER_MAX,
    WATCHERS_PER_MEMBER_MAX,
};
use crate::machine::{ApplyObserver, Machine, Touched, same_state};
use crate::sync::lock;
use raftcp_proto::limits::CHANGES_BUFFERED_PER_WATCH_MAX;
use raftcp_proto::{Change, ObjectKind, ObjectState, OpError, Value, WatchId};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

fn kind_slot(kind: ObjectKind) -> usize {
    match kind {
        ObjectKind::AtomicLong => 0,
        ObjectKind::AtomicReference => 1,
        ObjectKind::FencedLock => 2,
        ObjectKind::Semaphore => 3,
        ObjectKind::CountDownLatch => 4,
    }
}

/// The watched objects of this member, by kind and name.
#[derive(Debug, Default)]
pub struct Watches {
    objects: Mutex<[HashMap<String, Watched>; 5]>,
    /// Watchers registered: while none, applying does no watch work.
    watchers: AtomicUsize,
    /// Numbers watchers, so one is removed without a search.
    next_watcher: AtomicU64,
    /// Bytes of changes queued by every watcher of the member.
    queued_bytes: Arc<AtomicUsize>,
}

/// One watched object.
#[derive(Debug)]
struct Watched {
    /// Its state as of the last change shown to its watchers.
    last: Arc<ObjectState>,
    watchers: HashMap<u64, Arc<Watcher>>,
}

/// A change waiting to be sent.
#[derive(Debug)]
struct Queued {
    position: u64,
    state: Arc<ObjectState>,
    jump: bool,
    /// What it is counted for.
    bytes: usize,
}

/// One watch of one client connection.
#[derive(Debug)]
pub struct Watcher {
    pub watch: WatchId,
    /// Its number in [`Watches`].
    id: u64,
    queue: Mutex<VecDeque<Queued>>,
    /// Bytes queued by every watcher of the connection.
    connection_bytes: Arc<AtomicUsize>,
    /// Bytes queued by every watcher of the member.
    member_bytes: Arc<AtomicUsize>,
    /// Wakes the connection's writer.
    wake: Arc<Notify>,
    /// Set by `Unwatch` (or the connection's end) before it is removed: a
    /// registration still under way then adds nothing, and nothing more
    /// is queued.
    cancelled: AtomicBool,
}

impl Watcher {
    /// Queues a change for the client; past the bounds, everything this
    /// watch has queued becomes this one change, marked `jump`.
    fn push(&self, position: u64, state: &Arc<ObjectState>, mut jump: bool) {
        if self.cancelled.load(Ordering::Acquire) {
            return;
        }
        let bytes = state_bytes(state);
        let mut queue = lock(&self.queue);
        let connection = self.connection_bytes.load(Ordering::Relaxed);
        let member = self.member_bytes.load(Ordering::Relaxed);
        if queue.len() >= CHANGES_BUFFERED_PER_WATCH_MAX
            || connection + bytes > WATCH_BUFFER_BYTES_PER_CONNECTION_MAX
            || member + bytes > WATCH_BUFFER_BYTES_PER_MEMBER_MAX
        {
            self.forget(queue.drain(..));
            jump = true;
        }
        self.count(bytes);
        queue.push_back(Queued {
            position,
            state: state.clone(),
            jump,
            bytes,
        });
        drop(queue);
        self.wake.notify_one();
    }

    /// The oldest change not yet sent.
    pub fn take(&self) -> Option<Change> {
        let queued = lock(&self.queue).pop_front()?;
        self.uncount(queued.bytes);
        Some(Change {
            watch: self.watch,
            position: queued.position,
            state: (*queued.state).clone(),
            jump: queued.jump,
        })
    }

    fn count(&self, bytes: usize) {
        self.connection_bytes.fetch_add(bytes, Ordering::Relaxed);
        self.member_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    fn uncount(&self, bytes: usize) {
        self.connection_bytes.fetch_sub(bytes, Ordering::Relaxed);
        self.member_bytes.fetch_sub(bytes, Ordering::Relaxed);
    }

    fn forget(&self, dropped: impl Iterator<Item = Queued>) {
        self.uncount(dropped.map(|queued| queued.bytes).sum());
    }

    /// Stops it: nothing more is queued, and what was is dropped.
    fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
        let mut queue = lock(&self.queue);
        self.forget(queue.drain(..));
    }
}

/// About what a queued state takes in memory (a value's nodes at their
/// in-memory size).
fn state_bytes(state: &ObjectState) -> usize {
    fn value_bytes(value: &Value) -> usize {
        std::mem::size_of::<Value>()
            + match value {
                Value::String(s) => s.len(),
                Value::Bytes(b) => b.len(),
                Value::List(items) => items.iter().map(value_bytes).sum(),
                Value::Map(entries) => entries
                    .iter()
                    .map(|(key, value)| key.len() + value_bytes(value))
                    .sum(),
                _ => 0,
            }
    }
    let value = match state {
        ObjectState::Reference(Some(value)) => value_bytes(value),
        _ => 0,
    };
    std::mem::size_of::<Queued>() + value
}

impl Watches {
    /// Watchers registered on this member.
    pub fn watchers(&self) -> usize {
        self.watchers.load(Ordering::Relaxed)
    }

    /// A new watcher for watch `watch` of a connection.
    pub fn watcher(
        &self,
        watch: WatchId,
        wake: Arc<Notify>,
        connection_bytes: Arc<AtomicUsize>,
    ) -> Arc<Watcher> {
        Arc::new(Watcher {
            watch,
            id: self.next_watcher.fetch_add(1, Ordering::Relaxed),
            queue: Mutex::default(),
            connection_bytes,
            member_bytes: self.queued_bytes.clone(),
            wake,
            cancelled: AtomicBool::new(false),
        })
    }

    /// Adds `watcher` on object `name` of `kind` of `machine` (the replica,
    /// whose lock the caller holds, so no entry is applied meanwhile) and
    /// queues the object's state now as its first change, at `position`,
    /// unless the client has seen that position (`after`). Nothing is
    /// added when the watcher was cancelled meanwhile.
    pub fn add(
        &self,
        machine: &Machine,
        request: (ObjectKind, &str),
        watcher: &Arc<Watcher>,
        position: u64,
        after: Option<u64>,
    ) -> Result<(), OpError> {
        let (kind, name) = request;
        let mut objects = lock(&self.objects);
        if watcher.cancelled.load(Ordering::Acquire) {
            return Ok(());
        }
        if self.watchers() >= WATCHERS_PER_MEMBER_MAX {
            return Err(OpError::TooManyWatches {
                max: WATCHERS_PER_MEMBER_MAX as u64,
            });
        }
        let watched = objects[kind_slot(kind)]
            .entry(name.to_owned())
            .or_insert_with(|| Watched {
                last: Arc::new(machine.observe(kind, name)),
                watchers: HashMap::new(),
            });
        watched.watchers.insert(watcher.id, watcher.clone());
        self.watchers.fetch_add(1, Ordering::Relaxed);
        match after {
            // The client has seen this position already: nothing since.
            Some(after) if after >= position => {}
            // A resumed watch cannot tell what happened since `after`.
            after => watcher.push(position, &watched.last, after.is_some()),
        }
        Ok(())
    }

    /// Removes `watcher` (cancelled first, its queue dropped); an object
    /// nobody watches any more is forgotten.
    pub fn remove(&self, kind: ObjectKind, name: &str, watcher: &Arc<Watcher>) {
        watcher.cancel();
        let mut objects = lock(&self.objects);
        let map = &mut objects[kind_slot(kind)];
        let Some(watched) = map.get_mut(name) else {
            return;
        };
        if watched.watchers.remove(&watcher.id).is_some() {
            self.watchers.fetch_sub(1, Ordering::Relaxed);
        }
        if watched.watchers.is_empty() {
            map.remove(name);
        }
    }

    /// What applying each command needs to look at.
    pub fn observer(&self) -> Observer<'_> {
        Observer { watches: self }
    }

    /// A snapshot replaced the replica's state at `position`: every watched
    /// object that looks different now shows its state, marked `jump`
    /// (the changes in between were not applied here).
    pub fn replaced(&self, machine: &Machine, position: u64) {
        let mut objects = lock(&self.objects);
        for (slot, map) in objects.iter_mut().enumerate() {
            let kind = SLOT_KINDS[slot];
            for (name, watched) in map.iter_mut() {
                Watches::look(watched, machine.observe(kind, name), position, true);
            }
        }
    }

    /// Shows `watched` its state at `position`, if it changed.
    fn look(watched: &mut Watched, state: ObjectState, position: u64, jump: bool) {
        if same_state(&state, &watched.last) {
            return;
        }
        watched.last = Arc::new(state);
        for watcher in watched.watchers.values() {
            watcher.push(position, &watched.last, jump);
        }
    }
}

/// The kind of each slot of [`kind_slot`].
const SLOT_KINDS: [ObjectKind; 5] = [
    ObjectKind::AtomicLong,
    ObjectKind::AtomicReference,
    ObjectKind::FencedLock,
    ObjectKind::Semaphore,
    ObjectKind::CountDownLatch,
];

/// The apply loop's view of the watches.
#[derive(Debug)]
pub struct Observer<'a> {
    watches: &'a Watches,
}

/// What a command may have changed among the watched objects.
#[derive(Debug)]
pub enum Noted {
    One {
        kind: ObjectKind,
        name: String,
        destroy: bool,
    },
    Several,
}

impl ApplyObserver for Observer<'_> {
    type Noted = Noted;

    fn before(&mut self, touched: Touched<'_>) -> Option<Noted> {
        if self.watches.watchers() == 0 {
            return None;
        }
        match touched {
            Touched::Nothing => None,
            Touched::One {
                kind,
                name,
                destroy,
            } => lock(&self.watches.objects)[kind_slot(kind)]
                .contains_key(name)
                .then(|| Noted::One {
                    kind,
                    name: name.to_owned(),
                    destroy,
                }),
            Touched::Several => Some(Noted::Several),
        }
    }

    fn after(
        &mut self,
        machine: &Machine,
        position: u64,
        noted: Noted,
        changed: &[(ObjectKind, String)],
    ) {
        let mut objects = lock(&self.watches.objects);
        match noted {
            Noted::One {
                kind,
                name,
                destroy,
            } => {
                let Some(watched) = objects[kind_slot(kind)].get_mut(&name) else {
                    return;
                };
                let state = match destroy && !machine.exists(kind, &name) {
                    true => ObjectState::Destroyed,
                    false => machine.observe(kind, &name),
                };
                Watches::look(watched, state, position, false);
            }
            Noted::Several => {
                for (kind, name) in changed {
                    if let Some(watched) = objects[kind_slot(*kind)].get_mut(name) {
                        Watches::look(watched, machine.observe(*kind, name), position, false);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_slot_names_its_kind() {
        for (slot, kind) in SLOT_KINDS.iter().enumerate() {
            assert_eq!(kind_slot(*kind), slot);
        }
    }

    #[test]
    fn a_watcher_that_falls_behind_gets_one_change_marked_jump() {
        let watches = Watches::default();
        let bytes = Arc::new(AtomicUsize::new(0));
        let watcher = watches.watcher(WatchId(1), Arc::new(Notify::new()), bytes.clone());
        for position in 1..=CHANGES_BUFFERED_PER_WATCH_MAX as u64 {
            watcher.push(
                position,
                &Arc::new(ObjectState::Long(position as i64)),
                false,
            );
        }
        assert_eq!(lock(&watcher.queue).len(), CHANGES_BUFFERED_PER_WATCH_MAX);
        watcher.push(1_000, &Arc::new(ObjectState::Long(1_000)), false);
        let only = watcher.take().expect("one change");
        assert!(only.jump);
        assert_eq!(only.position, 1_000);
        assert!(watcher.take().is_none());
        assert_eq!(
            bytes.load(Ordering::Relaxed),
            0,
            "nothing counted once taken"
        );
        assert_eq!(watches.queued_bytes.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_cancelled_watcher_holds_and_takes_nothing() {
        let watches = Watches::default();
        let bytes = Arc::new(AtomicUsize::new(0));
        let watcher = watches.watcher(WatchId(1), Arc::new(Notify::new()), bytes.clone());
        watcher.push(1, &Arc::new(ObjectState::Long(1)), false);
        watcher.cancel();
        watcher.push(2, &Arc::new(ObjectState::Long(2)), false);
        assert!(watcher.take().is_none());
        assert_eq!(bytes.load(Ordering::Relaxed), 0);
    }
}
