//! Whole-machine invariants. Checked on snapshot restore and after every
//! step of the model tests; each names what broke, with the values.

use super::Machine;
use super::command::Outcome;
use super::destroy::LOST_HOLDS_PER_SESSION_MAX;
use super::semaphore::PERMITS_MAX;
use super::waits::WaitTarget;
use raftcp_proto::limits::{ACKED_EXCEPT_MAX, UNACKNOWLEDGED_RESPONSES_MAX};
use raftcp_proto::{Fence, RequestId, SessionId};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvariantViolation(pub String);

fn ensure(condition: bool, describe: impl FnOnce() -> String) -> Result<(), InvariantViolation> {
    if condition {
        Ok(())
    } else {
        Err(InvariantViolation(describe()))
    }
}

impl Machine {
    pub fn check_invariants(&self) -> Result<(), InvariantViolation> {
        self.check_sessions()?;
        self.check_no_idle_objects()?;
        self.check_usage()?;
        self.check_locks()?;
        self.check_semaphores()?;
        self.check_waits()?;
        self.one_shots
            .check(self.now_ms)
            .map_err(InvariantViolation)
    }

    fn check_sessions(&self) -> Result<(), InvariantViolation> {
        for id in self.owners.keys() {
            ensure(self.sessions.get(*id).is_some(), || {
                format!("session {id} has an owner but is not live")
            })?;
        }
        for (id, session) in self.sessions.iter() {
            ensure(id.0 <= self.last_applied, || {
                format!("session {id} is from the future")
            })?;
            ensure(
                session.responses.len() <= UNACKNOWLEDGED_RESPONSES_MAX,
                || format!("session {id} caches {} responses", session.responses.len()),
            )?;
            let around = session.responses.range(..session.acked_below).count();
            ensure(around <= ACKED_EXCEPT_MAX, || {
                format!("session {id} keeps {around} responses below its watermark")
            })?;
            for name in &session.locks {
                let held = self.objects.locks.get(name).and_then(|l| l.holder.as_ref());
                ensure(held.is_some_and(|h| h.owner.session == *id), || {
                    format!("session {id} lists lock \"{name}\" it does not hold")
                })?;
            }
            for name in &session.semaphores {
                let held = self
                    .objects
                    .semaphores
                    .get(name)
                    .is_some_and(|s| s.held_by_session(*id));
                ensure(held, || {
                    format!("session {id} lists semaphore \"{name}\" without permits")
                })?;
            }
        }
        Ok(())
    }

    /// An object in its never-used state is dropped by the entry that
    /// brings it there (see `destroy`).
    fn check_no_idle_objects(&self) -> Result<(), InvariantViolation> {
        let objects = &self.objects;
        let idle = |kind: &str, name: Option<&String>| match name {
            Some(name) => Err(InvariantViolation(format!(
                "{kind} \"{name}\" is kept in its never-used state"
            ))),
            None => Ok(()),
        };
        idle(
            "atomic long",
            objects.longs.iter().find(|(_, v)| **v == 0).map(|(n, _)| n),
        )?;
        idle(
            "lock",
            objects
                .locks
                .iter()
                .find(|(_, l)| l.is_idle())
                .map(|(n, _)| n),
        )?;
        let semaphore = objects.semaphores.iter().find(|(_, s)| s.is_idle());
        idle("semaphore", semaphore.map(|(n, _)| n))?;
        idle(
            "latch",
            objects
                .latches
                .iter()
                .find(|(_, l)| l.is_idle())
                .map(|(n, _)| n),
        )?;
        for (session, lost) in &self.lost_holds {
            let kept = lost.len();
            let live = self.sessions.get(*session).is_some();
            ensure(
                live && kept > 0 && kept <= LOST_HOLDS_PER_SESSION_MAX,
                || format!("session {session} keeps {kept} lost holds (live: {live})"),
            )?;
        }
        Ok(())
    }

    /// The bytes kept up to date as the state changes equal a fresh count.
    fn check_usage(&self) -> Result<(), InvariantViolation> {
        let counted = self.count_usage();
        ensure(counted == self.usage, || {
            format!("state bytes kept as {:?}, counted {counted:?}", self.usage)
        })?;
        let sessions = self.sessions.count_bytes();
        ensure(sessions == self.sessions.bytes(), || {
            format!(
                "session bytes kept as {}, counted {sessions}",
                self.sessions.bytes()
            )
        })
    }

