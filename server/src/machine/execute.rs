//! Client requests: deduplication, then the operation itself.

use super::Machine;
use super::command::{Completion, Effect, Outcome};
use super::destroy::Kind;
use super::latch::{AwaitAttempt, LatchWaiter};
use super::lock::{LockAttempt, LockWaiter};
use super::objects::get_or_create;
use super::owner::{Grant, Owner};
use super::semaphore::{AcquireAttempt, SemaphoreWaiter};
use super::sessions::Acknowledged;
use super::validate::{validate_acknowledged, validate_op};
use super::waits::{Wait, WaitTarget};
use crate::faults::PlantedBug;
use raftcp_proto::limits::{
    OBJECTS_MAX, UNACKNOWLEDGED_RESPONSES_MAX, WAITING_REQUESTS_PER_SESSION_MAX,
};
use raftcp_proto::{
    Fence, LatchOp, LockOp, LongOp, Op, OpError, RefOp, Reply, RequestId, SemaphoreOp, SessionId,
    Value,
};

type Effects = Vec<Effect>;

impl Machine {
    /// Exactly-once wrapper: a request id seen before answers from the cache.
    pub(super) fn client_request(
        &mut self,
        index: u64,
        session_id: SessionId,
        request: RequestId,
        acknowledged: Acknowledged<'_>,
        op: Op,
        effects: &mut Effects,
    ) -> Outcome {
        if let Err(error) = validate_acknowledged(acknowledged) {
            return Outcome::Done(Err(error));
        }
        let planted_no_dedup = self.planted(PlantedBug::NoRetryDedup);
        // Any request from a session keeps it alive.
        let Some(session) = self.sessions.touch(session_id, self.now_ms) else {
            return Outcome::Done(Err(OpError::SessionExpired {
                session: session_id,
            }));
        };
        let before = session.responses.bytes();
        session.acknowledge(acknowledged);
        let after = session.responses.bytes();
        self.usage.responses = self.usage.responses.saturating_sub(before) + after;
        let awaited = match session.responses.get(&request) {
            // Acknowledged around before it was applied: it runs now,
            // although its id is below the watermark.
            Some(Outcome::Awaited) => true,
            Some(cached) if !planted_no_dedup => return cached.clone(),
            _ if request < session.acked_below => {
                let acked_below = session.acked_below;
                return Outcome::Done(Err(OpError::RequestAcknowledged {
                    request,
                    acked_below,
                }));
            }
            _ => false,
        };
        if !op.is_mutating() {
            return Outcome::Done(self.query(session_id, &op));
        }
        if !awaited && session.responses.len() >= UNACKNOWLEDGED_RESPONSES_MAX {
            return Outcome::Done(Err(OpError::TooManyUnacknowledged {
                session: session_id,
                max: UNACKNOWLEDGED_RESPONSES_MAX as u64,
            }));
        }
        let outcome = match validate_op(&op) {
            Ok(()) if op.may_wait() && self.waiting_requests_full(session_id) => {
                Outcome::Done(Err(OpError::TooManyWaitingRequests {
                    session: session_id,
                    max: WAITING_REQUESTS_PER_SESSION_MAX as u64,
                }))
            }
            Ok(()) => self.execute(index, session_id, request, op, effects),
            Err(error) => Outcome::Done(Err(error)),
        };
        self.cache(session_id, request, outcome.clone());
        outcome
    }

    /// Caches `outcome` as the answer to `request` of `session`: inserted,
    /// or (`replace_only`) replacing a cached one.
    fn cache_outcome(
        &mut self,
        session: SessionId,
        request: RequestId,
        outcome: Outcome,
        replace_only: bool,
    ) {
        let Some(session) = self.sessions.get_mut(session) else {
            return;
        };
        let before = session.responses.bytes();
        match replace_only {
            false => session.responses.insert(request, outcome),
            true => session.responses.update(request, outcome),
        }
        let after = session.responses.bytes();
        self.usage.responses = self.usage.responses.saturating_sub(before) + after;
    }

