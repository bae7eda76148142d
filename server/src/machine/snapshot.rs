//! Whole-machine snapshots: postcard of the primary state. Derived indexes
//! are rebuilt and every invariant re-checked on restore, so a corrupt or
//! foreign snapshot is refused instead of served.

use super::Machine;
use super::invariants::InvariantViolation;
use super::objects::Objects;
use super::sessions::Sessions;
use super::waits::Waits;
use serde::Deserialize;

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
        let decoded = raftcp_proto::codec::decode_bounded(bytes, SNAPSHOT_BYTES_MAX);
        let mut machine: Machine = match decoded {
            Ok(machine) => machine,
            // Written before sessions had owners: the same layout without
            // the last field.
            Err(error) => match raftcp_proto::codec::decode_bounded(bytes, SNAPSHOT_BYTES_MAX) {
                Ok(MachineWithoutOwners(now_ms, last_applied, sessions, objects, waits)) => {
                    Machine {
                        now_ms,
                        last_applied,
                        sessions,
                        objects,
                        waits,
                        owners: Default::default(),
                    }
                }
                Err(_) => return Err(error.into()),
            },
        };
        machine.sessions.rebuild_index();
        machine.waits.rebuild_index();
        machine.check_invariants()?;
        Ok(machine)
    }
}

/// A snapshot's layout before sessions had owners (a tuple struct decodes
/// the same fields in the same order).
#[derive(Deserialize)]
struct MachineWithoutOwners(u64, u64, Sessions, Objects, Waits);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::{Command, CommandKind};

    #[test]
    fn a_snapshot_from_before_session_owners_restores() {
        let mut machine = Machine::new();
        let open = CommandKind::OpenSession {
            client_name: "old".into(),
            ttl_ms: 60_000,
        };
        machine.apply(
            1,
            Command {
                time_ms: 5,
                kind: open,
            },
        );
        let m = &machine;
        let old_layout = (m.now_ms, m.last_applied, &m.sessions, &m.objects, &m.waits);
        let bytes = postcard::to_allocvec(&old_layout).unwrap();
        let restored = Machine::restore(&bytes).unwrap();
        assert_eq!(restored, machine);
        assert!(Machine::restore(&bytes[..bytes.len() - 1]).is_err());
    }
}
