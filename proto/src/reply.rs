//! Successful results. Which variant an operation returns is documented on
//! the operation. Variant order is wire format: append only.

use crate::ids::Fence;
use crate::value::Value;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Reply {
    Unit,
    Bool(bool),
    Long(i64),
    Value(Option<Value>),
    /// `None`: a timed lock attempt gave up.
    Fence(Option<Fence>),
    Count(u32),
    /// The answer to an admin operation ([`crate::admin`]).
    Admin(Box<crate::admin::AdminReply>),
    /// A leased `try_lock`: `None` when the lock was held.
    Lease(Option<Lease>),
    /// A leased `try_acquire`: the lease, or `None` when the permits were
    /// not available.
    PermitsLeased(Option<crate::op::LeaseId>),
}

/// A lock held under a lease ([`crate::LockOp::TryLockLeased`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub id: crate::op::LeaseId,
    pub fence: crate::Fence,
}
