//! The objects watched on this member, shared by the apply loop (which
//! finds what changed: [`Observer`]) and the client connections (which add
//! and remove watchers and take changes).
//!
//! Each watched object has one feed: its recent changes, newest last,
//! appended once per change however many watch it, and each state kept
//! once. A watcher is a cursor into its object's feed; its connection's
//! writer takes the changes past the cursor as its outbox has room. A
//! watcher whose cursor falls behind what the feed keeps (a client that
//! does not keep up) gets the newest state next, marked `jump`. Applying a
//! change costs the same however many watch the object (one wake per
//! watching connection), and a slow watcher costs the member its cursor
//! and, until it is sent, its first change.
//!
//! Lock order: the replica, then `Watches::feeds`, then a watcher's state,
//! then a feed's; `add` lets go of a feed's before it takes a watcher's.

use super::feed::{Feed, Kept};
use crate::limits::WATCHERS_PER_MEMBER_MAX;
use crate::machine::{ApplyObserver, Machine, Touched};
use crate::sync::lock;
use raftcp_proto::{Change, ObjectKind, ObjectState, OpError, WatchId};
use std::collections::HashMap;
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
    feeds: Mutex<[HashMap<String, Arc<Feed>>; 5]>,
    /// Watchers registered: while none, applying does no watch work.
    watchers: AtomicUsize,
    /// Numbers watchers and connections.
    next_id: AtomicU64,
    /// Bytes of changes kept by every feed of the member.
    feed_bytes: Arc<AtomicUsize>,
}

/// One watch of one client connection: a cursor into its object's feed.
#[derive(Debug)]
pub struct Watcher {
    pub watch: WatchId,
    kind: ObjectKind,
    name: String,
    /// The connection's number, and what wakes its writer.
    connection: (u64, Arc<Notify>),
    state: Mutex<WatcherState>,
    /// Set by `Unwatch` (or the connection's end) before it is removed: a
    /// registration still under way then adds nothing.
    cancelled: AtomicBool,
}

#[derive(Debug, Default)]
struct WatcherState {
    feed: Option<Arc<Feed>>,
    /// The position of the last change taken.
    cursor: u64,
    /// The first change (the state when the watch began), not yet taken.
    first: Option<Kept>,
}

impl Watcher {
    /// The next change for the client, if there is one.
    pub fn take(&self) -> Option<Change> {
        // Lock order: the watcher's state, then its feed's.
        let mut state = lock(&self.state);
        if let Some(first) = state.first.take() {
            return Some(first.change(self.watch));
        }
        let kept = state.feed.as_ref()?.next_after(state.cursor)?;
        state.cursor = kept.position;
        Some(kept.change(self.watch))
    }