    fn cache(&mut self, session: SessionId, request: RequestId, outcome: Outcome) {
        self.cache_outcome(session, request, outcome, false);
    }

    /// Carries out a valid mutation, then drops its object if that left it
    /// in its never-used state.
    pub(super) fn execute(
        &mut self,
        index: u64,
        session: SessionId,
        request: RequestId,
        op: Op,
        effects: &mut Effects,
    ) -> Outcome {
        let kind = Kind::of(&op);
        // Owned once: `op` moves into the step, the name outlives it.
        let name = op.name().to_owned();
        // A lease opens or ends a session, which measures the object itself.
        let leased = match &op {
            Op::Lock { op, .. } => self.lock_lease_op(index, &name, op, effects),
            Op::Semaphore { op, .. } => self.semaphore_lease_op(index, &name, op, effects),
            _ => None,
        };
        if let Some(result) = leased {
            return Outcome::Done(result);
        }
        self.measuring(kind, &name, |machine| {
            let outcome = match op.is_destroy() {
                true => {
                    let by = match &op {
                        Op::Lock { handle, .. } | Op::Semaphore { handle, .. } => Some(Owner {
                            session,
                            handle: *handle,
                        }),
                        _ => None,
                    };
                    Outcome::Done(Ok(machine.destroy(index, kind, &name, by, effects)))
                }
                false => machine.mutate(index, session, request, op, effects),
            };
            machine.drop_if_idle(kind, &name);
            outcome
        })
    }

    fn mutate(
        &mut self,
        index: u64,
        session: SessionId,
        request: RequestId,
        op: Op,
        effects: &mut Effects,
    ) -> Outcome {
        let result = match op {
            Op::AtomicLong { name, op } => self.long_op(&name, op),
            Op::AtomicReference { name, op } => self.reference_op(&name, op),
            Op::Lock { name, handle, op } => {
                let owner = Owner { session, handle };
                return self.lock_op(index, &name, owner, request, op, effects);
            }
            Op::Semaphore { name, handle, op } => {
                let owner = Owner { session, handle };
                return self.semaphore_op(&name, owner, request, op, effects);
            }
            Op::Latch { name, op } => return self.latch_op(&name, session, request, op, effects),
        };
        Outcome::Done(result)
    }

    fn long_op(&mut self, name: &str, op: LongOp) -> Result<Reply, OpError> {
        let total = self.objects.len();
        let value = get_or_create(&mut self.objects.longs, name, total)?;
        Ok(match op {
            LongOp::Get => Reply::Long(*value),
            LongOp::Set(new) => {
                *value = new;
                Reply::Unit
            }
            LongOp::AddAndGet(delta) => {
                *value = value.wrapping_add(delta);
                Reply::Long(*value)
            }
            LongOp::GetAndAdd(delta) => {
                let previous = *value;
                *value = previous.wrapping_add(delta);
                Reply::Long(previous)
            }
            LongOp::CompareAndSet { expect, update } => {
                let swap = *value == expect;
                if swap {
                    *value = update;
                }
                Reply::Bool(swap)
            }
            LongOp::GetAndSet(new) => Reply::Long(std::mem::replace(value, new)),
            // Handled by `execute`; kept total.
            LongOp::Destroy => Reply::Unit,
        })
    }

