//! Session-less operations (`raftcp_proto::one_shot`), as `POST /v1/ops`
//! brings them: each is checked as a connection's request is (name and
//! group, that it needs no session, the token's grant, the quota) before
//! anything is proposed, then proposed under its caller-scoped key
//! (mutations) or read after a ReadIndex barrier. A batch's operations run
//! one after another, in order.

use super::access::Access;
use super::in_flight_budget::InFlightBudget;
use super::request::{check_quota, validate_target};
use super::{Gateway, unavailable};
use crate::machine::{
    CommandKind, CommandResponse, NO_SESSION, OneShotKey, OpFingerprint, Outcome,
};
use crate::metrics::kind_index;
use raftcp_proto::{IdempotencyKey, OneShot, OpError, Reply};
use std::sync::Arc;
use std::time::Instant;

/// Answers `ops`, which came in a body `bytes` long, for `access`.
pub async fn answer(
    gateway: &Arc<Gateway>,
    access: &Access,
    ops: Vec<OneShot>,
    bytes: usize,
) -> Vec<Result<Reply, OpError>> {
    let budget = InFlightBudget::new(gateway.in_flight_budget.clone());
    // Each operation is charged the whole body: an upper bound.
    let mut results = Vec::with_capacity(ops.len());
    for one in ops {
        let since = Instant::now();
        let kind = kind_index(&one.op);
        let _reserved = budget.reserve(&one.op, bytes).await;
        let result = answer_one(gateway, access, one, bytes).await;
        let metrics = gateway.cluster.metrics();
        metrics.record(kind, result.is_ok(), since.elapsed());
        results.push(result);
    }
    results
}

async fn answer_one(
    gateway: &Gateway,
    access: &Access,
    one: OneShot,
    bytes: usize,
) -> Result<Reply, OpError> {
    validate_target(&one.group, &one.op)?;
    if one.op.needs_session() {
        let op = one.op.label().into();
        return Err(OpError::SessionRequired { op });
    }
    access.check(&one.op, &one.group)?;
    let cluster = &gateway.cluster;
    if !one.op.is_mutating() {
        let read = Box::pin(cluster.read(NO_SESSION, one.op)).await;
        return read.unwrap_or_else(unavailable);
    }
    // Every mutation keeps an answer, so every one may grow the state.
    check_quota(cluster)?;
    let command = CommandKind::OneShot {
        key: scoped_key(access.subject().as_deref(), one.key),
        fingerprint: fingerprint(&one),
        op: one.op,
    };
    match gateway.driver.propose_sized(command, bytes).await {
        Ok(CommandResponse::Client(Outcome::Done(result))) => result,
        Ok(CommandResponse::Refused(error)) => Err(error),
        Ok(other) => unavailable(format!("unexpected answer {other:?}")),
        Err(error) => unavailable(error),
    }
}

/// The key as the machine keeps it: the caller's key under the caller's
/// token subject, so equal keys of two callers are two operations and no
/// caller can read another's answers.
fn scoped_key(subject: Option<&str>, key: IdempotencyKey) -> OneShotKey {
    let mut hash = ring::digest::Context::new(&ring::digest::SHA256);
    hash.update(b"raftcp one-shot key\0");
    match subject {
        None => hash.update(&[0]),
        Some(subject) => {
            hash.update(&[1]);
            hash.update(&(subject.len() as u64).to_le_bytes());
            hash.update(subject.as_bytes());
        }
    }
    hash.update(&key.0);
    let mut scoped = [0u8; 16];
    scoped.copy_from_slice(&hash.finish().as_ref()[..16]);
    OneShotKey(scoped)
}

/// Names the operation (and its group) a key is used for.
fn fingerprint(one: &OneShot) -> OpFingerprint {
    let mut hash = ring::digest::Context::new(&ring::digest::SHA256);
    // Both always encode (they were decoded); an empty encoding would only
    // make every fingerprint equal.
    hash.update(&postcard::to_allocvec(&one.group).unwrap_or_default());
    hash.update(&postcard::to_allocvec(&one.op).unwrap_or_default());
    let mut fingerprint = [0u8; 8];
    fingerprint.copy_from_slice(&hash.finish().as_ref()[..8]);
    OpFingerprint(fingerprint)
}

#[cfg(test)]
mod tests {
    use super::*;
    use raftcp_proto::{GroupName, LongOp, Op};

    fn add(delta: i64) -> OneShot {
        OneShot {
            key: IdempotencyKey([7; 16]),
            group: GroupName::default_group(),
            op: Op::AtomicLong {
                name: "n".into(),
                op: LongOp::AddAndGet(delta),
            },
        }
    }

    #[test]
    fn keys_are_scoped_by_subject() {
        let key = IdempotencyKey([1; 16]);
        let anonymous = scoped_key(None, key);
        assert_eq!(anonymous, scoped_key(None, key));
        assert_ne!(anonymous, scoped_key(Some(""), key));
        assert_ne!(scoped_key(Some("a"), key), scoped_key(Some("b"), key));
        assert_ne!(anonymous, scoped_key(None, IdempotencyKey([2; 16])));
    }

    #[test]
    fn fingerprints_tell_operations_apart() {
        assert_eq!(fingerprint(&add(1)), fingerprint(&add(1)));
        assert_ne!(fingerprint(&add(1)), fingerprint(&add(2)));
    }
}
