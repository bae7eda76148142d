//! Bytes of replies a client connection may have on the way at once: being
//! read or proposed, crossing the peer link from the leader, or queued. A
//! request reserves what its reply may take before it starts (a read of an
//! AtomicReference a whole value, anything else a little), against its
//! connection's budget and the member's; when either is spent the
//! connection reads no further frames until replies have gone out. So a
//! client that asks for a large value thousands of times waits its turn
//! instead of pulling gigabytes through the member.

use crate::limits::{
    REPLY_BYTES_IN_FLIGHT_MAX, REPLY_BYTES_IN_FLIGHT_PER_CONNECTION_MAX, VALUE_BYTES_MAX,
};
use raftcp_proto::{Op, RefOp};
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Budgets count kibibytes.
const UNIT_BYTES: usize = 1024;

/// What a reply without a value is reserved at, generously.
const SMALL_REPLY_KIB: u32 = 1;

/// A connection's view of the budgets: its own and the member's.
#[derive(Debug)]
pub struct ReplyBudget {
    connection: Arc<Semaphore>,
    member: Arc<Semaphore>,
}

/// Budget held by one request until its reply is queued.
#[derive(Debug)]
pub struct Reserved {
    _connection: OwnedSemaphorePermit,
    _member: OwnedSemaphorePermit,
}

/// The member's budget, shared by all its client connections.
pub fn member_budget() -> Arc<Semaphore> {
    Arc::new(Semaphore::new(REPLY_BYTES_IN_FLIGHT_MAX / UNIT_BYTES))
}

impl ReplyBudget {
    pub fn new(member: Arc<Semaphore>) -> Self {
        let permits = REPLY_BYTES_IN_FLIGHT_PER_CONNECTION_MAX / UNIT_BYTES;
        ReplyBudget {
            connection: Arc::new(Semaphore::new(permits)),
            member,
        }
    }

    /// Waits until `op`'s reply fits both budgets.
    pub async fn reserve(&self, op: &Op) -> Reserved {
        let cost = reply_kib(op);
        let closed = "reply budgets are never closed";
        let connection = self.connection.clone().acquire_many_owned(cost).await;
        let member = self.member.clone().acquire_many_owned(cost).await;
        Reserved {
            _connection: connection.expect(closed),
            _member: member.expect(closed),
        }
    }
}

/// Kibibytes the reply to `op` may take.
fn reply_kib(op: &Op) -> u32 {
    match op {
        Op::AtomicReference {
            op: RefOp::Get | RefOp::GetAndSet(_),
            ..
        } => (VALUE_BYTES_MAX / UNIT_BYTES) as u32 + SMALL_REPLY_KIB,
        _ => SMALL_REPLY_KIB,
    }
}

const _: () = assert!(VALUE_BYTES_MAX < REPLY_BYTES_IN_FLIGHT_PER_CONNECTION_MAX);
const _: () = assert!(REPLY_BYTES_IN_FLIGHT_PER_CONNECTION_MAX <= REPLY_BYTES_IN_FLIGHT_MAX);
