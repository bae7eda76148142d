//! FencedLock: one holder (a handle), reentrant up to a per-request limit,
//! FIFO waiters. The fence of a grant is the log position of the granting
//! command (`raft index × POSITIONS_PER_ENTRY + place`).

use super::owner::{Grant, Owner};
use super::wait_queue::{WaitQueue, Waiter};
use raftcp_proto::{Fence, OpError, RequestId, SessionId};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Lock {
    pub holder: Option<Holder>,
    pub queue: WaitQueue<LockWaiter>,
    /// The fence of the latest grant; new grants must exceed it.
    pub last_fence: Fence,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Holder {
    pub owner: Owner,
    pub count: u32,
    pub fence: Fence,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LockWaiter {
    pub owner: Owner,
    pub request: RequestId,
    pub reentrancy_limit: u32,
}

impl Waiter for LockWaiter {
    fn session(&self) -> SessionId {
        self.owner.session
    }

    fn request(&self) -> RequestId {
        self.request
    }
}

/// What a lock request did.
#[derive(Debug, PartialEq)]
pub enum LockAttempt {
    Acquired(Fence),
    /// The lock is held elsewhere and the caller does not wait.
    NotAcquired,
    Queued,
    Refused(OpError),
}

/// How grants pick their fence: a new one, larger than every fence before
/// it; or, in a replica with the planted bug `fence-not-advanced` (the
/// fault campaign's negative control, `crate::faults`), the last one again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fences {
    Advancing,
    ReusedPlanted,
}

impl Lock {
    /// `lock` / `try_lock`: re-enter, acquire, queue or give up.
    pub fn lock(
        &mut self,
        name: &str,
        waiter: LockWaiter,
        waits: bool,
        index: u64,
        fences: Fences,
    ) -> LockAttempt {
        match &mut self.holder {
            Some(holder) if holder.owner == waiter.owner => {
                let limit = effective_limit(waiter.reentrancy_limit);
                if holder.count >= limit {
                    return if waits {
                        LockAttempt::Refused(OpError::LockAcquireLimitReached {
                            name: name.to_owned(),
                            limit,
                        })
                    } else {
                        LockAttempt::NotAcquired
                    };
                }
                holder.count += 1;
                LockAttempt::Acquired(holder.fence)
            }
            Some(_) if !waits => LockAttempt::NotAcquired,
            Some(_) => match self.queue.push(name, waiter) {
                Ok(()) => LockAttempt::Queued,
                Err(refused) => LockAttempt::Refused(refused),
            },
            None => LockAttempt::Acquired(self.grant(waiter.owner, index, fences)),
        }
    }

    /// Leaves one level of reentrancy; hands the lock on when it is free.
    pub fn unlock(
        &mut self,
        name: &str,
        owner: Owner,
        index: u64,
        fences: Fences,
    ) -> Result<Vec<Grant<Fence>>, OpError> {
        match &mut self.holder {
            Some(holder) if holder.owner == owner => {
                holder.count -= 1;
                if holder.count > 0 {
                    return Ok(Vec::new());
                }
                self.holder = None;
                Ok(self.grant_next(index, fences))
            }
            _ => Err(OpError::NotOwner {
                kind: "lock".into(),
                name: name.to_owned(),
            }),
        }
    }

    /// Drops every hold of `session` (its session ended) and hands on.
    pub fn release_session(
        &mut self,
        session: SessionId,
        index: u64,
        fences: Fences,
    ) -> Vec<Grant<Fence>> {
        match &self.holder {
            Some(holder) if holder.owner.session == session => {
                self.holder = None;
                self.grant_next(index, fences)
            }
            _ => Vec::new(),
        }
    }

    /// Free with nobody waiting: a never-used lock looks the same (the
    /// last fence is not observable, and fences come from log positions).
    pub fn is_idle(&self) -> bool {
        self.holder.is_none() && self.queue.is_empty()
    }

    pub fn held_by(&self, owner: Owner) -> Option<&Holder> {
        self.holder.as_ref().filter(|holder| holder.owner == owner)
    }

    fn grant(&mut self, owner: Owner, index: u64, fences: Fences) -> Fence {
        if fences == Fences::ReusedPlanted && self.last_fence > Fence::INVALID {
            self.holder = Some(Holder {
                owner,
                count: 1,
                fence: self.last_fence,
            });
            return self.last_fence;
        }
        let fence = Fence(index);
        assert!(
            fence > self.last_fence,
            "fence {fence} must exceed {}",
            self.last_fence
        );
        self.last_fence = fence;
        self.holder = Some(Holder {
            owner,
            count: 1,
            fence,
        });
        fence
    }

    /// Grants the head waiter, then lets the new holder's other queued
    /// requests re-enter (a handle never deadlocks on itself).
    fn grant_next(&mut self, index: u64, fences: Fences) -> Vec<Grant<Fence>> {
        let Some(head) = self.queue.pop_front() else {
            return Vec::new();
        };
        let fence = self.grant(head.owner, index, fences);
        let mut grants = vec![Grant {
            session: head.owner.session,
            request: head.request,
            reply: fence,
        }];
        let holder = self.holder.as_mut().expect("granted above");
        self.queue.retain_mut(|waiter| {
            let within_limit = holder.count < effective_limit(waiter.reentrancy_limit);
            let reenters = waiter.owner == holder.owner && within_limit;
            if reenters {
                holder.count += 1;
                grants.push(Grant {
                    session: waiter.owner.session,
                    request: waiter.request,
                    reply: fence,
                });
            }
            !reenters
        });
        grants
    }
}

/// The most times a handle may hold a lock: its own limit, or (0, "no
/// limit") as many as the count can record, so it never overflows.
fn effective_limit(reentrancy_limit: u32) -> u32 {
    match reentrancy_limit {
        0 => u32::MAX,
        limit => limit,
    }
}
