//! CountDownLatch: a count set per round, counted down to zero, releasing
//! every waiter when it gets there.

use super::owner::Grant;
use super::wait_queue::{WaitQueue, Waiter};
use raftcp_proto::{OpError, RequestId, SessionId};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Latch {
    pub count: u32,
    /// Incremented by every successful `try_set_count`.
    pub round: u32,
    pub queue: WaitQueue<LatchWaiter>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatchWaiter {
    pub session: SessionId,
    pub request: RequestId,
}

impl Waiter for LatchWaiter {
    fn session(&self) -> SessionId {
        self.session
    }

    fn request(&self) -> RequestId {
        self.request
    }
}

#[derive(Debug, PartialEq)]
pub enum AwaitAttempt {
    Open,
    Closed,
    Queued,
    Refused(OpError),
}

impl Latch {
    /// At zero with nobody waiting: a never-used latch looks the same (the
    /// round is not observable).
    pub fn is_idle(&self) -> bool {
        self.count == 0 && self.queue.is_empty()
    }

    /// Starts a round with `count`; only allowed at zero.
    pub fn try_set_count(&mut self, count: u32) -> bool {
        if self.count != 0 {
            return false;
        }
        self.count = count;
        self.round = self.round.wrapping_add(1);
        true
    }

    /// One count down; at zero every waiter is released. A count down at
    /// zero does nothing. (Each request counts once: the session's response
    /// cache answers retries.)
    pub fn count_down(&mut self) -> Vec<Grant<bool>> {
        if self.count == 0 {
            return Vec::new();
        }
        self.count -= 1;
        if self.count > 0 {
            return Vec::new();
        }
        self.queue
            .drain()
            .map(|w| Grant {
                session: w.session,
                request: w.request,
                reply: true,
            })
            .collect()
    }

    pub fn await_zero(&mut self, name: &str, waiter: LatchWaiter, waits: bool) -> AwaitAttempt {
        if self.count == 0 {
            AwaitAttempt::Open
        } else if !waits {
            AwaitAttempt::Closed
        } else {
            match self.queue.push(name, waiter) {
                Ok(()) => AwaitAttempt::Queued,
                Err(refused) => AwaitAttempt::Refused(refused),
            }
        }
    }
}
