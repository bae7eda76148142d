//! The FIFO queue of an object's waiters, one type for the lock, the
//! semaphore and the latch: bounded by `WAITERS_PER_OBJECT_MAX`, searched
//! by `(session, request)` for cancels, timeouts and ended sessions. How a
//! waiter is granted stays with its primitive. Encoded as the sequence it
//! wraps, so snapshots read the same.

use raftcp_proto::limits::WAITERS_PER_OBJECT_MAX;
use raftcp_proto::{OpError, RequestId, SessionId};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::ops::Deref;

/// A queued request: which session's request it is.
pub trait Waiter {
    fn session(&self) -> SessionId;
    fn request(&self) -> RequestId;
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WaitQueue<W>(VecDeque<W>);

impl<W> Default for WaitQueue<W> {
    fn default() -> Self {
        WaitQueue(VecDeque::new())
    }
}

impl<W: Waiter> WaitQueue<W> {
    /// Queues `waiter` behind the others, unless object `name` already has
    /// as many waiters as it may.
    pub fn push(&mut self, name: &str, waiter: W) -> Result<(), OpError> {
        if self.0.len() >= WAITERS_PER_OBJECT_MAX {
            return Err(OpError::TooManyWaiters {
                name: name.to_owned(),
                max: WAITERS_PER_OBJECT_MAX as u64,
            });
        }
        self.0.push_back(waiter);
        Ok(())
    }

    /// Takes out the waiter of `session`'s `request`; true if it was queued.
    pub fn remove_request(&mut self, session: SessionId, request: RequestId) -> bool {
        let position = self
            .0
            .iter()
            .position(|w| w.session() == session && w.request() == request);
        position.map(|at| self.0.remove(at)).is_some()
    }

    /// Every queued `(session, request)`, in order.
    pub fn keys(&self) -> impl Iterator<Item = (SessionId, RequestId)> + '_ {
        self.0.iter().map(|w| (w.session(), w.request()))
    }
}

/// Reads as the queue it wraps (length, order, head); changes go through
/// the methods above, so nothing queues past the bound.
impl<W> Deref for WaitQueue<W> {
    type Target = VecDeque<W>;

    fn deref(&self) -> &VecDeque<W> {
        &self.0
    }
}

impl<W> WaitQueue<W> {
    /// Takes the head waiter (to grant it).
    pub fn pop_front(&mut self) -> Option<W> {
        self.0.pop_front()
    }

    /// Takes every waiter, in order (to release them all).
    pub fn drain(&mut self) -> impl Iterator<Item = W> + '_ {
        self.0.drain(..)
    }

    /// Keeps, in order, the waiters `keep` says to keep; it sees each once.
    pub fn retain_mut(&mut self, keep: impl FnMut(&mut W) -> bool) {
        self.0.retain_mut(keep);
    }
}
