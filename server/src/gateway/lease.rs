//! Lease secrets never reach the log: before an operation that carries one
//! is proposed, the member replaces it with its hash under the caller's
//! token subject. The machine keeps and compares only hashes, so a replica
//! cannot end a lease, and one subject cannot end another's even with its
//! secret.

use raftcp_proto::{LeaseSecret, LockOp, Op, SemaphoreOp};

/// `op` with its lease secret, if it carries one, sealed for `subject`.
pub fn seal(mut op: Op, subject: Option<&str>) -> Op {
    let secret = match &mut op {
        Op::Lock {
            op:
                LockOp::TryLockLeased { secret, .. }
                | LockOp::RenewLease { secret, .. }
                | LockOp::UnlockLeased { secret, .. },
            ..
        }
        | Op::Semaphore {
            op:
                SemaphoreOp::TryAcquireLeased { secret, .. }
                | SemaphoreOp::RenewLease { secret, .. }
                | SemaphoreOp::ReleaseLeased { secret, .. },
            ..
        } => secret,
        _ => return op,
    };
    *secret = sealed(secret, subject);
    op
}

fn sealed(secret: &LeaseSecret, subject: Option<&str>) -> LeaseSecret {
    LeaseSecret(under_subject(b"raftcp lease secret\0", subject, &secret.0))
}

/// SHA-256 of `value` under `subject` (none: anonymous callers) for the
/// use `label` names: what members replicate instead of a caller's secrets
/// and keys, so equal values of two callers stay apart.
pub fn under_subject(label: &[u8], subject: Option<&str>, value: &[u8]) -> [u8; 32] {
    let mut hash = ring::digest::Context::new(&ring::digest::SHA256);
    hash.update(label);
    match subject {
        None => hash.update(&[0]),
        Some(subject) => {
            hash.update(&[1]);
            hash.update(&(subject.len() as u64).to_le_bytes());
            hash.update(subject.as_bytes());
        }
    }
    hash.update(value);
    let mut hashed = [0u8; 32];
    hashed.copy_from_slice(hash.finish().as_ref());
    hashed
}

#[cfg(test)]
mod tests {
    use super::*;
    use raftcp_proto::{HandleId, SessionId};

    fn unlock(secret: [u8; 32]) -> Op {
        Op::Lock {
            name: "job".into(),
            handle: HandleId(0),
            op: LockOp::UnlockLeased {
                lease: SessionId(7),
                secret: LeaseSecret(secret),
            },
        }
    }

    #[test]
    fn secrets_are_replaced_by_hashes_per_subject() {
        let sealed_for = |subject| seal(unlock([1; 32]), subject);
        assert_ne!(sealed_for(None), unlock([1; 32]));
        assert_eq!(sealed_for(Some("alice")), sealed_for(Some("alice")));
        assert_ne!(sealed_for(Some("alice")), sealed_for(Some("bob")));
        assert_ne!(sealed_for(None), sealed_for(Some("")));
        // Operations without a secret pass unchanged.
        let plain = Op::Lock {
            name: "job".into(),
            handle: HandleId(0),
            op: LockOp::Unlock,
        };
        assert_eq!(seal(plain.clone(), Some("alice")), plain);
    }
}
