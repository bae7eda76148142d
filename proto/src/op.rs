//! Operations of the five primitives, as a client sends them and as the Raft
//! log carries them. Variant order is wire format: append only.

use crate::ids::HandleId;
use crate::value::Value;
use serde::{Deserialize, Serialize};

/// One operation on one named object. Objects are created on first use; the
/// same name in two kinds names two different objects.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Op {
    AtomicLong {
        name: String,
        op: LongOp,
    },
    AtomicReference {
        name: String,
        op: RefOp,
    },
    /// `handle` is the owner identity inside the session (see [`HandleId`]).
    Lock {
        name: String,
        handle: HandleId,
        op: LockOp,
    },
    Semaphore {
        name: String,
        handle: HandleId,
        op: SemaphoreOp,
    },
    Latch {
        name: String,
        op: LatchOp,
    },
}

/// AtomicLong. Arithmetic wraps on overflow, as Java's `AtomicLong` does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LongOp {
    /// -> `Reply::Long(value)`.
    Get,
    /// -> `Reply::Unit`.
    Set(i64),
    /// -> `Reply::Long(new value)`; increment is `AddAndGet(1)`.
    AddAndGet(i64),
    /// -> `Reply::Long(previous value)`.
    GetAndAdd(i64),
    /// -> `Reply::Bool(swapped)`.
    CompareAndSet { expect: i64, update: i64 },
    /// -> `Reply::Long(previous value)`.
    GetAndSet(i64),
    /// Remove the object: the next use starts from 0. -> `Reply::Unit`.
    Destroy,
}

/// AtomicReference. `None` is the absent (null) value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum RefOp {
    /// -> `Reply::Value(current)`.
    Get,
    /// -> `Reply::Unit`; `Set(None)` is `clear`.
    Set(Option<Value>),
    /// -> `Reply::Value(previous)`.
    GetAndSet(Option<Value>),
    /// -> `Reply::Bool(swapped)`; `set_if_absent(v)` is `CompareAndSet { None, Some(v) }`.
    CompareAndSet {
        expect: Option<Value>,
        update: Option<Value>,
    },
    /// -> `Reply::Bool(current is None)`.
    IsNull,
    /// -> `Reply::Bool(current equals the argument)`.
    Contains(Option<Value>),
    /// Remove the object: the next use starts from null. -> `Reply::Unit`.
    Destroy,
}

/// FencedLock, owned by `(session, handle)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LockOp {
    /// Acquire or re-enter. `timeout_ms`: `None` waits for ever, `Some(0)` is
    /// `try_lock`. `reentrancy_limit` 0 means unlimited, 1 non-reentrant.
    /// -> `Reply::Fence(Some(fence))`, or `Reply::Fence(None)` on timeout.
    Lock {
        timeout_ms: Option<u64>,
        reentrancy_limit: u32,
    },
    /// Leave one level of reentrancy. -> `Reply::Unit`.
    Unlock,
    /// -> `Reply::Bool`.
    IsLocked,
    /// -> `Reply::Bool`.
    IsLockedByMe,
    /// Reentrancy count of the current holder, whoever it is. -> `Reply::Count`.
    LockCount,
    /// The fence of this handle's hold. -> `Reply::Fence(Some(fence))`.
    GetFence,
    /// Remove the lock whoever holds it: its waiters fail with
    /// `ObjectDestroyed`, and so does the holder's next call on it; the
    /// next use creates a fresh lock, whose fences still exceed every
    /// earlier one. -> `Reply::Unit`.
    Destroy,
    /// Takes the lock if it is free now, for a lease of `lease_ms` (within
    /// [`crate::limits::LEASE_MS_MIN`]..=[`crate::limits::LEASE_MS_MAX`]) instead of for the caller's
    /// session: the lease is its own holder, released when it runs out
    /// unless renewed, so a caller that lives for one request can hold a
    /// lock past it. Needs no session. -> `Reply::Lease(Some(lease))`, or
    /// `Reply::Lease(None)` if the lock is held.
    TryLockLeased { lease_ms: u64, secret: LeaseSecret },
    /// Gives the lease another `lease_ms` from now. -> `Reply::Unit`, or
    /// `LockOwnershipLost` once it ran out (or was ended).
    RenewLease { lease: LeaseId, secret: LeaseSecret },
    /// Ends the lease, releasing the lock. -> `Reply::Unit`, or
    /// `LockOwnershipLost` once it ran out (or was ended).
    UnlockLeased { lease: LeaseId, secret: LeaseSecret },
}

/// A lease's name: the session the machine opened for it (one per lease,
/// with the lease's TTL), so leases run out as sessions expire, by the
/// leader's command time.
pub type LeaseId = crate::ids::SessionId;

/// What proves a lease is the caller's: 32 random bytes the caller picks
/// when it takes the lease and shows to renew or end it. A member replaces
/// it with its hash under the caller's token subject before the operation
/// is replicated, so replicas never hold the secret itself, and a lease
/// taken by one subject cannot be ended by another.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LeaseSecret(pub [u8; 32]);

