//! The client's watches. Each is sent again on every new session with the
//! position of the last change delivered, so the server can say whether
//! anything may have been skipped since (`jump`); a change at or before
//! that position (the overlap of a resend) is dropped, so each change is
//! delivered once and positions only increase.

use raftcp_proto::{Change, GroupName, ObjectKind, WatchId, WatchRequest};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Default)]
pub(super) struct Watches {
    next: u64,
    active: BTreeMap<WatchId, WatchRequest>,
    /// Refused for a reason that may pass (no leader in time): sent again
    /// at the next tick.
    retry: BTreeSet<WatchId>,
}

impl Watches {
    pub fn add(&mut self, group: GroupName, kind: ObjectKind, name: String) -> &WatchRequest {
        self.next += 1;
        let watch = WatchId(self.next);
        let request = WatchRequest {
            watch,
            group,
            kind,
            name,
            after: None,
        };
        self.active.entry(watch).or_insert(request)
    }

    /// Forgets `watch`; whether it was active.
    pub fn remove(&mut self, watch: WatchId) -> bool {
        self.retry.remove(&watch);
        self.active.remove(&watch).is_some()
    }

    /// Every active watch, as a new session sends them.
    pub fn all(&self) -> impl Iterator<Item = &WatchRequest> {
        self.active.values()
    }

    /// Whether `change` is new (then it is remembered as the last one).
    pub fn accept(&mut self, change: &Change) -> bool {
        let Some(request) = self.active.get_mut(&change.watch) else {
            return false;
        };
        if request.after.is_some_and(|after| change.position <= after) {
            return false;
        }
        request.after = Some(change.position);
        true
    }

    pub fn retry_later(&mut self, watch: WatchId) {
        if self.active.contains_key(&watch) {
            self.retry.insert(watch);
        }
    }

    /// The watches to send again now.
    pub fn take_retries(&mut self) -> Vec<WatchRequest> {
        let retry = std::mem::take(&mut self.retry);
        retry
            .into_iter()
            .filter_map(|watch| self.active.get(&watch).cloned())
            .collect()
    }
}
