//! The objects watched on this member and their watchers, shared by the
//! apply loop (which finds what changed: [`Observer`]) and the client
//! connections (which add and remove watchers). Each watcher keeps a small
//! queue of changes its connection has not yet sent; one that falls
//! behind has its queue coalesced into a single change marked `jump`, so
//! a slow client costs the member a bounded amount of memory.

use crate::limits::WATCH_BUFFER_BYTES_PER_CONNECTION_MAX;
use crate::machine::{ApplyObserver, Machine, Touched, value_bytes};
use crate::sync::lock;
use raftcp_proto::limits::CHANGES_BUFFERED_PER_WATCH_MAX;
use raftcp_proto::{Change, ObjectKind, ObjectState, WatchId};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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
}

/// One watched object.
#[derive(Debug)]
struct Watched {
    /// Its state as of the last change shown to its watchers.
    last: ObjectState,
    watchers: Vec<Arc<Watcher>>,
}

/// One watch of one client connection.
#[derive(Debug)]
pub struct Watcher {
    pub watch: WatchId,
    /// Changes not yet sent, with what each costs.
    queue: Mutex<VecDeque<(Change, usize)>>,
    /// Bytes queued by every watcher of the connection.
    connection_bytes: Arc<AtomicUsize>,
    /// Wakes the connection's writer.
    wake: Arc<Notify>,
    /// Set by `Unwatch` (or the connection's end) before it is removed: a
    /// registration still under way then adds nothing.
    cancelled: AtomicBool,
}

impl Watcher {
    pub fn new(watch: WatchId, wake: Arc<Notify>, connection_bytes: Arc<AtomicUsize>) -> Arc<Self> {
        Arc::new(Self {
            watch,
            queue: Mutex::default(),
            connection_bytes,
            wake,
            cancelled: AtomicBool::new(false),
        })
    }

    /// Queues `change` for the client; past the bounds (changes per watch,
    /// bytes per connection), everything this watch has queued becomes
    /// this one change, marked `jump`.
    pub fn push(&self, mut change: Change) {
        let cost = change_bytes(&change);
        let mut queue = lock(&self.queue);
        let queued = self.connection_bytes.load(Ordering::Relaxed);
        if queue.len() >= CHANGES_BUFFERED_PER_WATCH_MAX
            || queued + cost > WATCH_BUFFER_BYTES_PER_CONNECTION_MAX
        {
            let dropped: usize = queue.drain(..).map(|(_, cost)| cost).sum();
            self.connection_bytes.fetch_sub(dropped, Ordering::Relaxed);
            change.jump = true;
        }
        self.connection_bytes.fetch_add(cost, Ordering::Relaxed);
        queue.push_back((change, cost));
        drop(queue);
        self.wake.notify_one();
    }

    /// The oldest change not yet sent.
    pub fn take(&self) -> Option<Change> {
        let (change, cost) = lock(&self.queue).pop_front()?;
        self.connection_bytes.fetch_sub(cost, Ordering::Relaxed);
        Some(change)
    }

    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
    }
}

/// About what a queued change takes in memory.
fn change_bytes(change: &Change) -> usize {
    let value = match &change.state {
        ObjectState::Reference(Some(value)) => value_bytes(value) as usize,
        _ => 0,
    };
    std::mem::size_of::<Change>() + value
}

impl Watches {
    /// Watchers registered on this member.
    pub fn watchers(&self) -> usize {
        self.watchers.load(Ordering::Relaxed)
    }

    /// Adds `watcher` on object `name` of `kind` of `machine` (the replica,
    /// whose lock the caller holds, so no entry is applied meanwhile) and
    /// returns the object's state now; `None` when the watcher was
    /// cancelled meanwhile (nothing added).
    pub fn add(
        &self,
        machine: &Machine,
        kind: ObjectKind,
        name: &str,
        watcher: &Arc<Watcher>,
    ) -> Option<ObjectState> {
        let mut objects = lock(&self.objects);
        if watcher.cancelled.load(Ordering::Acquire) {
            return None;
        }
        let watched = objects[kind_slot(kind)]
            .entry(name.to_owned())
            .or_insert_with(|| Watched {
                last: machine.observe(kind, name),
                watchers: Vec::new(),
            });
        watched.watchers.push(watcher.clone());
        self.watchers.fetch_add(1, Ordering::Relaxed);
        Some(watched.last.clone())
    }

    /// Removes `watcher` (cancelled first); an object nobody watches any
    /// more is forgotten.
    pub fn remove(&self, kind: ObjectKind, name: &str, watcher: &Arc<Watcher>) {
        watcher.cancel();
        let mut objects = lock(&self.objects);
        let map = &mut objects[kind_slot(kind)];
        let Some(watched) = map.get_mut(name) else {
            return;
        };
        let before = watched.watchers.len();
        watched.watchers.retain(|w| !Arc::ptr_eq(w, watcher));
        if watched.watchers.len() < before {
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

    /// Shows `watched` its state at `position`, if it changed.
    fn look(watched: &mut Watched, state: ObjectState, position: u64) {
        if state == watched.last {
            return;
        }
        watched.last = state;
        for watcher in &watched.watchers {
            watcher.push(Change {
                watch: watcher.watch,
                position,
                state: watched.last.clone(),
                jump: false,
            });
        }
    }
}

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
    LocksAndSemaphores,
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
            Touched::LocksAndSemaphores => Some(Noted::LocksAndSemaphores),
        }
    }

    fn after(&mut self, machine: &Machine, position: u64, noted: Noted) {
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
                Watches::look(watched, state, position);
            }
            Noted::LocksAndSemaphores => {
                for kind in [ObjectKind::FencedLock, ObjectKind::Semaphore] {
                    for (name, watched) in objects[kind_slot(kind)].iter_mut() {
                        let state = machine.observe(kind, name);
                        // A destroyed object stays so until it is used.
                        if watched.last == ObjectState::Destroyed && !machine.exists(kind, name) {
                            continue;
                        }
                        Watches::look(watched, state, position);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind, in the order of [`kind_slot`].
    const KINDS: [ObjectKind; 5] = [
        ObjectKind::AtomicLong,
        ObjectKind::AtomicReference,
        ObjectKind::FencedLock,
        ObjectKind::Semaphore,
        ObjectKind::CountDownLatch,
    ];

    #[test]
    fn kinds_have_their_own_slots() {
        let slots: std::collections::BTreeSet<usize> =
            KINDS.iter().map(|k| kind_slot(*k)).collect();
        assert_eq!(slots.len(), KINDS.len());
    }

    #[test]
    fn a_watcher_that_falls_behind_gets_one_change_marked_jump() {
        let bytes = Arc::new(AtomicUsize::new(0));
        let watcher = Watcher::new(WatchId(1), Arc::new(Notify::new()), bytes.clone());
        let change = |position| Change {
            watch: WatchId(1),
            position,
            state: ObjectState::Long(position as i64),
            jump: false,
        };
        for position in 1..=CHANGES_BUFFERED_PER_WATCH_MAX as u64 {
            watcher.push(change(position));
        }
        assert_eq!(lock(&watcher.queue).len(), CHANGES_BUFFERED_PER_WATCH_MAX);
        watcher.push(change(1_000));
        let only = watcher.take().expect("one change");
        assert!(only.jump);
        assert_eq!(only.position, 1_000);
        assert!(watcher.take().is_none());
        assert_eq!(
            bytes.load(Ordering::Relaxed),
            0,
            "nothing counted once taken"
        );
    }
}
