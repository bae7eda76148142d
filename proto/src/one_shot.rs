//! Operations without a session, for callers that live for one request (an
//! edge worker): `POST /v1/ops` on any member, with a postcard
//! [`OneShotBatch`] as its body and a postcard [`OneShotAnswers`] as the
//! answer. A mutation runs exactly once per [`IdempotencyKey`]: a retry
//! with the same key, on any member and after a failover, gets the first
//! answer, for [`crate::limits::ONE_SHOT_KEY_TTL_MS`] after it was applied.
//!
//! Only operations that neither hold nor wait may run without a session:
//! every AtomicLong and AtomicReference operation, a latch's `countDown`,
//! `trySetCount`, `getCount` and `destroy`, and the reads of locks and
//! semaphores that do not ask who holds them ([`crate::Op::needs_session`]).

use crate::error::OpError;
use crate::name::GroupName;
use crate::op::Op;
use crate::reply::Reply;
use serde::{Deserialize, Serialize};

/// Names one session-less operation for its retries: 128 random bits the
/// caller picks per operation (not per attempt). Scoped by the caller's
/// token subject: another caller's equal key is another operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct IdempotencyKey(pub [u8; 16]);

/// One operation of a [`OneShotBatch`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OneShot {
    /// Required for every operation; reads ignore it.
    pub key: IdempotencyKey,
    pub group: GroupName,
    pub op: Op,
}

/// The body of `POST /v1/ops`: operations run one after another, in order,
/// each answered on its own (one failing stops nothing).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OneShotBatch {
    /// Must equal [`crate::PROTOCOL_VERSION`].
    pub protocol_version: u32,
    /// At most [`crate::limits::ONE_SHOTS_PER_BATCH_MAX`].
    pub ops: Vec<OneShot>,
}

/// The answer to `POST /v1/ops`: status 200 with one result per operation,
/// in order; any other status carries one [`OpError`] for the whole batch
/// (a malformed body, a refused token, a body too large).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OneShotAnswers {
    pub results: Vec<Result<Reply, OpError>>,
}