    fn reference_op(&mut self, name: &str, op: RefOp) -> Result<Reply, OpError> {
        let current = self.objects.references.get(name);
        let (reply, update) = match op {
            RefOp::Get | RefOp::IsNull | RefOp::Contains(_) => {
                return self.query_reference(name, &op);
            }
            // Handled by `execute`; kept total.
            RefOp::Destroy => return Ok(Reply::Unit),
            RefOp::Set(new) => (Reply::Unit, new),
            RefOp::GetAndSet(new) => (Reply::Value(current.cloned()), new),
            RefOp::CompareAndSet { expect, update } => {
                if !same_value(current, expect.as_ref()) {
                    return Ok(Reply::Bool(false));
                }
                (Reply::Bool(true), update)
            }
        };
        match update {
            Some(value) => {
                if !self.objects.references.contains_key(name) && self.objects_full() {
                    return Err(OpError::TooManyObjects {
                        max: OBJECTS_MAX as u64,
                    });
                }
                self.objects
                    .references
                    .insert(name.to_owned(), value.canonical());
            }
            None => {
                self.objects.references.remove(name);
            }
        }
        Ok(reply)
    }

    pub(super) fn lock_op(
        &mut self,
        index: u64,
        name: &str,
        owner: Owner,
        request: RequestId,
        op: LockOp,
        effects: &mut Effects,
    ) -> Outcome {
        if matches!(op, LockOp::Lock { .. } | LockOp::Unlock)
            && let Some(error) = self.take_lost_hold(owner, Kind::Lock, name)
        {
            return Outcome::Done(Err(error));
        }
        let total = self.objects.len();
        let result = match op {
            LockOp::Lock {
                timeout_ms,
                reentrancy_limit,
            } => {
                let fences = self.fences();
                let lock = match get_or_create(&mut self.objects.locks, name, total) {
                    Ok(lock) => lock,
                    Err(error) => return Outcome::Done(Err(error)),
                };
                let waiter = LockWaiter {
                    owner,
                    request,
                    reentrancy_limit,
                };
                match lock.lock(name, waiter, timeout_ms != Some(0), index, fences) {
                    LockAttempt::Acquired(fence) => {
                        self.note_lock_held(owner.session, name);
                        Ok(Reply::Fence(Some(fence)))
                    }
                    LockAttempt::NotAcquired => Ok(Reply::Fence(None)),
                    LockAttempt::Refused(error) => Err(error),
                    LockAttempt::Queued => {
                        return self.queue(
                            owner.session,
                            request,
                            WaitTarget::Lock(name.into()),
                            timeout_ms,
                        );
                    }
                }
            }
            LockOp::Unlock => self.unlock(index, name, owner, effects),
            LockOp::IsLocked | LockOp::IsLockedByMe | LockOp::LockCount | LockOp::GetFence => {
                self.query_lock(name, owner, &op)
            }
            // Handled by `execute`; kept total.
            LockOp::Destroy => Ok(Reply::Unit),
            // Handled by `execute` (`lease_op`); kept total.
            LockOp::TryLockLeased { .. }
            | LockOp::RenewLease { .. }
            | LockOp::UnlockLeased { .. } => Err(OpError::InvalidArgument {
                reason: "a lease operation is not a holder's".into(),
            }),
        };
        Outcome::Done(result)
    }

    fn unlock(
        &mut self,
        index: u64,
        name: &str,
        owner: Owner,
        effects: &mut Effects,
    ) -> Result<Reply, OpError> {
        let not_owner = || OpError::NotOwner {
            kind: "lock".into(),
            name: name.to_owned(),
        };
        let fences = self.fences();
        let lock = self.objects.locks.get_mut(name).ok_or_else(not_owner)?;
        let grants = lock.unlock(name, owner, index, fences)?;
        let still_held = lock
            .holder
            .as_ref()
            .is_some_and(|h| h.owner.session == owner.session);
        if !still_held && let Some(session) = self.sessions.get_mut(owner.session) {
            session.locks.remove(name);
        }
        self.deliver_lock_grants(name, grants, effects);
        Ok(Reply::Unit)
    }

