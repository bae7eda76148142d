//! Ends of waits and sessions: timeouts, cancels, expiry and close.

use super::Machine;
use super::command::Effect;
use super::destroy::Kind;
use super::waits::{WaitKey, WaitTarget};
use raftcp_proto::{OpError, Reply, RequestId, SessionId};
use std::collections::BTreeSet;

/// Why a waiter leaves its queue without being granted.
#[derive(Clone, Copy, Debug)]
enum WaitEnd {
    TimedOut,
    Cancelled,
    SessionEnded,
}

impl Machine {
    /// Times out every due waiter, then lets semaphores grant whoever now
    /// fits. Removing all first matters: a waiter whose deadline passed must
    /// time out even if an earlier timeout would have made room for it.
    pub(super) fn expire_waits(&mut self, effects: &mut Vec<Effect>) {
        let mut touched_semaphores = BTreeSet::new();
        for key in self.waits.due(self.now_ms) {
            self.end_wait(key, WaitEnd::TimedOut, &mut touched_semaphores, effects);
        }
        self.regrant_semaphores(touched_semaphores, effects);
    }

    /// Cancels a waiter; nothing happens if it already completed.
    pub(super) fn cancel(
        &mut self,
        session: SessionId,
        request: RequestId,
        effects: &mut Vec<Effect>,
    ) {
        let mut touched_semaphores = BTreeSet::new();
        self.end_wait(
            (session, request),
            WaitEnd::Cancelled,
            &mut touched_semaphores,
            effects,
        );
        self.regrant_semaphores(touched_semaphores, effects);
    }

    /// Ends `sessions` (expired or closed) in three steps, so that nothing
    /// is handed to a session that is itself ending in this entry (which
    /// would also hand out the same fence twice):
    /// 1. every waiter of every ending session leaves its queue;
    /// 2. each session's locks and permits are released to live waiters;
    /// 3. semaphores that lost a queued waiter grant whoever now fits.
    pub(super) fn end_sessions(
        &mut self,
        index: u64,
        sessions: &[SessionId],
        effects: &mut Vec<Effect>,
    ) {
        let mut touched_semaphores = BTreeSet::new();
        for &session in sessions {
            for key in self.waits.of_session(session) {
                self.end_wait(key, WaitEnd::SessionEnded, &mut touched_semaphores, effects);
            }
        }
        for &session in sessions {
            let Some(ended) = self.sessions.remove(session) else {
                continue;
            };
            self.usage.responses = self.usage.responses.saturating_sub(ended.responses.bytes());
            self.owners.remove(&session);
            self.forget_lost_holds(session);
            for name in &ended.locks {
                self.measuring(Kind::Lock, name, |machine| {
                    let fences = machine.fences();
                    if let Some(lock) = machine.objects.locks.get_mut(name) {
                        let grants = lock.release_session(session, index, fences);
                        machine.deliver_lock_grants(name, grants, effects);
                    }
                    machine.drop_if_idle(Kind::Lock, name);
                });
            }
            for name in &ended.semaphores {
                self.measuring(Kind::Semaphore, name, |machine| {
                    if let Some(semaphore) = machine.objects.semaphores.get_mut(name) {
                        let grants = semaphore.release_session(session);
                        machine.deliver_semaphore_grants(name, grants, effects);
                    }
                    machine.drop_if_idle(Kind::Semaphore, name);
                });
                touched_semaphores.remove(name);
            }
            effects.push(Effect::SessionEnded(session));
        }
        self.regrant_semaphores(touched_semaphores, effects);
    }

    /// Semaphores that lost queued waiters grant whoever now fits.
    fn regrant_semaphores(&mut self, names: BTreeSet<String>, effects: &mut Vec<Effect>) {
        for name in names {
            self.measuring(Kind::Semaphore, &name, |machine| {
                if let Some(semaphore) = machine.objects.semaphores.get_mut(&name) {
                    let grants = semaphore.grant_waiters();
                    machine.deliver_semaphore_grants(&name, grants, effects);
                }
                machine.drop_if_idle(Kind::Semaphore, &name);
            });
        }
    }

    /// Takes a waiter out of its queue and completes it. A semaphore that
    /// loses a waiter is added to `touched_semaphores`: the caller re-grants
    /// once it has removed every waiter it is removing.
    fn end_wait(
        &mut self,
        key: WaitKey,
        how: WaitEnd,
        touched_semaphores: &mut BTreeSet<String>,
        effects: &mut Vec<Effect>,
    ) {
        let Some(wait) = self.waits.get(&key).cloned() else {
            return;
        };
        let (session, request) = key;
        let timed_out = match &wait.target {
            WaitTarget::Lock(name) => {
                self.measuring(Kind::Lock, name, |machine| {
                    if let Some(lock) = machine.objects.locks.get_mut(name) {
                        lock.queue.remove_request(session, request);
                    }
                    machine.drop_if_idle(Kind::Lock, name);
                });
                Reply::Fence(None)
            }
            WaitTarget::Semaphore(name) => {
                self.measuring(Kind::Semaphore, name, |machine| {
                    if let Some(semaphore) = machine.objects.semaphores.get_mut(name) {
                        // Whoever now fits is granted once all are out.
                        semaphore.queue.remove_request(session, request);
                    }
                });
                touched_semaphores.insert(name.clone());
                Reply::Bool(false)
            }
            WaitTarget::Latch(name) => {
                self.measuring(Kind::Latch, name, |machine| {
                    if let Some(latch) = machine.objects.latches.get_mut(name) {
                        latch.queue.remove_request(session, request);
                    }
                    machine.drop_if_idle(Kind::Latch, name);
                });
                Reply::Bool(false)
            }
        };
        let result = match how {
            WaitEnd::TimedOut => Ok(timed_out),
            WaitEnd::Cancelled => Err(OpError::Cancelled),
            WaitEnd::SessionEnded => Err(OpError::SessionExpired { session }),
        };
        self.complete(session, request, result, effects);
    }
}
