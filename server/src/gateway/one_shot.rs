//! Session-less operations (`raftcp_proto::one_shot`), as `POST /v1/ops`
//! brings them: each is checked as a connection's request is (name and
//! group, that it needs no session, the token's grant, the quota) before
//! anything is proposed, then proposed under its caller-scoped key
//! (mutations) or read after a ReadIndex barrier. A batch's operations run
//! one after another, in order.
//!
//! A request holds the in-flight budgets of its operations and their
//! answers until its response is written, as a connection's requests do,
//! and stops running operations once its answers pass
//! [`ONE_SHOT_ANSWERS_BYTES_MAX`] or its deadline: those left are answered
//! `UNAVAILABLE` without running (retryable with the same keys).

use super::access::Access;
use super::in_flight_budget::{InFlightBudget, Reserved};
use super::lease;
use super::request::{check_quota, validate_target};
use super::{Gateway, unavailable};
use crate::limits::{ONE_SHOT_ANSWERS_BYTES_MAX, ONE_SHOT_REQUEST_TIMEOUT};
use crate::machine::{
    CommandKind, CommandResponse, NO_SESSION, OneShotKey, OpFingerprint, Outcome,
};
use crate::metrics::kind_index;
use raftcp_proto::{IdempotencyKey, OneShot, OpError, Reply};
use std::sync::Arc;
use std::time::Instant;

/// What answering a request holds until its response is written.
#[derive(Debug)]
pub struct Answered {
    pub results: Vec<Result<Reply, OpError>>,
    /// The budgets of its operations and their answers.
    pub reserved: Vec<Reserved>,
}

/// Answers `ops` for `access`.
pub async fn answer(gateway: &Arc<Gateway>, access: &Access, ops: Vec<OneShot>) -> Answered {
    let budget = InFlightBudget::new(gateway.in_flight_budget.clone());
    let deadline = tokio::time::Instant::now() + ONE_SHOT_REQUEST_TIMEOUT;
    let mut answered = Answered {
        results: Vec::with_capacity(ops.len()),
        reserved: Vec::with_capacity(ops.len()),
    };
    let mut answer_bytes = 0;
    for one in ops {
        if answer_bytes > ONE_SHOT_ANSWERS_BYTES_MAX {
            let reason = format!(
                "not run: the answers before it passed {ONE_SHOT_ANSWERS_BYTES_MAX} bytes; send it again"
            );
            answered.results.push(Err(OpError::Unavailable { reason }));
            continue;
        }
        let since = Instant::now();
        let kind = kind_index(&one.op);
        let bytes = encoded_bytes(&one);
        let run = async {
            let reserved = budget.reserve(&one.op, bytes).await;
            (answer_one(gateway, access, one, bytes).await, reserved)
        };
        let result = match tokio::time::timeout_at(deadline, run).await {
            Ok((result, reserved)) => {
                answered.reserved.push(reserved);
                result
            }
            Err(_) => unavailable(format!(
                "the request took over {ONE_SHOT_REQUEST_TIMEOUT:?}; send it again"
            )),
        };
        answer_bytes += encoded_bytes(&result);
        let metrics = gateway.cluster.metrics();
        metrics.record(kind, result.is_ok(), since.elapsed());
        answered.results.push(result);
    }
    answered
}

fn encoded_bytes(value: &impl serde::Serialize) -> usize {
    postcard::experimental::serialized_size(value).unwrap_or(0)
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
    // As for a session's requests: its kept answer is small, and what
    // shrinks the state must run in a full group.
    if one.op.may_grow_state() {
        check_quota(cluster)?;
    }
    let subject = access.subject();
    let one = OneShot {
        op: lease::seal(one.op, subject.as_deref()),
        ..one
    };
    let command = CommandKind::OneShot {
        key: scoped_key(subject.as_deref(), one.key),
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
    let hashed = lease::under_subject(b"raftcp one-shot key\0", subject, &key.0);
    let mut scoped = [0u8; 16];
    scoped.copy_from_slice(&hashed[..16]);
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
