//! Locks and permits held under a lease instead of the client's session:
//! for callers that live for one request (an edge worker), which can take a
//! lock in one request and end it in another, by its [`LeaseToken`]. Needs
//! no session: over HTTP ([`crate::ClientBuilder::session_less_over_http`])
//! a lease costs one request to take and one to end.

use super::{FencedLock, Semaphore, millis};
use crate::client::unexpected;
use crate::error::{Error, Result};
use crate::runtime;
use raftcp_proto::{Fence, LeaseId, LeaseSecret, LockOp, Reply, SemaphoreOp};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A lock held under a lease: its fence, and the token that renews or ends
/// the lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockLease {
    /// Larger than every earlier grant's, as for [`FencedLock::lock`].
    pub fence: Fence,
    /// Renews or ends the lease, from this client or any other of the same
    /// token subject.
    pub token: LeaseToken,
}

/// What renews or ends a lease: its id and secret. Written as
/// `"<id>.<64 hex digits>"` (`Display`, `FromStr`) to be handed to the
/// request that ends it. Anyone holding it (under the same token subject)
/// can end the lease: keep it as you would a password.
#[derive(Clone, PartialEq, Eq)]
pub struct LeaseToken {
    id: LeaseId,
    secret: LeaseSecret,
}

/// Never shows the secret.
impl fmt::Debug for LeaseToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LeaseToken({}, ..)", self.id.0)
    }
}

impl fmt::Display for LeaseToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.", self.id.0)?;
        self.secret.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl FromStr for LeaseToken {
    type Err = Error;

    /// Never echoes the text: it may hold a secret.
    fn from_str(text: &str) -> Result<LeaseToken> {
        let invalid = || Error::Value("not a lease token (\"<id>.<64 hex digits>\")".into());
        let digits = |part: &str, hex: bool| {
            let allowed = |b: u8| {
                if hex {
                    b.is_ascii_hexdigit()
                } else {
                    b.is_ascii_digit()
                }
            };
            !part.is_empty() && part.bytes().all(allowed)
        };
        let (id, hex) = text.split_once('.').ok_or_else(invalid)?;
        if !digits(id, false) || !digits(hex, true) || hex.len() != 64 {
            return Err(invalid());
        }
        let id = id.parse().map_err(|_| invalid())?;
        let mut secret = [0u8; 32];
        for (byte, pair) in secret.iter_mut().zip(hex.as_bytes().chunks(2)) {
            let pair = std::str::from_utf8(pair).map_err(|_| invalid())?;
            *byte = u8::from_str_radix(pair, 16).map_err(|_| invalid())?;
        }
        Ok(LeaseToken {
            id: raftcp_proto::SessionId(id),
            secret: LeaseSecret(secret),
        })
    }
}

impl FencedLock {
    /// Takes the lock if it is free now, for `lease` (1 s to 1 h) instead
    /// of for this client's session: the lock is released when the lease
    /// runs out, unless renewed ([`FencedLock::renew_lease`]) or ended
    /// first ([`FencedLock::unlock_leased`]). `None` if it is held. The
    /// lease is its own holder, not this handle: this handle's `unlock`
    /// does not end it, and its `lock` waits for it like any other.
    pub async fn try_lock_leased(&self, lease: Duration) -> Result<Option<LockLease>> {
        let secret = LeaseSecret(runtime::random_secret()?);
        let op = LockOp::TryLockLeased {
            lease_ms: millis(lease),
            secret,
        };
        match self.call(op).await? {
            Reply::Lease(Some(lease)) => Ok(Some(LockLease {
                fence: lease.fence,
                token: LeaseToken {
                    id: lease.id,
                    secret,
                },
            })),
            Reply::Lease(None) => Ok(None),
            other => Err(unexpected(other)),
        }
    }

    /// Gives the lease its full length again from now. Fails with
    /// `LockOwnershipLost` once it ran out or was ended (the lock may have
    /// passed to someone else).
    pub async fn renew_lease(&self, token: &LeaseToken) -> Result<()> {
        let op = LockOp::RenewLease {
            lease: token.id,
            secret: token.secret,
        };
        match self.call(op).await? {
            Reply::Unit => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// Ends the lease, releasing the lock. Fails with `LockOwnershipLost`
    /// once it ran out or was ended.
    pub async fn unlock_leased(&self, token: &LeaseToken) -> Result<()> {
        let op = LockOp::UnlockLeased {
            lease: token.id,
            secret: token.secret,
        };
        match self.call(op).await? {
            Reply::Unit => Ok(()),
            other => Err(unexpected(other)),
        }
    }
}

impl Semaphore {
    /// Takes `permits` if they are available now, for `lease` (1 s to 1 h)
    /// instead of for this client's session: they return to the semaphore
    /// when the lease runs out, unless renewed
    /// ([`Semaphore::renew_lease`]) or ended first
    /// ([`Semaphore::release_leased`]). `None` if they are not available.
    /// The lease is its own holder, not this handle.
    pub async fn try_acquire_leased(
        &self,
        permits: u32,
        lease: Duration,
    ) -> Result<Option<LeaseToken>> {
        let secret = LeaseSecret(runtime::random_secret()?);
        let op = SemaphoreOp::TryAcquireLeased {
            permits,
            lease_ms: millis(lease),
            secret,
        };
        match self.call(op).await? {
            Reply::PermitsLeased(Some(id)) => Ok(Some(LeaseToken { id, secret })),
            Reply::PermitsLeased(None) => Ok(None),
            other => Err(unexpected(other)),
        }
    }

    /// Gives the lease its full length again from now. Fails with
    /// `LockOwnershipLost` once it ran out or was ended.
    pub async fn renew_lease(&self, token: &LeaseToken) -> Result<()> {
        let op = SemaphoreOp::RenewLease {
            lease: token.id,
            secret: token.secret,
        };
        match self.call(op).await? {
            Reply::Unit => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// Ends the lease, returning its permits. Fails with
    /// `LockOwnershipLost` once it ran out or was ended.
    pub async fn release_leased(&self, token: &LeaseToken) -> Result<()> {
        let op = SemaphoreOp::ReleaseLeased {
            lease: token.id,
            secret: token.secret,
        };
        match self.call(op).await? {
            Reply::Unit => Ok(()),
            other => Err(unexpected(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_read_back_what_they_write() {
        let token = LeaseToken {
            id: raftcp_proto::SessionId(42),
            secret: LeaseSecret([0xab; 32]),
        };
        let text = token.to_string();
        assert_eq!(text, format!("42.{}", "ab".repeat(32)));
        assert_eq!(text.parse::<LeaseToken>().unwrap(), token);
        assert!(!format!("{token:?}").contains("ab"));
        for bad in [
            "",
            "42",
            "x.ab",
            "42.abc",
            &format!("42.{}", "zz".repeat(32)),
        ] {
            assert!(bad.parse::<LeaseToken>().is_err(), "{bad:?}");
        }
    }
}