    pub(super) fn semaphore_op(
        &mut self,
        name: &str,
        owner: Owner,
        request: RequestId,
        op: SemaphoreOp,
        effects: &mut Effects,
    ) -> Outcome {
        if let SemaphoreOp::AvailablePermits = op {
            return Outcome::Done(self.query_semaphore(name));
        }
        let owns = matches!(
            op,
            SemaphoreOp::Acquire { .. } | SemaphoreOp::Release { .. } | SemaphoreOp::Drain
        );
        if owns && let Some(error) = self.take_lost_hold(owner, Kind::Semaphore, name) {
            return Outcome::Done(Err(error));
        }
        let total = self.objects.len();
        let semaphore = match get_or_create(&mut self.objects.semaphores, name, total) {
            Ok(semaphore) => semaphore,
            Err(error) => return Outcome::Done(Err(error)),
        };
        let result = match op {
            SemaphoreOp::Init { permits } => {
                // Waiters may have queued on the uninitialized semaphore.
                let (initialized, grants) = semaphore.init(permits);
                self.deliver_semaphore_grants(name, grants, effects);
                Ok(Reply::Bool(initialized))
            }
            SemaphoreOp::Acquire {
                permits,
                timeout_ms,
            } => {
                let waiter = SemaphoreWaiter {
                    owner,
                    request,
                    permits,
                };
                match semaphore.acquire(name, waiter, timeout_ms != Some(0)) {
                    AcquireAttempt::Acquired => {
                        self.note_permits_held(owner.session, name);
                        Ok(Reply::Bool(true))
                    }
                    AcquireAttempt::NotAcquired => Ok(Reply::Bool(false)),
                    AcquireAttempt::Refused(error) => Err(error),
                    AcquireAttempt::Queued => {
                        let target = WaitTarget::Semaphore(name.into());
                        return self.queue(owner.session, request, target, timeout_ms);
                    }
                }
            }
            SemaphoreOp::Release { permits } => match semaphore.release(name, owner, permits) {
                Ok(grants) => {
                    if !semaphore.held_by_session(owner.session)
                        && let Some(session) = self.sessions.get_mut(owner.session)
                    {
                        session.semaphores.remove(name);
                    }
                    self.deliver_semaphore_grants(name, grants, effects);
                    Ok(Reply::Unit)
                }
                Err(error) => Err(error),
            },
            SemaphoreOp::Drain => {
                let drained = semaphore.drain(owner);
                if drained > 0 {
                    self.note_permits_held(owner.session, name);
                }
                Ok(Reply::Count(drained))
            }
            SemaphoreOp::Reduce { permits } => {
                semaphore.reduce(permits);
                Ok(Reply::Unit)
            }
            SemaphoreOp::Increase { permits } => match semaphore.increase(name, permits) {
                Ok(grants) => {
                    self.deliver_semaphore_grants(name, grants, effects);
                    Ok(Reply::Unit)
                }
                Err(error) => Err(error),
            },
            // Answered above without creating the object; kept total.
            SemaphoreOp::AvailablePermits => Ok(Reply::Count(semaphore.available)),
            // Handled by `execute`; kept total.
            SemaphoreOp::Destroy => Ok(Reply::Unit),
            // Handled by `execute` (`semaphore_lease_op`); kept total.
            SemaphoreOp::TryAcquireLeased { .. }
            | SemaphoreOp::RenewLease { .. }
            | SemaphoreOp::ReleaseLeased { .. } => Err(OpError::InvalidArgument {
                reason: "a lease operation is not a holder's".into(),
            }),
        };
        Outcome::Done(result)
    }

