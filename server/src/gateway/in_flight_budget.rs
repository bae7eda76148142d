//! Bytes a client connection may have on the way at once: its requests
//! waiting to be proposed or read (in the batcher, on the peer link) and
//! their replies until they are queued to go out. A request reserves its
//! own size plus what its reply may take (a read of an AtomicReference a
//! whole value, anything else a little) before it starts, against its
//! connection's budget and the member's; when either is spent the
//! connection reads no further frames until requests finish. So a client
//! that sends thousands of large values, or asks for one thousands of
//! times, waits its turn instead of pulling gigabytes through the member.

use crate::limits::{
    FRAME_BYTES_MAX, IN_FLIGHT_BYTES_PER_CONNECTION_MAX, IN_FLIGHT_BYTES_PER_MEMBER_MAX,
    VALUE_BYTES_MAX,
};
use raftcp_proto::{Op, RefOp};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::Notify;

/// Budgets count kibibytes.
const UNIT_BYTES: usize = 1024;

/// What a reply without a value is reserved at, generously.
const SMALL_REPLY_KIB: usize = 1;

/// Kibibytes, taken and given back. Lock-free while there is room (every
/// request takes from two of them): a taker that must wait registers, and
/// only then does a give-back wake anyone.
#[derive(Debug)]
pub struct Budget {
    used: AtomicUsize,
    max: usize,
    waiting: AtomicUsize,
    freed: Notify,
}

impl Budget {
    fn new(max_bytes: usize) -> Arc<Self> {
        Arc::new(Budget {
            used: AtomicUsize::new(0),
            max: max_bytes / UNIT_BYTES,
            waiting: AtomicUsize::new(0),
            freed: Notify::new(),
        })
    }

    /// Takes `cost` if it fits and nobody waits (waiters go first, so a
    /// large request is not starved by a stream of small ones).
    fn try_take(&self, cost: usize) -> bool {
        self.waiting.load(Ordering::SeqCst) == 0 && self.take_if_fits(cost)
    }

    fn take_if_fits(&self, cost: usize) -> bool {
        let fits = |used: usize| (used + cost <= self.max).then_some(used + cost);
        self.used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, fits)
            .is_ok()
    }

    async fn take(&self, cost: usize) {
        if self.try_take(cost) {
            return;
        }
        // Counted as waiting until this returns or is dropped (a connection
        // drops it when one of its requests finishes first).
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let _waiting = Waiting(&self.waiting);
        loop {
            let freed = self.freed.notified();
            let mut freed = std::pin::pin!(freed);
            // Registered before looking again, so a give-back between the
            // look and the wait still wakes this taker.
            freed.as_mut().enable();
            if self.take_if_fits(cost) {
                return;
            }
            freed.await;
        }
    }

    fn give_back(&self, cost: usize) {
        self.used.fetch_sub(cost, Ordering::SeqCst);
        if self.waiting.load(Ordering::SeqCst) > 0 {
            self.freed.notify_waiters();
        }
    }
}

/// A connection's view of the budgets: its own and the member's.
#[derive(Debug)]
pub struct InFlightBudget {
    connection: Arc<Budget>,
    member: Arc<Budget>,
}

/// Budget held by one request until its reply is queued (or it waits).
#[derive(Debug)]
pub struct Reserved {
    connection: Arc<Budget>,
    member: Arc<Budget>,
    cost: usize,
}

impl Drop for Reserved {
    fn drop(&mut self) {
        self.connection.give_back(self.cost);
        self.member.give_back(self.cost);
    }
}

/// The member's budget, shared by all its client connections.
pub fn member_budget() -> Arc<Budget> {
    Budget::new(IN_FLIGHT_BYTES_PER_MEMBER_MAX)
}

impl InFlightBudget {
    pub fn new(member: Arc<Budget>) -> Self {
        InFlightBudget {
            connection: Budget::new(IN_FLIGHT_BYTES_PER_CONNECTION_MAX),
            member,
        }
    }

    /// Reserves for a request of `op`, `bytes` long, and its reply if both
    /// budgets have room now.
    pub fn try_reserve(&self, op: &Op, bytes: usize) -> Option<Reserved> {
        let cost = cost_kib(op, bytes);
        if !self.connection.try_take(cost) {
            return None;
        }
        if !self.member.try_take(cost) {
            self.connection.give_back(cost);
            return None;
        }
        Some(self.reserved(cost))
    }

    /// Waits until a request of `op`, `bytes` long, and its reply fit both
    /// budgets.
    pub async fn reserve(&self, op: &Op, bytes: usize) -> Reserved {
        let cost = cost_kib(op, bytes);
        self.connection.take(cost).await;
        // Taken one after the other: if this future is dropped while it
        // waits for the member's, the connection's share must go back.
        let held = Held(&self.connection, cost);
        self.member.take(cost).await;
        std::mem::forget(held);
        self.reserved(cost)
    }

    fn reserved(&self, cost: usize) -> Reserved {
        Reserved {
            connection: self.connection.clone(),
            member: self.member.clone(),
            cost,
        }
    }
}

/// Counts a taker out of the waiting ones when it is done or dropped.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Gives a share back unless forgotten.
struct Held<'a>(&'a Budget, usize);

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.0.give_back(self.1);
    }
}

/// Kibibytes a request of `op`, `bytes` long, and its reply may take.
fn cost_kib(op: &Op, bytes: usize) -> usize {
    reply_kib(op) + bytes.div_ceil(UNIT_BYTES)
}

/// Kibibytes the reply to `op` may take.
fn reply_kib(op: &Op) -> usize {
    match op {
        Op::AtomicReference {
            op: RefOp::Get | RefOp::GetAndSet(_),
            ..
        } => VALUE_BYTES_MAX / UNIT_BYTES + SMALL_REPLY_KIB,
        _ => SMALL_REPLY_KIB,
    }
}

const _: () = assert!(VALUE_BYTES_MAX + FRAME_BYTES_MAX < IN_FLIGHT_BYTES_PER_CONNECTION_MAX);
const _: () = assert!(IN_FLIGHT_BYTES_PER_CONNECTION_MAX <= IN_FLIGHT_BYTES_PER_MEMBER_MAX);

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_taker_waits_for_room_and_is_woken_when_it_is_given_back() {
        let budget = Budget::new(4 * UNIT_BYTES);
        assert!(budget.try_take(3));
        assert!(!budget.try_take(2));
        let waiting = tokio::spawn({
            let budget = budget.clone();
            async move { budget.take(2).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished());
        budget.give_back(3);
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("woken")
            .unwrap();
        assert_eq!(budget.used.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_reservation_dropped_while_waiting_gives_back_what_it_took() {
        let member = Budget::new(2 * UNIT_BYTES);
        assert!(member.try_take(1)); // Too little left for a request.
        let budget = InFlightBudget::new(member.clone());
        let op = Op::AtomicLong {
            name: "n".into(),
            op: raftcp_proto::LongOp::Get,
        };
        // A request of 10 bytes and its reply: 2 KiB.
        let waited = tokio::time::timeout(Duration::from_millis(50), budget.reserve(&op, 10));
        assert!(waited.await.is_err());
        assert_eq!(budget.connection.used.load(Ordering::SeqCst), 0);
        assert_eq!(member.waiting.load(Ordering::SeqCst), 0);
        member.give_back(1);
        let reserved = budget.try_reserve(&op, 10).expect("room again");
        drop(reserved);
        assert_eq!(budget.connection.used.load(Ordering::SeqCst), 0);
        assert_eq!(member.used.load(Ordering::SeqCst), 0);
    }
}