    fn check_locks(&self) -> Result<(), InvariantViolation> {
        for (name, lock) in &self.objects.locks {
            ensure(lock.last_fence.0 <= self.last_applied, || {
                format!(
                    "lock \"{name}\" fence {} is beyond applied index {}",
                    lock.last_fence, self.last_applied
                )
            })?;
            match &lock.holder {
                None => ensure(lock.queue.is_empty(), || {
                    format!("lock \"{name}\" is free with {} waiters", lock.queue.len())
                })?,
                Some(holder) => {
                    ensure(holder.count > 0 && holder.fence > Fence::INVALID, || {
                        format!(
                            "lock \"{name}\" holder has count {} fence {}",
                            holder.count, holder.fence
                        )
                    })?;
                    ensure(holder.fence <= lock.last_fence, || {
                        format!(
                            "lock \"{name}\" fence {} exceeds last fence {}",
                            holder.fence, lock.last_fence
                        )
                    })?;
                    let listed = self
                        .sessions
                        .get(holder.owner.session)
                        .is_some_and(|s| s.locks.contains(name));
                    ensure(listed, || {
                        format!(
                            "lock \"{name}\" is held by session {} which does not list it",
                            holder.owner.session
                        )
                    })?;
                }
            }
            for waiter in lock.queue.iter() {
                self.check_queued(
                    waiter.owner.session,
                    waiter.request,
                    &WaitTarget::Lock(name.clone()),
                )?;
            }
        }
        Ok(())
    }

    fn check_semaphores(&self) -> Result<(), InvariantViolation> {
        for (name, semaphore) in &self.objects.semaphores {
            for (owner, permits) in &semaphore.held {
                ensure(*permits > 0, || {
                    format!("semaphore \"{name}\" records zero permits held")
                })?;
                let listed = self
                    .sessions
                    .get(owner.session)
                    .is_some_and(|s| s.semaphores.contains(name));
                ensure(listed, || {
                    format!(
                        "semaphore \"{name}\" permits held by session {} which does not list them",
                        owner.session
                    )
                })?;
            }
            ensure(semaphore.total_permits() <= PERMITS_MAX, || {
                format!(
                    "semaphore \"{name}\" has {} permits: at most {PERMITS_MAX} allowed",
                    semaphore.total_permits()
                )
            })?;
            if let Some(head) = semaphore.queue.front() {
                ensure(head.permits > semaphore.available, || {
                    format!(
                        "semaphore \"{name}\" head waiter wants {} of {} available but waits",
                        head.permits, semaphore.available
                    )
                })?;
            }
            for waiter in semaphore.queue.iter() {
                self.check_queued(
                    waiter.owner.session,
                    waiter.request,
                    &WaitTarget::Semaphore(name.clone()),
                )?;
            }
        }
        for (name, latch) in &self.objects.latches {
            ensure(latch.queue.is_empty() || latch.count > 0, || {
                format!(
                    "latch \"{name}\" is open with {} waiters",
                    latch.queue.len()
                )
            })?;
            for waiter in latch.queue.iter() {
                self.check_queued(
                    waiter.session,
                    waiter.request,
                    &WaitTarget::Latch(name.clone()),
                )?;
            }
        }
        Ok(())
    }

    /// A queued waiter is indexed, its session lives, its response is pending.
    fn check_queued(
        &self,
        session: SessionId,
        request: RequestId,
        target: &WaitTarget,
    ) -> Result<(), InvariantViolation> {
        let indexed = self
            .waits
            .get(&(session, request))
            .is_some_and(|w| &w.target == target);
        ensure(indexed, || {
            format!("waiter {session}/{request} on {target:?} is not indexed")
        })?;
        let live = self.sessions.get(session);
        ensure(live.is_some(), || {
            format!("waiter {session}/{request} belongs to an ended session")
        })?;
        let pending = live
            .and_then(|s| s.responses.get(&request))
            .is_none_or(|o| *o == Outcome::Pending);
        ensure(pending, || {
            format!("waiter {session}/{request} already has a final response")
        })
    }

    /// Every indexed wait is in its object's queue (the converse is checked
    /// per queue), so the two agree exactly.
    fn check_waits(&self) -> Result<(), InvariantViolation> {
        let queued = self
            .objects
            .locks
            .values()
            .map(|l| l.queue.len())
            .sum::<usize>()
            + self
                .objects
                .semaphores
                .values()
                .map(|s| s.queue.len())
                .sum::<usize>()
            + self
                .objects
                .latches
                .values()
                .map(|l| l.queue.len())
                .sum::<usize>();
        ensure(queued == self.waits.len(), || {
            format!("{queued} queued waiters but {} indexed", self.waits.len())
        })
    }
}
