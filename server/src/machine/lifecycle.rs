//! Ends of waits and sessions: timeouts, cancels, expiry and close.

use super::command::Effect;
use super::waits::{WaitKey, WaitTarget};
use super::Machine;
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
    pub(super) fn expire_waits(&mut self, effects: &mut Vec<Effect>) {
        for key in self.waits.due(self.now_ms) {
            self.end_wait(key, WaitEnd::TimedOut, effects);
        }
    }

    /// Cancels a waiter; nothing happens if it already completed.
    pub(super) fn cancel(&mut self, session: SessionId, request: RequestId, effects: &mut Vec<Effect>) {
        if self.waits.get(&(session, request)).is_some() {
            self.end_wait((session, request), WaitEnd::Cancelled, effects);
        }
    }

    /// Ends `sessions` (expired or closed) in three steps, so that nothing
    /// is handed to a session that is itself ending in this entry (which
    /// would also hand out the same fence twice):
    /// 1. every waiter of every ending session leaves its queue;
    /// 2. each session's locks and permits are released to live waiters;
    /// 3. semaphores that lost a queued waiter grant whoever now fits.
    pub(super) fn end_sessions(&mut self, index: u64, sessions: &[SessionId], effects: &mut Vec<Effect>) {
        let mut touched_semaphores = BTreeSet::new();
        for &session in sessions {
            for key in self.waits.of_session(session) {
                if let Some(WaitTarget::Semaphore(name)) = self.waits.get(&key).map(|w| w.target.clone()) {
                    touched_semaphores.insert(name);
                }
                self.end_wait(key, WaitEnd::SessionEnded, effects);
            }
        }
        for &session in sessions {
            let Some(ended) = self.sessions.remove(session) else { continue };
            for name in &ended.locks {
                if let Some(lock) = self.objects.locks.get_mut(name) {
                    let grants = lock.release_session(session, index);
                    self.deliver_lock_grants(name, grants, effects);
                }
            }
            for name in &ended.semaphores {
                if let Some(semaphore) = self.objects.semaphores.get_mut(name) {
                    let grants = semaphore.release_session(session);
                    self.deliver_semaphore_grants(name, grants, effects);
                }
                touched_semaphores.remove(name);
            }
            effects.push(Effect::SessionEnded(session));
        }
        for name in touched_semaphores {
            if let Some(semaphore) = self.objects.semaphores.get_mut(&name) {
                let grants = semaphore.grant_waiters();
                self.deliver_semaphore_grants(&name, grants, effects);
            }
        }
    }

    /// Takes a waiter out of its queue and completes it. A semaphore that
    /// loses a waiter re-grants (the one behind may now fit), except when
    /// sessions are ending: [`Machine::end_sessions`] does that last.
    fn end_wait(&mut self, key: WaitKey, how: WaitEnd, effects: &mut Vec<Effect>) {
        let Some(wait) = self.waits.get(&key).cloned() else { return };
        let (session, request) = key;
        let timed_out = match &wait.target {
            WaitTarget::Lock(name) => {
                if let Some(lock) = self.objects.locks.get_mut(name) {
                    lock.remove_waiter(session, request);
                }
                Reply::Fence(None)
            }
            WaitTarget::Semaphore(name) => {
                if let Some(semaphore) = self.objects.semaphores.get_mut(name) {
                    semaphore.remove_waiter(session, request);
                }
                Reply::Bool(false)
            }
            WaitTarget::Latch(name) => {
                if let Some(latch) = self.objects.latches.get_mut(name) {
                    latch.remove_waiter(session, request);
                }
                Reply::Bool(false)
            }
        };
        let result = match how {
            WaitEnd::TimedOut => Ok(timed_out),
            WaitEnd::Cancelled => Err(OpError::Cancelled),
            WaitEnd::SessionEnded => Err(OpError::SessionExpired { session }),
        };
        self.complete(session, request, result, effects);
        if let (WaitTarget::Semaphore(name), WaitEnd::TimedOut | WaitEnd::Cancelled) = (&wait.target, how) {
            if let Some(semaphore) = self.objects.semaphores.get_mut(name) {
                let grants = semaphore.grant_waiters();
                self.deliver_semaphore_grants(name, grants, effects);
            }
        }
    }
}