    pub fn kind(&self) -> ObjectKind {
        self.kind
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Watches {
    /// Watchers registered on this member.
    pub fn watchers(&self) -> usize {
        self.watchers.load(Ordering::Relaxed)
    }

    /// A number for a new connection's watchers.
    pub fn connection_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// A new watcher for watch `watch` of connection `connection` (its
    /// number, and what wakes its writer).
    pub fn watcher(
        &self,
        watch: WatchId,
        target: (ObjectKind, &str),
        connection: (u64, Arc<Notify>),
    ) -> Arc<Watcher> {
        Arc::new(Watcher {
            watch,
            kind: target.0,
            name: target.1.to_owned(),
            connection,
            state: Mutex::default(),
            cancelled: AtomicBool::new(false),
        })
    }

    /// Adds `watcher` to its object's feed in `machine` (the replica, whose
    /// lock the caller holds, so no entry is applied meanwhile); its first
    /// change is the object's state now, at `position`, unless the client
    /// has seen that position (`after`). Nothing is added when the watcher
    /// was cancelled meanwhile.
    pub fn add(
        &self,
        machine: &Machine,
        watcher: &Arc<Watcher>,
        position: u64,
        after: Option<u64>,
    ) -> Result<(), OpError> {
        let mut feeds = lock(&self.feeds);
        if watcher.cancelled.load(Ordering::Acquire) {
            return Ok(());
        }
        if self.watchers() >= WATCHERS_PER_MEMBER_MAX {
            return Err(OpError::TooManyWatches {
                max: WATCHERS_PER_MEMBER_MAX as u64,
            });
        }
        let (kind, name) = (watcher.kind, watcher.name.as_str());
        let feed = feeds[kind_slot(kind)]
            .entry(name.to_owned())
            .or_insert_with(|| {
                let state = machine.observe(kind, name);
                let bytes = self.feed_bytes.clone();
                Arc::new(Feed::new((kind, name), state, position, bytes))
            })
            .clone();
        let newest = {
            // Released before the watcher's state is taken: `take` locks
            // that first, then the feed's.
            let mut inner = lock(&feed.inner);
            let (id, wake) = &watcher.connection;
            inner
                .connections
                .entry(*id)
                .or_insert_with(|| (wake.clone(), 0))
                .1 += 1;
            inner.last.clone()
        };
        // The feed's newest state is the object's state now; a watch that
        // begins after a destroy sees the fresh object, as a read would.
        let now = match *newest.state == ObjectState::Destroyed {
            true => Kept::new(position, machine.observe(kind, name), false),
            false => newest,
        };
        let mut state = lock(&watcher.state);
        state.cursor = position;
        state.first = match after {
            // The client has seen this position already: nothing since.
            Some(after) if after >= position => None,
            // A resumed watch cannot tell what happened since `after`.
            after => Some(Kept {
                position,
                jump: after.is_some(),
                ..now
            }),
        };
        state.feed = Some(feed);
        drop(state);
        self.watchers.fetch_add(1, Ordering::Relaxed);
        watcher.connection.1.notify_one();
        Ok(())
    }

    /// Removes `watcher` (cancelled first); a feed nobody watches any more
    /// is dropped.
    pub fn remove(&self, watcher: &Arc<Watcher>) {
        watcher.cancelled.store(true, Ordering::Release);
        let mut feeds = lock(&self.feeds);
        let Some(feed) = ({
            let mut state = lock(&watcher.state);
            state.first = None;
            state.feed.take()
        }) else {
            return; // Never added.
        };
        self.watchers.fetch_sub(1, Ordering::Relaxed);
        let unwatched = {
            let mut inner = lock(&feed.inner);
            let id = watcher.connection.0;
            if let Some((_, count)) = inner.connections.get_mut(&id) {
                *count -= 1;
                if *count == 0 {
                    inner.connections.remove(&id);
                }
            }
            inner.connections.is_empty()
        };
        if unwatched {
            feeds[kind_slot(watcher.kind)].remove(&watcher.name);
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
        let feeds = lock(&self.feeds);
        for map in feeds.iter() {
            for feed in map.values() {
                // Always, same state or not: it may have changed and
                // changed back in the entries the snapshot stands for.
                let state = machine.observe(feed.kind, &feed.name);
                feed.append(state, position, true);
            }
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
    One { feed: Arc<Feed>, destroy: bool },
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
            } => {
                let feeds = lock(&self.watches.feeds);
                let feed = feeds[kind_slot(kind)].get(name)?.clone();
                Some(Noted::One { feed, destroy })
            }
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
        match noted {
            Noted::One { feed, destroy } => feed.look_after_command(machine, position, destroy),
            Noted::Several => {
                let feeds = lock(&self.watches.feeds);
                for (kind, name) in changed {
                    if let Some(feed) = feeds[kind_slot(*kind)].get(name) {
                        feed.look_after_command(machine, position, false);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::WATCH_FEED_BYTES_PER_OBJECT_MAX;
    use raftcp_proto::Value;
    use raftcp_proto::limits::CHANGES_KEPT_PER_WATCHED_OBJECT;

    /// The kind of each slot of [`kind_slot`].
    const SLOT_KINDS: [ObjectKind; 5] = [
        ObjectKind::AtomicLong,
        ObjectKind::AtomicReference,
        ObjectKind::FencedLock,
        ObjectKind::Semaphore,
        ObjectKind::CountDownLatch,
    ];

    #[test]
    fn each_slot_names_its_kind() {
        for (slot, kind) in SLOT_KINDS.iter().enumerate() {
            assert_eq!(kind_slot(*kind), slot);
        }
    }

    fn fed(watches: &Watches) -> (Arc<Feed>, Arc<Watcher>) {
        let feed = Arc::new(Feed::new(
            (ObjectKind::AtomicLong, "n"),
            ObjectState::Long(0),
            10,
            watches.feed_bytes.clone(),
        ));
        let wake = Arc::new(Notify::new());
        let watcher = watches.watcher(WatchId(1), (ObjectKind::AtomicLong, "n"), (1, wake));
        let mut state = lock(&watcher.state);
        state.feed = Some(feed.clone());
        state.cursor = 10;
        drop(state);
        (feed, watcher)
    }

    #[test]
    fn a_watcher_takes_each_change_once_in_order() {
        let watches = Watches::default();
        let (feed, watcher) = fed(&watches);
        feed.append(ObjectState::Long(1), 11, false);
        feed.append(ObjectState::Long(1), 12, false); // No change: not kept.
        feed.append(ObjectState::Long(2), 13, false);
        let taken: Vec<(u64, bool)> = std::iter::from_fn(|| watcher.take())
            .map(|c| (c.position, c.jump))
            .collect();
        assert_eq!(taken, [(11, false), (13, false)]);
    }

    #[test]
    fn a_watcher_that_falls_behind_gets_the_newest_state_marked_jump() {
        let watches = Watches::default();
        let (feed, watcher) = fed(&watches);
        let kept = CHANGES_KEPT_PER_WATCHED_OBJECT as u64;
        for n in 1..=kept + 5 {
            feed.append(ObjectState::Long(n as i64), 10 + n, false);
        }
        let only = watcher.take().expect("a change");
        assert!(only.jump);
        assert_eq!(only.state, ObjectState::Long(kept as i64 + 5));
        assert!(watcher.take().is_none());
        // Once caught up, changes come one by one again.
        feed.append(ObjectState::Long(0), 10_000, false);
        let next = watcher.take().expect("a change");
        assert_eq!((next.position, next.jump), (10_000, false));
        assert!(lock(&feed.inner).changes.len() <= CHANGES_KEPT_PER_WATCHED_OBJECT);
    }

    #[test]
    fn feeds_count_their_bytes_and_give_them_back() {
        let watches = Watches::default();
        let (feed, watcher) = fed(&watches);
        for n in 1..=10 {
            feed.append(ObjectState::Long(n), 10 + n as u64, false);
        }
        assert!(watches.feed_bytes.load(Ordering::Relaxed) > 0);
        drop(watcher);
        drop(feed);
        assert_eq!(watches.feed_bytes.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_state_over_the_bounds_is_kept_and_a_caught_up_watcher_gets_no_jump() {
        let watches = Watches::default();
        let (feed, watcher) = fed(&watches);
        let big = |byte| {
            let bytes = vec![byte; WATCH_FEED_BYTES_PER_OBJECT_MAX + 1];
            ObjectState::Reference(Some(Value::Bytes(bytes)))
        };
        for n in 1..=3u8 {
            feed.append(big(n), 10 + u64::from(n), false);
            let change = watcher.take().expect("the change");
            assert_eq!((change.position, change.jump), (10 + u64::from(n), false));
        }
        assert_eq!(lock(&feed.inner).changes.len(), 1, "only the newest kept");
    }

    #[test]
    fn a_snapshot_marks_a_jump_even_when_the_state_looks_the_same() {
        let watches = Watches::default();
        let (feed, watcher) = fed(&watches);
        feed.append(ObjectState::Long(0), 20, true);
        let change = watcher.take().expect("a change");
        assert!(change.jump);
        assert_eq!(change.position, 20);
    }
}
