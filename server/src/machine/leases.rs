//! Locks held under a lease instead of a session, for callers that live
//! for one request. A lease is a session the machine opens for it, with the
//! lease's TTL and no client: it holds the lock as its handle 0, runs out
//! as sessions expire (by the leader's command time, releasing the lock to
//! the next waiter), and is renewed or ended by whoever shows its secret's
//! hash (the gateway hashes the secret under the caller's token subject
//! before the operation is replicated). A new leader renews every session
//! on taking office, leases included: an election delays a lease's end,
//! never brings it forward.

use super::Machine;
use super::command::{Effect, Outcome, SessionOwner};
use super::destroy::Kind;
use super::owner::Owner;
use raftcp_proto::limits::SESSIONS_MAX;
use raftcp_proto::{
    HandleId, Lease, LeaseId, LeaseSecret, LockOp, OpError, Reply, RequestId, SessionId,
};

/// The name leases show as clients (`admin sessions`, the dashboard).
pub const LEASE_CLIENT_NAME: &str = "lease";

/// The handle a lease holds its lock as.
const LEASE_HANDLE: HandleId = HandleId(0);

impl Machine {
    /// Carries out a lease operation on lock `name` (`None` for the
    /// others): the lease is the holder, whoever asks.
    pub(super) fn lease_op(
        &mut self,
        index: u64,
        name: &str,
        op: &LockOp,
        effects: &mut Vec<Effect>,
    ) -> Option<Result<Reply, OpError>> {
        Some(match *op {
            LockOp::TryLockLeased { lease_ms, secret } => {
                self.try_lock_leased(index, name, lease_ms, secret, effects)
            }
            LockOp::RenewLease { lease, secret } => self.renew_lease(name, lease, secret),
            LockOp::UnlockLeased { lease, secret } => {
                self.unlock_leased(index, name, lease, secret, effects)
            }
            _ => return None,
        })
    }

    /// `try_lock_leased`: a new lease that holds `name`, or none if the
    /// lock is held. The lease is the session `SessionId(index)`, as any
    /// session opened at this position would be.
    fn try_lock_leased(
        &mut self,
        index: u64,
        name: &str,
        lease_ms: u64,
        secret: LeaseSecret,
        effects: &mut Vec<Effect>,
    ) -> Result<Reply, OpError> {
        if self.sessions.len() >= SESSIONS_MAX {
            let max = SESSIONS_MAX as u64;
            return Err(OpError::TooManySessions { max });
        }
        let lease = SessionId(index);
        let ttl_ms = lease_ms;
        self.sessions
            .open(lease, LEASE_CLIENT_NAME.into(), ttl_ms, self.now_ms);
        let owner = SessionOwner {
            secret_hash: secret.0,
            subject: None,
        };
        self.owners.insert(lease, owner);
        let holder = Owner {
            session: lease,
            handle: LEASE_HANDLE,
        };
        let attempt = LockOp::Lock {
            timeout_ms: Some(0),
            reentrancy_limit: 1,
        };
        let attempted = self.measuring(Kind::Lock, name, |machine| {
            machine.lock_op(index, name, holder, RequestId(0), attempt, effects)
        });
        let taken = match attempted {
            Outcome::Done(Ok(Reply::Fence(Some(fence)))) => {
                Ok(Reply::Lease(Some(Lease { id: lease, fence })))
            }
            Outcome::Done(Ok(_)) => Ok(Reply::Lease(None)),
            Outcome::Done(Err(error)) => Err(error),
            // A zero timeout never queues; kept total.
            Outcome::Pending | Outcome::Awaited => Ok(Reply::Lease(None)),
        };
        if !matches!(taken, Ok(Reply::Lease(Some(_)))) {
            // Nothing to hold: the lease ends with this command.
            self.end_sessions(index, &[lease], effects);
        }
        taken
    }

    /// `renew_lease`: another TTL from now, for the lease's own holder.
    fn renew_lease(
        &mut self,
        name: &str,
        lease: LeaseId,
        secret: LeaseSecret,
    ) -> Result<Reply, OpError> {
        self.check_lease(name, lease, secret)?;
        self.sessions.touch(lease, self.now_ms);
        Ok(Reply::Unit)
    }

    /// `unlock_leased`: ends the lease, which releases the lock.
    fn unlock_leased(
        &mut self,
        index: u64,
        name: &str,
        lease: LeaseId,
        secret: LeaseSecret,
        effects: &mut Vec<Effect>,
    ) -> Result<Reply, OpError> {
        self.check_lease(name, lease, secret)?;
        self.end_sessions(index, &[lease], effects);
        Ok(Reply::Unit)
    }

    /// The lease is live, shown with its secret, and holds lock `name`;
    /// otherwise it ran out or was ended (or is someone else's), and its
    /// lock is no longer held.
    fn check_lease(&self, name: &str, lease: LeaseId, secret: LeaseSecret) -> Result<(), OpError> {
        let lost = || OpError::LockOwnershipLost {
            name: name.to_owned(),
        };
        let owner = self.owners.get(&lease).ok_or_else(lost)?;
        let session = self.sessions.get(lease).ok_or_else(lost)?;
        let holds = session.client_name == LEASE_CLIENT_NAME && session.locks.contains(name);
        match owner.secret_hash == secret.0 && owner.subject.is_none() && holds {
            true => Ok(()),
            false => Err(lost()),
        }
    }
}
