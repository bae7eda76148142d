//! Semaphore with session-aware permits and strictly FIFO waiters: a request
//! is granted only when every request queued before it was, so a large
//! acquire is never starved by a stream of small ones. Available permits
//! never go below zero, and the permits of a semaphore (available plus
//! held) never exceed `u32::MAX`, so no count it keeps can overflow: an
//! increase past that is refused.

use super::owner::{Grant, Owner};
use super::wait_queue::{WaitQueue, Waiter};
use raftcp_proto::{OpError, RequestId, SessionId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Most permits one semaphore has in all (available plus held): every count
/// it keeps is a `u32`.
pub const PERMITS_MAX: u64 = u32::MAX as u64;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Semaphore {
    pub initialized: bool,
    pub available: u32,
    /// Permits held per handle; never zero entries.
    pub held: BTreeMap<Owner, u32>,
    pub queue: WaitQueue<SemaphoreWaiter>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SemaphoreWaiter {
    pub owner: Owner,
    pub request: RequestId,
    pub permits: u32,
}

impl Waiter for SemaphoreWaiter {
    fn session(&self) -> SessionId {
        self.owner.session
    }

    fn request(&self) -> RequestId {
        self.request
    }
}

#[derive(Debug, PartialEq)]
pub enum AcquireAttempt {
    Acquired,
    NotAcquired,
    Queued,
    Refused(OpError),
}

impl Semaphore {
    /// Sets the permits once (later calls return false) and grants waiters
    /// that queued before.
    pub fn init(&mut self, permits: u32) -> (bool, Vec<Grant<()>>) {
        if self.initialized {
            return (false, Vec::new());
        }
        self.initialized = true;
        self.available = permits;
        (true, self.grant_waiters())
    }

    pub fn acquire(&mut self, name: &str, waiter: SemaphoreWaiter, waits: bool) -> AcquireAttempt {
        if self.queue.is_empty() && self.available >= waiter.permits {
            self.take(waiter.owner, waiter.permits);
            AcquireAttempt::Acquired
        } else if !waits {
            AcquireAttempt::NotAcquired
        } else {
            match self.queue.push(name, waiter) {
                Ok(()) => AcquireAttempt::Queued,
                Err(refused) => AcquireAttempt::Refused(refused),
            }
        }
    }

    /// Never initialized, no permits anywhere, nobody waiting: a
    /// never-used semaphore looks the same. One that was initialized is
    /// kept (a later `init` would answer differently).
    pub fn is_idle(&self) -> bool {
        !self.initialized && self.available == 0 && self.held.is_empty() && self.queue.is_empty()
    }

    /// Returns permits the handle holds, then grants waiters that now fit.
    pub fn release(
        &mut self,
        name: &str,
        owner: Owner,
        permits: u32,
    ) -> Result<Vec<Grant<()>>, OpError> {
        let held = self.held.get(&owner).copied().unwrap_or(0);
        if held == 0 {
            return Err(OpError::NotOwner {
                kind: "semaphore".into(),
                name: name.to_owned(),
            });
        }
        if held < permits {
            return Err(OpError::NotEnoughPermits {
                name: name.to_owned(),
                held,
                requested: permits,
            });
        }
        self.give_back(owner, permits);
        Ok(self.grant_waiters())
    }

    /// Acquires every available permit for `owner`; returns how many.
    pub fn drain(&mut self, owner: Owner) -> u32 {
        let drained = self.available;
        if drained > 0 {
            self.take(owner, drained);
        }
        drained
    }

    pub fn reduce(&mut self, permits: u32) {
        self.initialized = true;
        self.available = self.available.saturating_sub(permits);
    }

    pub fn increase(&mut self, name: &str, permits: u32) -> Result<Vec<Grant<()>>, OpError> {
        let total = self.total_permits() + u64::from(permits);
        if total > PERMITS_MAX {
            return Err(OpError::InvalidArgument {
                reason: format!(
                    "semaphore \"{name}\" would have {total} permits: at most {PERMITS_MAX} allowed"
                ),
            });
        }
        self.initialized = true;
        self.available += permits;
        Ok(self.grant_waiters())
    }

    /// Available plus held permits; at most [`PERMITS_MAX`].
    pub fn total_permits(&self) -> u64 {
        let held: u64 = self.held.values().map(|&permits| u64::from(permits)).sum();
        u64::from(self.available) + held
    }

    /// Returns everything the session's handles hold (its session ended).
    pub fn release_session(&mut self, session: SessionId) -> Vec<Grant<()>> {
        let owners: Vec<Owner> = self
            .held
            .keys()
            .filter(|owner| owner.session == session)
            .copied()
            .collect();
        for owner in owners {
            let permits = self.held[&owner];
            self.give_back(owner, permits);
        }
        self.grant_waiters()
    }

    /// Grants queued requests in order while the head fits.
    pub fn grant_waiters(&mut self) -> Vec<Grant<()>> {
        let mut grants = Vec::new();
        while let Some(head) = self.queue.front() {
            if head.permits > self.available {
                break;
            }
            let Some(head) = self.queue.pop_front() else {
                break;
            };
            self.take(head.owner, head.permits);
            grants.push(Grant {
                session: head.owner.session,
                request: head.request,
                reply: (),
            });
        }
        grants
    }

    pub fn held_by_session(&self, session: SessionId) -> bool {
        self.held.keys().any(|owner| owner.session == session)
    }

    /// Moves permits from available to `owner`. Neither step can overflow:
    /// callers take at most what is available, and the total fits a `u32`.
    fn take(&mut self, owner: Owner, permits: u32) {
        self.available -= permits;
        *self.held.entry(owner).or_insert(0) += permits;
    }

    /// Moves permits `owner` holds back to available (the total is unchanged).
    fn give_back(&mut self, owner: Owner, permits: u32) {
        self.available += permits;
        if let Some(held) = self.held.get_mut(&owner) {
            *held -= permits;
            if *held == 0 {
                self.held.remove(&owner);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use raftcp_proto::HandleId;

    fn waiter(permits: u32) -> SemaphoreWaiter {
        SemaphoreWaiter {
            owner: Owner {
                session: SessionId(1),
                handle: HandleId(1),
            },
            request: RequestId(1),
            permits,
        }
    }

    #[test]
    fn permits_past_u32_max_are_refused_and_change_nothing() {
        // increase(MAX), acquire(MAX), increase(1), acquire(1) once wrapped
        // the handle's held count to zero.
        let mut semaphore = Semaphore::default();
        assert!(semaphore.increase("S", u32::MAX).is_ok());
        let acquired = semaphore.acquire("S", waiter(u32::MAX), true);
        assert_eq!(acquired, AcquireAttempt::Acquired);
        let before = semaphore.clone();
        let refused = semaphore.increase("S", 1);
        assert!(
            matches!(&refused, Err(OpError::InvalidArgument { reason }) if reason.contains("4294967296 permits")),
            "{refused:?}"
        );
        assert_eq!(semaphore, before);
        assert_eq!(semaphore.total_permits(), PERMITS_MAX);
        assert_eq!(
            semaphore.acquire("S", waiter(1), false),
            AcquireAttempt::NotAcquired
        );
    }
}
