//! Whole-machine snapshots: postcard of the primary state. Derived indexes
//! are rebuilt and every invariant re-checked on restore, so a corrupt or
//! foreign snapshot is refused instead of served.

use super::Machine;
use super::invariants::InvariantViolation;

/// Snapshots hold the whole group; they may be far larger than a frame.
pub const SNAPSHOT_BYTES_MAX: usize = 4 * 1024 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("snapshot does not decode: {0}")]
    Decode(#[from] raftcp_proto::CodecError),
    #[error("snapshot breaks an invariant: {0}")]
    Invariant(#[from] InvariantViolation),
}

impl Machine {
    pub fn snapshot(&self) -> Vec<u8> {
        // Every field type serializes infallibly into a Vec.
        postcard::to_allocvec(self).expect("machine state always serializes")
    }

    pub fn restore(bytes: &[u8]) -> Result<Machine, RestoreError> {
        let mut machine: Machine = raftcp_proto::codec::decode_bounded(bytes, SNAPSHOT_BYTES_MAX)?;
        machine.sessions.rebuild_index();
        machine.waits.rebuild_index();
        machine.check_invariants()?;
        Ok(machine)
    }
}
