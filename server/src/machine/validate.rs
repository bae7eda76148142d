//! Checks on a client operation before it touches state. Every failure is a
//! typed error with the offending value; nothing here panics.

use super::sessions::Acknowledged;
use raftcp_proto::limits::{
    ACKED_EXCEPT_MAX, CLIENT_NAME_BYTES_MAX, LEASE_MS_MAX, LEASE_MS_MIN, VALUE_BYTES_MAX,
    VALUE_DEPTH_MAX,
};
use raftcp_proto::name::validate_name;
use raftcp_proto::{LatchOp, LockOp, Op, OpError, RefOp, SemaphoreOp, Value};

pub fn validate_op(op: &Op) -> Result<(), OpError> {
    validate_name(op.name())?;
    match op {
        Op::AtomicReference { op, .. } => match op {
            RefOp::Set(value) | RefOp::GetAndSet(value) | RefOp::Contains(value) => {
                validate_value(value.as_ref())
            }
            RefOp::CompareAndSet { expect, update } => {
                validate_value(expect.as_ref())?;
                validate_value(update.as_ref())
            }
            RefOp::Get | RefOp::IsNull | RefOp::Destroy => Ok(()),
        },
        Op::Semaphore {
            op: SemaphoreOp::Acquire { permits, .. } | SemaphoreOp::Release { permits },
            ..
        } => positive("permits", *permits),
        Op::Semaphore {
            op: SemaphoreOp::TryAcquireLeased {
                permits, lease_ms, ..
            },
            ..
        } => positive("permits", *permits).and_then(|()| lease_length(*lease_ms)),
        Op::Latch {
            op: LatchOp::TrySetCount { count },
            ..
        } => positive("count", *count),
        Op::Lock {
            op: LockOp::TryLockLeased { lease_ms, .. },
            ..
        } => lease_length(*lease_ms),
        _ => Ok(()),
    }
}

fn lease_length(lease_ms: u64) -> Result<(), OpError> {
    match (LEASE_MS_MIN..=LEASE_MS_MAX).contains(&lease_ms) {
        true => Ok(()),
        false => Err(OpError::InvalidArgument {
            reason: format!("a lease of {lease_ms} ms: from {LEASE_MS_MIN} to {LEASE_MS_MAX} ms"),
        }),
    }
}

/// `acked_except` lists at most `ACKED_EXCEPT_MAX` ids, ascending, each
/// below the watermark.
pub fn validate_acknowledged(acknowledged: Acknowledged<'_>) -> Result<(), OpError> {
    let Acknowledged { below, except } = acknowledged;
    let invalid = |reason: String| Err(OpError::InvalidArgument { reason });
    if except.len() > ACKED_EXCEPT_MAX {
        let count = except.len();
        return invalid(format!(
            "acked_except lists {count} requests: at most {ACKED_EXCEPT_MAX} allowed"
        ));
    }
    if let Some(pair) = except.windows(2).find(|pair| pair[0] >= pair[1]) {
        let (first, then) = (pair[0], pair[1]);
        return invalid(format!(
            "acked_except lists {then} after {first}: ids must ascend"
        ));
    }
    match except.last() {
        Some(last) if *last >= below => invalid(format!(
            "acked_except lists {last}, not below acked_below {below}"
        )),
        _ => Ok(()),
    }
}

/// A client name in `Hello` is at most `CLIENT_NAME_BYTES_MAX` bytes.
pub fn validate_client_name(client_name: &str) -> Result<(), OpError> {
    if client_name.len() > CLIENT_NAME_BYTES_MAX {
        return Err(OpError::InvalidArgument {
            reason: format!(
                "client name is {} bytes: at most {CLIENT_NAME_BYTES_MAX} allowed",
                client_name.len()
            ),
        });
    }
    Ok(())
}

fn positive(what: &str, n: u32) -> Result<(), OpError> {
    if n == 0 {
        return Err(OpError::InvalidArgument {
            reason: format!("{what} must be positive, got 0"),
        });
    }
    Ok(())
}

fn validate_value(value: Option<&Value>) -> Result<(), OpError> {
    let Some(value) = value else { return Ok(()) };
    let depth = value.depth();
    if depth > VALUE_DEPTH_MAX {
        return Err(OpError::InvalidArgument {
            reason: format!("value nests {depth} levels: at most {VALUE_DEPTH_MAX} allowed"),
        });
    }
    let bytes = value.encoded_len();
    if bytes > VALUE_BYTES_MAX {
        return Err(OpError::ValueTooLarge {
            bytes: bytes as u64,
            max: VALUE_BYTES_MAX as u64,
        });
    }
    Ok(())
}