/// Never shown: logs and debug output must not leak it.
impl std::fmt::Debug for LeaseSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LeaseSecret(..)")
    }
}

/// Semaphore with session-aware permits: what a session holds returns to the
/// pool when the session ends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SemaphoreOp {
    /// Sets the permits if the semaphore was never initialized. -> `Reply::Bool`.
    Init { permits: u32 },
    /// `timeout_ms`: `None` waits for ever, `Some(0)` is `try_acquire`.
    /// -> `Reply::Bool(acquired)`.
    Acquire {
        permits: u32,
        timeout_ms: Option<u64>,
    },
    /// Return permits this handle holds. -> `Reply::Unit`.
    Release { permits: u32 },
    /// -> `Reply::Count`.
    AvailablePermits,
    /// Acquire every available permit. -> `Reply::Count(drained)`.
    Drain,
    /// Shrink the available permits (not below zero). -> `Reply::Unit`.
    Reduce { permits: u32 },
    /// Grow the available permits. -> `Reply::Unit`.
    Increase { permits: u32 },
    /// Remove the semaphore with its permits: waiters fail with
    /// `ObjectDestroyed`, and so does a holder's next release; the next
    /// use creates an uninitialized one. -> `Reply::Unit`.
    Destroy,
    /// Takes `permits` if they are available now, for a lease of
    /// `lease_ms` instead of for the caller's session (as
    /// [`LockOp::TryLockLeased`]). Needs no session.
    /// -> `Reply::PermitsLeased(Some(lease))`, or `(None)` if they are not.
    TryAcquireLeased {
        permits: u32,
        lease_ms: u64,
        secret: LeaseSecret,
    },
    /// Gives the lease another `lease_ms` from now. -> `Reply::Unit`, or
    /// `LockOwnershipLost` once it ran out (or was ended).
    RenewLease { lease: LeaseId, secret: LeaseSecret },
    /// Ends the lease, returning its permits. -> `Reply::Unit`, or
    /// `LockOwnershipLost` once it ran out (or was ended).
    ReleaseLeased { lease: LeaseId, secret: LeaseSecret },
}

/// CountDownLatch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LatchOp {
    /// Start a round; succeeds only when the count is 0. -> `Reply::Bool`.
    TrySetCount { count: u32 },
    /// -> `Reply::Unit`.
    CountDown,
    /// -> `Reply::Count`.
    GetCount,
    /// `timeout_ms`: `None` waits for ever. -> `Reply::Bool(reached zero)`.
    Await { timeout_ms: Option<u64> },
    /// Remove the latch: waiters fail with `ObjectDestroyed`; the next use
    /// finds a count of 0. -> `Reply::Unit`.
    Destroy,
}

impl Op {
    /// Whether the operation changes state, so it must go through the Raft
    /// log and be deduplicated. Reads are answered after a ReadIndex barrier.
    pub fn is_mutating(&self) -> bool {
        match self {
            Op::AtomicLong { op, .. } => !matches!(op, LongOp::Get),
            Op::AtomicReference { op, .. } => {
                !matches!(op, RefOp::Get | RefOp::IsNull | RefOp::Contains(_))
            }
            Op::Lock { op, .. } => !matches!(
                op,
                LockOp::IsLocked | LockOp::IsLockedByMe | LockOp::LockCount | LockOp::GetFence
            ),
            Op::Semaphore { op, .. } => !matches!(op, SemaphoreOp::AvailablePermits),
            // Await registers a waiter, which is replicated state.
            Op::Latch { op, .. } => !matches!(op, LatchOp::GetCount),
        }
    }

    /// For a lock, acquire or await (the operations that wait by design),
    /// its timeout: `Some(None)` waits until granted. `None` for the rest.
    pub fn wait_timeout_ms(&self) -> Option<Option<u64>> {
        match self {
            Op::Lock {
                op: LockOp::Lock { timeout_ms, .. },
                ..
            }
            | Op::Semaphore {
                op: SemaphoreOp::Acquire { timeout_ms, .. },
                ..
            }
            | Op::Latch {
                op: LatchOp::Await { timeout_ms },
                ..
            } => Some(*timeout_ms),
            _ => None,
        }
    }

    /// Whether the operation may queue a waiter (a lock, acquire or await
    /// that is not a zero-timeout try): only these can be answered later,
    /// by a completion, or be cancelled.
    pub fn may_wait(&self) -> bool {
        self.wait_timeout_ms()
            .is_some_and(|timeout_ms| timeout_ms != Some(0))
    }

