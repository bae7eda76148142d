//! What the fuzz targets check (`fuzz/fuzz_targets`, run by `scripts/fuzz`),
//! as plain functions: the same checks replay the saved corpus and a fixed
//! set of mutations of it in every `cargo test` (`tests/tests/fuzz_replay.rs`).
//! Each takes arbitrary bytes and panics only on a real bug.

use raftcp_proto::codec::decode_each;
use raftcp_proto::limits::FRAME_BYTES_MAX;
use raftcp_proto::{ClientFrame, ServerFrame};
use raftcp_server::machine::{Command, CommandKind, Machine};
use raftcp_server::raft::network::decode_peer_frame;

/// The client frame decoder never panics, and whatever it accepts encodes
/// to bytes it accepts again, identically.
pub fn client_frames(data: &[u8]) {
    let Ok(frames) = decode_each::<ClientFrame>(data, FRAME_BYTES_MAX) else {
        return;
    };
    for (frame, _) in frames {
        let bytes = postcard::to_allocvec(&frame).expect("a decoded frame encodes");
        let again: ClientFrame = raftcp_proto::decode(&bytes).expect("re-encoded frame decodes");
        let bytes_again = postcard::to_allocvec(&again).expect("encodes");
        assert_eq!(bytes, bytes_again, "encoding is not stable");
    }
    let _ = raftcp_proto::decode::<ServerFrame>(data);
}

/// The peer frame decoder never panics, whatever comes first on `/v1/raft`.
pub fn peer_frame(data: &[u8]) {
    let _ = decode_peer_frame(data);
}

/// A snapshot either is refused or restores to a machine whose invariants
/// hold and whose own snapshot restores again.
pub fn snapshot(data: &[u8]) {
    let Ok(machine) = Machine::restore(data) else {
        return;
    };
    machine
        .check_invariants()
        .expect("a restored machine keeps its invariants");
    Machine::restore(&machine.snapshot()).expect("a restored machine's snapshot restores");
}

/// Commands back to back, each a postcard `(time step in ms, CommandKind)`,
/// applied as consecutive entries: the machine never panics and keeps every
/// invariant after each (what a snapshot taken then would be checked for).
pub fn command_sequence(data: &[u8]) {
    let mut machine = Machine::new();
    let mut now_ms = 1_700_000_000_000u64;
    let mut rest = data;
    let mut index = 0;
    while let Ok(((step, kind), after)) = postcard::take_from_bytes::<(u16, CommandKind)>(rest) {
        rest = after;
        index += 1;
        now_ms += u64::from(step);
        machine.apply_entry(
            index,
            Command {
                time_ms: now_ms,
                kind,
            },
        );
        if let Err(violation) = machine.check_invariants() {
            panic!("entry {index}: {violation}");
        }
    }
}

/// Encodes commands as [`command_sequence`] reads them, for seeds.
pub fn encode_commands(commands: &[(u16, CommandKind)]) -> Vec<u8> {
    commands
        .iter()
        .flat_map(|command| postcard::to_allocvec(command).expect("commands encode"))
        .collect()
}
