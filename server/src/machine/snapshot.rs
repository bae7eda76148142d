//! Whole-machine snapshots: postcard of the primary state. Derived indexes
//! are rebuilt and every invariant re-checked on restore, so a corrupt or
//! foreign snapshot is refused instead of served.

use super::Machine;
use super::command::SessionOwner;
use super::destroy::LostHolds;
use super::invariants::InvariantViolation;
use super::objects::Objects;
use super::sessions::Sessions;
use super::waits::Waits;
use raftcp_proto::SessionId;
use serde::Deserialize;
use std::collections::BTreeMap;

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
            Err(error) => match decode_earlier_layout(bytes) {
                Some(machine) => machine,
                None => return Err(error.into()),
            },
        };
        // Written before idle objects were dropped, it may hold some.
        machine.drop_all_idle();
        machine.sessions.rebuild_index();
        machine.usage = machine.count_usage();
        machine.waits.rebuild_index();
        machine.one_shots.rebuild();
        machine.check_invariants()?;
        Ok(machine)
    }
}

/// A snapshot written by an earlier release: the same layout cut short
/// before the fields added since (a tuple struct decodes the same fields in
/// the same order).
fn decode_earlier_layout(bytes: &[u8]) -> Option<Machine> {
    use raftcp_proto::codec::decode_bounded;
    let max = SNAPSHOT_BYTES_MAX;
    let (now_ms, last_applied, sessions, objects, waits, owners, lost_holds) =
        if let Ok(MachineWithoutOneShots(n, l, s, o, w, owners, lost)) = decode_bounded(bytes, max)
        {
            (n, l, s, o, w, owners, lost)
        } else if let Ok(MachineWithoutLostHolds(n, l, s, o, w, owners)) =
            decode_bounded(bytes, max)
        {
            (n, l, s, o, w, owners, LostHolds::new())
        } else {
            let MachineWithoutOwners(n, l, s, o, w) = decode_bounded(bytes, max).ok()?;
            (n, l, s, o, w, BTreeMap::new(), LostHolds::new())
        };
    Some(Machine {
        now_ms,
        last_applied,
        sessions,
        objects,
        waits,
        owners,
        lost_holds,
        one_shots: Default::default(),
        usage: Default::default(),
        planted: None,
        noting: None,
    })
}

/// Before session-less operations.
#[derive(Deserialize)]
struct MachineWithoutOneShots(
    u64,
    u64,
    Sessions,
    Objects,
    Waits,
    BTreeMap<SessionId, SessionOwner>,
    LostHolds,
);

/// Before holds lost to a destroy were kept.
#[derive(Deserialize)]
struct MachineWithoutLostHolds(
    u64,
    u64,
    Sessions,
    Objects,
    Waits,
    BTreeMap<SessionId, SessionOwner>,
);

/// Before sessions had owners.
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
        // And before lost holds, with an idle object it kept then.
        let mut machine = restored;
        machine.objects.longs.insert("zero".into(), 0);
        let m = &machine;
        let layout = (
            m.now_ms,
            m.last_applied,
            &m.sessions,
            &m.objects,
            &m.waits,
            &m.owners,
        );
        let bytes = postcard::to_allocvec(&layout).unwrap();
        let restored = Machine::restore(&bytes).unwrap();
        machine.objects.longs.remove("zero");
        assert_eq!(restored, machine);
    }
}