    /// Whether the operation may make its group's state larger, so is
    /// refused while the group is at its byte quota. Reads, destroy,
    /// unlock, release, count-down and clear never grow it, so a full group
    /// can always be brought back under its quota. (`reduce_permits` can:
    /// on a name not in use it creates an initialized semaphore.)
    pub fn may_grow_state(&self) -> bool {
        let shrinks = self.is_destroy()
            || matches!(
                self,
                Op::AtomicReference {
                    op: RefOp::Set(None),
                    ..
                } | Op::Lock {
                    op: LockOp::Unlock | LockOp::RenewLease { .. } | LockOp::UnlockLeased { .. },
                    ..
                } | Op::Semaphore {
                    op: SemaphoreOp::Release { .. }
                        | SemaphoreOp::RenewLease { .. }
                        | SemaphoreOp::ReleaseLeased { .. },
                    ..
                } | Op::Latch {
                    op: LatchOp::CountDown,
                    ..
                }
            );
        self.is_mutating() && !shrinks
    }

    /// Whether the operation needs a session: it holds (lock, acquire,
    /// their releases and destroys, which act for a handle), waits (latch
    /// await) or asks who holds (`isLockedByCurrentThread`, `getFence`).
    /// The rest may run without one ([`crate::one_shot`]).
    pub fn needs_session(&self) -> bool {
        match self {
            Op::AtomicLong { .. } | Op::AtomicReference { .. } => false,
            Op::Lock { op, .. } => !matches!(
                op,
                LockOp::IsLocked
                    | LockOp::LockCount
                    | LockOp::TryLockLeased { .. }
                    | LockOp::RenewLease { .. }
                    | LockOp::UnlockLeased { .. }
            ),
            Op::Semaphore { op, .. } => !matches!(
                op,
                SemaphoreOp::AvailablePermits
                    | SemaphoreOp::TryAcquireLeased { .. }
                    | SemaphoreOp::RenewLease { .. }
                    | SemaphoreOp::ReleaseLeased { .. }
            ),
            Op::Latch { op, .. } => matches!(op, LatchOp::Await { .. }),
        }
    }

    /// What the operation is called in messages: `lock.lock`,
    /// `semaphore.acquire`.
    pub fn label(&self) -> &'static str {
        match self {
            Op::AtomicLong { .. } => "atomic_long",
            Op::AtomicReference { .. } => "atomic_reference",
            Op::Lock { op, .. } => match op {
                LockOp::Lock { .. } => "lock.lock",
                LockOp::Unlock => "lock.unlock",
                LockOp::IsLocked => "lock.is_locked",
                LockOp::IsLockedByMe => "lock.is_locked_by_current_thread",
                LockOp::LockCount => "lock.get_lock_count",
                LockOp::GetFence => "lock.get_fence",
                LockOp::Destroy => "lock.destroy",
                LockOp::TryLockLeased { .. } => "lock.try_lock_leased",
                LockOp::RenewLease { .. } => "lock.renew_lease",
                LockOp::UnlockLeased { .. } => "lock.unlock_leased",
            },
            Op::Semaphore { op, .. } => match op {
                SemaphoreOp::Init { .. } => "semaphore.init",
                SemaphoreOp::Acquire { .. } => "semaphore.acquire",
                SemaphoreOp::Release { .. } => "semaphore.release",
                SemaphoreOp::AvailablePermits => "semaphore.available_permits",
                SemaphoreOp::Drain => "semaphore.drain_permits",
                SemaphoreOp::Reduce { .. } => "semaphore.reduce_permits",
                SemaphoreOp::Increase { .. } => "semaphore.increase_permits",
                SemaphoreOp::Destroy => "semaphore.destroy",
                SemaphoreOp::TryAcquireLeased { .. } => "semaphore.try_acquire_leased",
                SemaphoreOp::RenewLease { .. } => "semaphore.renew_lease",
                SemaphoreOp::ReleaseLeased { .. } => "semaphore.release_leased",
            },
            Op::Latch { op, .. } => match op {
                LatchOp::TrySetCount { .. } => "latch.try_set_count",
                LatchOp::CountDown => "latch.count_down",
                LatchOp::GetCount => "latch.get_count",
                LatchOp::Await { .. } => "latch.await",
                LatchOp::Destroy => "latch.destroy",
            },
        }
    }

    /// Whether the operation destroys its object.
    pub fn is_destroy(&self) -> bool {
        matches!(
            self,
            Op::AtomicLong {
                op: LongOp::Destroy,
                ..
            } | Op::AtomicReference {
                op: RefOp::Destroy,
                ..
            } | Op::Lock {
                op: LockOp::Destroy,
                ..
            } | Op::Semaphore {
                op: SemaphoreOp::Destroy,
                ..
            } | Op::Latch {
                op: LatchOp::Destroy,
                ..
            }
        )
    }

    /// The object name the operation addresses.
    pub fn name(&self) -> &str {
        match self {
            Op::AtomicLong { name, .. }
            | Op::AtomicReference { name, .. }
            | Op::Lock { name, .. }
            | Op::Semaphore { name, .. }
            | Op::Latch { name, .. } => name,
        }
    }
}