    fn latch_op(
        &mut self,
        name: &str,
        session: SessionId,
        request: RequestId,
        op: LatchOp,
        effects: &mut Effects,
    ) -> Outcome {
        if let LatchOp::GetCount = op {
            return Outcome::Done(self.query_latch(name));
        }
        let total = self.objects.len();
        let latch = match get_or_create(&mut self.objects.latches, name, total) {
            Ok(latch) => latch,
            Err(error) => return Outcome::Done(Err(error)),
        };
        let result = match op {
            LatchOp::TrySetCount { count } => Ok(Reply::Bool(latch.try_set_count(count))),
            LatchOp::CountDown => {
                let grants = latch.count_down();
                for grant in grants {
                    self.complete(
                        grant.session,
                        grant.request,
                        Ok(Reply::Bool(grant.reply)),
                        effects,
                    );
                }
                Ok(Reply::Unit)
            }
            LatchOp::Await { timeout_ms } => {
                let waiter = LatchWaiter { session, request };
                match latch.await_zero(name, waiter, timeout_ms != Some(0)) {
                    AwaitAttempt::Open => Ok(Reply::Bool(true)),
                    AwaitAttempt::Closed => Ok(Reply::Bool(false)),
                    AwaitAttempt::Refused(error) => Err(error),
                    AwaitAttempt::Queued => {
                        return self.queue(
                            session,
                            request,
                            WaitTarget::Latch(name.into()),
                            timeout_ms,
                        );
                    }
                }
            }
            // Answered above without creating the object; kept total.
            LatchOp::GetCount => Ok(Reply::Count(latch.count)),
            // Handled by `execute`; kept total.
            LatchOp::Destroy => Ok(Reply::Unit),
        };
        Outcome::Done(result)
    }

    /// Registers a queued request in the wait index.
    fn queue(
        &mut self,
        session: SessionId,
        request: RequestId,
        target: WaitTarget,
        timeout_ms: Option<u64>,
    ) -> Outcome {
        let deadline_ms = timeout_ms.map(|timeout| self.now_ms.saturating_add(timeout));
        self.waits.insert(
            (session, request),
            Wait {
                target,
                deadline_ms,
            },
        );
        Outcome::Pending
    }

    /// Finishes a waiting request: the index forgets it, the session's cache
    /// remembers the result for retries, the driver delivers it.
    pub(super) fn complete(
        &mut self,
        session: SessionId,
        request: RequestId,
        result: Result<Reply, OpError>,
        effects: &mut Effects,
    ) {
        self.waits.remove(&(session, request));
        self.cache_outcome(session, request, Outcome::Done(result.clone()), true);
        effects.push(Effect::Completed(Completion {
            session,
            request,
            result,
        }));
    }

    pub(super) fn deliver_lock_grants(
        &mut self,
        name: &str,
        grants: Vec<Grant<Fence>>,
        effects: &mut Effects,
    ) {
        for grant in grants {
            self.note_lock_held(grant.session, name);
            self.complete(
                grant.session,
                grant.request,
                Ok(Reply::Fence(Some(grant.reply))),
                effects,
            );
        }
    }

    pub(super) fn deliver_semaphore_grants(
        &mut self,
        name: &str,
        grants: Vec<Grant<()>>,
        effects: &mut Effects,
    ) {
        for grant in grants {
            self.note_permits_held(grant.session, name);
            self.complete(grant.session, grant.request, Ok(Reply::Bool(true)), effects);
        }
    }

    /// Whether `session` has as many requests waiting as it may: a request
    /// that may wait is then refused, whether or not it would have waited,
    /// so the rule does not depend on the objects' state.
    fn waiting_requests_full(&self, session: SessionId) -> bool {
        let max = WAITING_REQUESTS_PER_SESSION_MAX;
        self.waits.count_of_session_up_to(session, max) >= max
    }

    fn objects_full(&self) -> bool {
        self.objects.len() >= OBJECTS_MAX
    }

    fn note_lock_held(&mut self, session: SessionId, name: &str) {
        if let Some(session) = self.sessions.get_mut(session)
            && !session.locks.contains(name)
        {
            session.locks.insert(name.to_owned());
        }
    }

    fn note_permits_held(&mut self, session: SessionId, name: &str) {
        if let Some(session) = self.sessions.get_mut(session)
            && !session.semaphores.contains(name)
        {
            session.semaphores.insert(name.to_owned());
        }
    }
}

/// Canonical equality of two optional values.
pub(super) fn same_value(a: Option<&Value>, b: Option<&Value>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => a.canonical_bytes() == b.canonical_bytes(),
        _ => false,
    }
}
