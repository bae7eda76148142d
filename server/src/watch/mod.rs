//! Watch on this member (see docs/semantics.md, "Watch"): a client names
//! an object; it gets the object's state, read linearizably, then every
//! change of it in log order, each with its log position, from the member
//! its connection is on (every member applies every entry, so followers
//! share the fan-out). A change is a change of what anyone may see of the
//! object; a write that leaves it as it was is not one.
//!
//! [`registry`] finds the changes as entries are applied and keeps them in
//! one feed per object (`feed`); [`connection`]
//! is one connection's watches: checked, registered at a linearizable
//! position, and sent as its outbox has room.

pub mod connection;
mod feed;
pub mod registry;

pub use registry::Watches;

use raftcp_proto::{HandleId, LatchOp, LockOp, LongOp, ObjectKind, Op, RefOp, SemaphoreOp};

/// The read of object `name` of `kind`: a watch is checked as this read
/// is (name, group, the token's rules), since it shows what the read does.
pub fn read_op(kind: ObjectKind, name: &str) -> Op {
    let name = name.to_owned();
    match kind {
        ObjectKind::AtomicLong => Op::AtomicLong {
            name,
            op: LongOp::Get,
        },
        ObjectKind::AtomicReference => Op::AtomicReference {
            name,
            op: RefOp::Get,
        },
        ObjectKind::FencedLock => Op::Lock {
            name,
            handle: HandleId(0),
            op: LockOp::IsLocked,
        },
        ObjectKind::Semaphore => Op::Semaphore {
            name,
            handle: HandleId(0),
            op: SemaphoreOp::AvailablePermits,
        },
        ObjectKind::CountDownLatch => Op::Latch {
            name,
            op: LatchOp::GetCount,
        },
    }
}
