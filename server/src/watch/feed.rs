//! One watched object's feed: its recent changes, newest last, each
//! state kept once and shared by every watcher of the object on this
//! member; bounded per object and per member (the oldest go first, never
//! the newest), so a cursor that needed a dropped change gets the newest
//! state instead, marked `jump`.

use crate::limits::{WATCH_FEED_BYTES_PER_MEMBER_MAX, WATCH_FEED_BYTES_PER_OBJECT_MAX};
use crate::machine::{Machine, same_state};
use crate::sync::lock;
use raftcp_proto::limits::CHANGES_KEPT_PER_WATCHED_OBJECT;
use raftcp_proto::{Change, ObjectKind, ObjectState, Value, WatchId};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// One watched object's recent changes.
#[derive(Debug)]
pub struct Feed {
    pub(super) kind: ObjectKind,
    pub(super) name: String,
    pub(super) inner: Mutex<FeedInner>,
    /// Bytes of changes kept by every feed of the member.
    member_bytes: Arc<AtomicUsize>,
}

#[derive(Debug)]
pub(super) struct FeedInner {
    /// Recent changes, positions rising.
    pub(super) changes: VecDeque<Kept>,
    pub(super) bytes: usize,
    /// The newest state, and where it was reached (it stays when the
    /// changes are dropped).
    pub(super) last: Kept,
    /// The newest position whose change was dropped: a cursor before it
    /// has missed changes.
    pub(super) dropped_through: u64,
    /// The connections watching, each woken on a change, with how many
    /// of their watches watch this object.
    pub(super) connections: HashMap<u64, (Arc<Notify>, usize)>,
}

/// A change as a feed keeps it.
#[derive(Clone, Debug)]
pub(super) struct Kept {
    pub(super) position: u64,
    pub(super) state: Arc<ObjectState>,
    /// It summarizes changes not applied here (a snapshot replaced them).
    pub(super) jump: bool,
    pub(super) bytes: usize,
}

impl Feed {
    pub(super) fn new(
        target: (ObjectKind, &str),
        state: ObjectState,
        position: u64,
        member_bytes: Arc<AtomicUsize>,
    ) -> Self {
        let last = Kept::new(position, state, false);
        Feed {
            kind: target.0,
            name: target.1.to_owned(),
            inner: Mutex::new(FeedInner {
                changes: VecDeque::new(),
                bytes: 0,
                last,
                dropped_through: position,
                connections: HashMap::new(),
            }),
            member_bytes,
        }
    }

    /// Appends the object's state at `position` after a command that
    /// named it (`destroy`: to destroy it), if what a watcher sees changed.
    /// An object that is gone shows as `Destroyed` where a destroy took
    /// it, and stays so until it is used again; destroying an object in
    /// its fresh state changes nothing.
    pub(super) fn look_after_command(&self, machine: &Machine, position: u64, destroy: bool) {
        let (kind, name) = (self.kind, self.name.as_str());
        let state = machine.observe(kind, name);
        if machine.exists(kind, name) {
            return self.append(state, position, false);
        }
        let (destroyed, fresh) = {
            let inner = lock(&self.inner);
            let last = &inner.last.state;
            (**last == ObjectState::Destroyed, same_state(&state, last))
        };
        match (destroy, destroyed) {
            (_, true) => {}
            (true, false) if fresh => {}
            (true, false) => self.append(ObjectState::Destroyed, position, false),
            // Gone without a destroy: back in its fresh state.
            (false, false) => self.append(state, position, false),
        }
    }

    /// Appends `state` at `position` (unless it is no change, for one
    /// that is not a `jump`), and wakes the connections watching.
    pub(super) fn append(&self, state: ObjectState, position: u64, jump: bool) {
        let mut inner = lock(&self.inner);
        if !jump && same_state(&state, &inner.last.state) {
            return;
        }
        let kept = Kept::new(position, state, jump);
        inner.last = kept.clone();
        inner.bytes += kept.bytes;
        self.member_bytes.fetch_add(kept.bytes, Ordering::Relaxed);
        inner.changes.push_back(kept);
        // Past a bound the oldest go (never the newest): a cursor that
        // needed them gets a jump.
        while inner.changes.len() > 1
            && (inner.changes.len() > CHANGES_KEPT_PER_WATCHED_OBJECT
                || inner.bytes > WATCH_FEED_BYTES_PER_OBJECT_MAX
                || self.member_bytes.load(Ordering::Relaxed) > WATCH_FEED_BYTES_PER_MEMBER_MAX)
        {
            let Some(oldest) = inner.changes.pop_front() else {
                break;
            };
            inner.bytes -= oldest.bytes;
            self.member_bytes.fetch_sub(oldest.bytes, Ordering::Relaxed);
            inner.dropped_through = oldest.position;
        }
        for (wake, _) in inner.connections.values() {
            wake.notify_one();
        }
    }

    /// The change after `cursor`.
    pub(super) fn next_after(&self, cursor: u64) -> Option<Kept> {
        let inner = lock(&self.inner);
        if inner.last.position <= cursor {
            return None;
        }
        match cursor < inner.dropped_through {
            // Changes it needed are gone: the newest state, as a jump.
            true => Some(Kept {
                jump: true,
                ..inner.last.clone()
            }),
            false => {
                let next = inner
                    .changes
                    .partition_point(|kept| kept.position <= cursor);
                inner.changes.get(next).cloned()
            }
        }
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        let bytes = lock(&self.inner).bytes;
        self.member_bytes.fetch_sub(bytes, Ordering::Relaxed);
    }
}

impl Kept {
    pub(super) fn new(position: u64, state: ObjectState, jump: bool) -> Self {
        let bytes = state_bytes(&state);
        Kept {
            position,
            state: Arc::new(state),
            jump,
            bytes,
        }
    }

    pub(super) fn change(self, watch: WatchId) -> Change {
        Change {
            watch,
            position: self.position,
            state: (*self.state).clone(),
            jump: self.jump,
        }
    }
}

/// About what a kept state takes in memory (a value's nodes at their
/// in-memory size); more than it takes on the wire.
pub fn state_bytes(state: &ObjectState) -> usize {
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
    std::mem::size_of::<Kept>() + std::mem::size_of::<ObjectState>() + value
}
