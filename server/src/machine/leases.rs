//! Locks and permits held under a lease instead of a session, for callers
//! that live for one request. A lease is a session the machine opens for
//! it, with the lease's TTL and no client: it holds the lock or permits as
//! its handle 0, runs out as sessions expire (by the leader's command time,
//! passing what it held to the next waiter), and is renewed or ended by
//! whoever shows its secret's hash (the gateway hashes the secret under
//! the caller's token subject before the operation is replicated). A new
//! leader renews clients' sessions on taking office, not leases: a lease's
//! time runs whatever its holder does. Leases are told apart by their
//! session's name ([`LEASE_CLIENT_NAME`]), which clients may not take.

use super::Machine;
use super::command::{Effect, Outcome, SessionOwner};
use super::destroy::Kind;
use super::owner::Owner;
use raftcp_proto::limits::LEASES_STOP_AT_SESSIONS;
use raftcp_proto::{
    HandleId, Lease, LeaseId, LeaseSecret, LockOp, OpError, Reply, RequestId, SemaphoreOp,
    SessionId,
};

/// The name leases show as clients (`admin sessions`, the dashboard).
pub const LEASE_CLIENT_NAME: &str = "lease";

/// The handle a lease holds its lock as.
const LEASE_HANDLE: HandleId = HandleId(0);

impl Machine {
    /// Carries out a lease operation on lock `name` (`None` for the
    /// others): the lease is the holder, whoever asks.
    pub(super) fn lock_lease_op(
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
            LockOp::RenewLease { lease, secret } => {
                self.renew_lease(Kind::Lock, name, lease, secret)
            }
            LockOp::UnlockLeased { lease, secret } => {
                self.end_lease(index, Kind::Lock, name, lease, secret, effects)
            }
            _ => return None,
        })
    }

    /// [`Machine::lock_lease_op`] for semaphores.
    pub(super) fn semaphore_lease_op(
        &mut self,
        index: u64,
        name: &str,
        op: &SemaphoreOp,
        effects: &mut Vec<Effect>,
    ) -> Option<Result<Reply, OpError>> {
        Some(match *op {
            SemaphoreOp::TryAcquireLeased {
                permits,
                lease_ms,
                secret,
            } => self.try_acquire_leased(index, name, permits, lease_ms, secret, effects),
            SemaphoreOp::RenewLease { lease, secret } => {
                self.renew_lease(Kind::Semaphore, name, lease, secret)
            }
            SemaphoreOp::ReleaseLeased { lease, secret } => {
                self.end_lease(index, Kind::Semaphore, name, lease, secret, effects)
            }
            _ => return None,
        })
    }

    /// Whether `session` is a lease (leases are named so; clients may not
    /// take the name).
    pub(super) fn is_lease(&self, session: SessionId) -> bool {
        self.sessions
            .get(session)
            .is_some_and(|s| s.client_name == LEASE_CLIENT_NAME)
    }

    /// A session for a new lease at log position `index`, or why there is
    /// none. Leases stop short of `SESSIONS_MAX`: whoever fills the group
    /// with leases leaves room for clients' sessions.
    fn open_lease(
        &mut self,
        index: u64,
        lease_ms: u64,
        secret: LeaseSecret,
    ) -> Result<Owner, OpError> {
        if self.sessions.len() >= LEASES_STOP_AT_SESSIONS {
            let max = LEASES_STOP_AT_SESSIONS as u64;
            return Err(OpError::TooManySessions { max });
        }
        let lease = SessionId(index);
        self.sessions
            .open(lease, LEASE_CLIENT_NAME.into(), lease_ms, self.now_ms);
        let owner = SessionOwner {
            secret_hash: secret.0,
            subject: None,
        };
        self.owners.insert(lease, owner);
        Ok(Owner {
            session: lease,
            handle: LEASE_HANDLE,
        })
    }

    /// `try_acquire_leased`: a new lease that holds `permits` of `name`, or
    /// none if they are not available now.
    fn try_acquire_leased(
        &mut self,
        index: u64,
        name: &str,
        permits: u32,
        lease_ms: u64,
        secret: LeaseSecret,
        effects: &mut Vec<Effect>,
    ) -> Result<Reply, OpError> {
        let holder = self.open_lease(index, lease_ms, secret)?;
        let attempt = SemaphoreOp::Acquire {
            permits,
            timeout_ms: Some(0),
        };
        let attempted = self.measuring(Kind::Semaphore, name, |machine| {
            let attempted = machine.semaphore_op(name, holder, RequestId(0), attempt, effects);
            machine.drop_if_idle(Kind::Semaphore, name);
            attempted
        });
        let taken = match attempted {
            Outcome::Done(Ok(Reply::Bool(true))) => Ok(Reply::PermitsLeased(Some(holder.session))),
            Outcome::Done(Ok(_)) | Outcome::Pending | Outcome::Awaited => {
                Ok(Reply::PermitsLeased(None))
            }
            Outcome::Done(Err(error)) => Err(error),
        };
        if !matches!(taken, Ok(Reply::PermitsLeased(Some(_)))) {
            self.end_sessions(index, &[holder.session], effects);
        }
        taken
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
        let holder = self.open_lease(index, lease_ms, secret)?;
        let lease = holder.session;
        let attempt = LockOp::Lock {
            timeout_ms: Some(0),
            reentrancy_limit: 1,
        };
        let attempted = self.measuring(Kind::Lock, name, |machine| {
            let attempted = machine.lock_op(index, name, holder, RequestId(0), attempt, effects);
            machine.drop_if_idle(Kind::Lock, name);
            attempted
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
        kind: Kind,
        name: &str,
        lease: LeaseId,
        secret: LeaseSecret,
    ) -> Result<Reply, OpError> {
        self.check_lease(kind, name, lease, secret)?;
        self.sessions.touch(lease, self.now_ms);
        Ok(Reply::Unit)
    }

    /// `unlock_leased`, `release_leased`: ends the lease, which releases
    /// what it holds.
    fn end_lease(
        &mut self,
        index: u64,
        kind: Kind,
        name: &str,
        lease: LeaseId,
        secret: LeaseSecret,
        effects: &mut Vec<Effect>,
    ) -> Result<Reply, OpError> {
        self.check_lease(kind, name, lease, secret)?;
        self.end_sessions(index, &[lease], effects);
        Ok(Reply::Unit)
    }

    /// The lease is live, shown with its secret, and holds `name` (of
    /// `kind`); otherwise it ran out or was ended (or is someone else's),
    /// and no longer holds it.
    fn check_lease(
        &self,
        kind: Kind,
        name: &str,
        lease: LeaseId,
        secret: LeaseSecret,
    ) -> Result<(), OpError> {
        let lost = || OpError::LockOwnershipLost {
            name: name.to_owned(),
        };
        let owner = self.owners.get(&lease).ok_or_else(lost)?;
        let session = self.sessions.get(lease).ok_or_else(lost)?;
        let holds = match kind {
            Kind::Lock => session.locks.contains(name),
            Kind::Semaphore => session.semaphores.contains(name),
            _ => false,
        };
        let leased = session.client_name == LEASE_CLIENT_NAME && owner.subject.is_none();
        match owner.secret_hash == secret.0 && leased && holds {
            true => Ok(()),
            false => Err(lost()),
        }
    }
}
