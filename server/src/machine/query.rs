//! Read-only operations: answered from state without a log entry (after a
//! ReadIndex barrier), and never creating objects.

use super::Machine;
use super::destroy::Kind;
use super::execute::same_value;
use super::owner::Owner;
use raftcp_proto::{LatchOp, LockOp, LongOp, Op, OpError, RefOp, Reply, SemaphoreOp, SessionId};

impl Machine {
    /// Answers a read-only operation for `session`. Mutating operations are
    /// refused: they must go through the log.
    pub fn query(&self, session: SessionId, op: &Op) -> Result<Reply, OpError> {
        if op.is_mutating() {
            return Err(not_a_read(op.name()));
        }
        match op {
            Op::AtomicLong {
                name,
                op: LongOp::Get,
            } => Ok(Reply::Long(
                self.objects.longs.get(name).copied().unwrap_or(0),
            )),
            Op::AtomicReference { name, op } => self.query_reference(name, op),
            Op::Lock { name, handle, op } => self.query_lock(
                name,
                Owner {
                    session,
                    handle: *handle,
                },
                op,
            ),
            Op::Semaphore {
                name,
                op: SemaphoreOp::AvailablePermits,
                ..
            } => self.query_semaphore(name),
            Op::Latch {
                name,
                op: LatchOp::GetCount,
            } => self.query_latch(name),
            _ => Err(not_a_read(op.name())),
        }
    }

    pub(super) fn query_reference(&self, name: &str, op: &RefOp) -> Result<Reply, OpError> {
        let current = self.objects.references.get(name);
        Ok(match op {
            RefOp::IsNull => Reply::Bool(current.is_none()),
            RefOp::Contains(value) => Reply::Bool(same_value(current, value.as_ref())),
            _ => Reply::Value(current.cloned()),
        })
    }

    pub(super) fn query_lock(
        &self,
        name: &str,
        owner: Owner,
        op: &LockOp,
    ) -> Result<Reply, OpError> {
        let lock = self.objects.locks.get(name);
        let holder = lock.and_then(|lock| lock.holder.as_ref());
        let mine = lock.and_then(|lock| lock.held_by(owner));
        Ok(match op {
            LockOp::IsLocked => Reply::Bool(holder.is_some()),
            LockOp::IsLockedByMe => Reply::Bool(mine.is_some()),
            LockOp::LockCount => Reply::Count(holder.map_or(0, |holder| holder.count)),
            LockOp::GetFence => match mine {
                Some(holder) => Reply::Fence(Some(holder.fence)),
                None if self.lost_hold(owner, Kind::Lock, name) => {
                    return Err(OpError::ObjectDestroyed {
                        kind: Kind::Lock.label().into(),
                        name: name.to_owned(),
                    });
                }
                None => {
                    return Err(OpError::NotOwner {
                        kind: "lock".into(),
                        name: name.to_owned(),
                    });
                }
            },
            LockOp::Lock { .. }
            | LockOp::Unlock
            | LockOp::Destroy
            | LockOp::TryLockLeased { .. }
            | LockOp::RenewLease { .. }
            | LockOp::UnlockLeased { .. } => return Err(not_a_read(name)),
        })
    }

    pub(super) fn query_semaphore(&self, name: &str) -> Result<Reply, OpError> {
        Ok(Reply::Count(
            self.objects.semaphores.get(name).map_or(0, |s| s.available),
        ))
    }

    pub(super) fn query_latch(&self, name: &str) -> Result<Reply, OpError> {
        Ok(Reply::Count(
            self.objects
                .latches
                .get(name)
                .map_or(0, |latch| latch.count),
        ))
    }
}

fn not_a_read(name: &str) -> OpError {
    OpError::InvalidArgument {
        reason: format!("operation on \"{name}\" changes state: it must be proposed"),
    }
}
