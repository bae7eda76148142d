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
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Budgets count kibibytes.
const UNIT_BYTES: usize = 1024;

/// What a reply without a value is reserved at, generously.
const SMALL_REPLY_KIB: u32 = 1;

/// A connection's view of the budgets: its own and the member's.
#[derive(Debug)]
pub struct InFlightBudget {
    connection: Arc<Semaphore>,
    member: Arc<Semaphore>,
}

/// Budget held by one request until its reply is queued (or it waits).
#[derive(Debug)]
pub struct Reserved {
    _connection: OwnedSemaphorePermit,
    _member: OwnedSemaphorePermit,
}

/// The member's budget, shared by all its client connections.
pub fn member_budget() -> Arc<Semaphore> {
    Arc::new(Semaphore::new(IN_FLIGHT_BYTES_PER_MEMBER_MAX / UNIT_BYTES))
}

impl InFlightBudget {
    pub fn new(member: Arc<Semaphore>) -> Self {
        let permits = IN_FLIGHT_BYTES_PER_CONNECTION_MAX / UNIT_BYTES;
        InFlightBudget {
            connection: Arc::new(Semaphore::new(permits)),
            member,
        }
    }

    /// Reserves for a request of `op`, `bytes` long, and its reply if both
    /// budgets have room now.
    pub fn try_reserve(&self, op: &Op, bytes: usize) -> Option<Reserved> {
        let cost = cost_kib(op, bytes);
        let connection = self.connection.clone().try_acquire_many_owned(cost).ok()?;
        let member = self.member.clone().try_acquire_many_owned(cost).ok()?;
        Some(Reserved {
            _connection: connection,
            _member: member,
        })
    }

    /// Waits until a request of `op`, `bytes` long, and its reply fit both
    /// budgets.
    pub async fn reserve(&self, op: &Op, bytes: usize) -> Reserved {
        let cost = cost_kib(op, bytes);
        let closed = "in-flight budgets are never closed";
        let connection = self.connection.clone().acquire_many_owned(cost).await;
        let member = self.member.clone().acquire_many_owned(cost).await;
        Reserved {
            _connection: connection.expect(closed),
            _member: member.expect(closed),
        }
    }
}

/// Kibibytes a request of `op`, `bytes` long, and its reply may take.
fn cost_kib(op: &Op, bytes: usize) -> u32 {
    reply_kib(op) + bytes.div_ceil(UNIT_BYTES) as u32
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

const _: () = assert!(VALUE_BYTES_MAX + FRAME_BYTES_MAX < IN_FLIGHT_BYTES_PER_CONNECTION_MAX);
const _: () = assert!(IN_FLIGHT_BYTES_PER_CONNECTION_MAX <= IN_FLIGHT_BYTES_PER_MEMBER_MAX);
