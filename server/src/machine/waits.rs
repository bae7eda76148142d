//! The index of every waiting request: which object it waits on and until
//! when. The per-object queues hold FIFO order; this index finds a waiter by
//! `(session, request)` for cancel, by session for expiry and by deadline for
//! timeouts.

use raftcp_proto::{RequestId, SessionId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Which object a waiter is queued on.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum WaitTarget {
    Lock(String),
    Semaphore(String),
    Latch(String),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Wait {
    pub target: WaitTarget,
    /// Absolute, in machine time; `None` waits for ever.
    pub deadline_ms: Option<u64>,
}

pub type WaitKey = (SessionId, RequestId);

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Waits {
    entries: BTreeMap<WaitKey, Wait>,
    /// Derived from `entries`; rebuilt on restore.
    #[serde(skip)]
    by_deadline: BTreeSet<(u64, WaitKey)>,
}

impl PartialEq for Waits {
    fn eq(&self, other: &Self) -> bool {
        self.entries == other.entries
    }
}

impl Waits {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn get(&self, key: &WaitKey) -> Option<&Wait> {
        self.entries.get(key)
    }

    pub fn insert(&mut self, key: WaitKey, wait: Wait) {
        if let Some(deadline) = wait.deadline_ms {
            self.by_deadline.insert((deadline, key));
        }
        self.entries.insert(key, wait);
    }

    pub fn remove(&mut self, key: &WaitKey) -> Option<Wait> {
        let wait = self.entries.remove(key)?;
        if let Some(deadline) = wait.deadline_ms {
            self.by_deadline.remove(&(deadline, *key));
        }
        Some(wait)
    }

    /// Waiters whose deadline is at or before `now_ms`, earliest first.
    pub fn due(&self, now_ms: u64) -> Vec<WaitKey> {
        let end = (now_ms, (SessionId(u64::MAX), RequestId(u64::MAX)));
        self.by_deadline
            .range(..=end)
            .map(|(_, key)| *key)
            .collect()
    }

    /// Every waiter of `session`.
    pub fn of_session(&self, session: SessionId) -> Vec<WaitKey> {
        let range = (session, RequestId(0))..=(session, RequestId(u64::MAX));
        self.entries.range(range).map(|(key, _)| *key).collect()
    }

    /// How many requests of `session` wait, counting up to `max` (the
    /// callers only need to know whether it is reached).
    pub fn count_of_session_up_to(&self, session: SessionId, max: usize) -> usize {
        let range = (session, RequestId(0))..=(session, RequestId(u64::MAX));
        self.entries.range(range).take(max).count()
    }

    pub fn next_deadline_ms(&self) -> Option<u64> {
        self.by_deadline.first().map(|(at, _)| *at)
    }

    pub fn rebuild_index(&mut self) {
        self.by_deadline = self
            .entries
            .iter()
            .filter_map(|(key, wait)| wait.deadline_ms.map(|deadline| (deadline, *key)))
            .collect();
    }
}
