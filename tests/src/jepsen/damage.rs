//! Damage to a stopped member's files, as a failing disk does it: a bit
//! flipped in data it had synced, or a file cut short. Every file damaged
//! here is one a member reads whole at start, and checks (a checksum per
//! log record, a seal around the others), so the member must refuse to
//! start; it is then replaced through the runbook.
//!
//! Cutting the newest WAL file is not among them: it is the torn tail a
//! power cut leaves, which a member cannot tell from a cut of records it
//! had synced, so it goes on, recovering (the `log-tail` fault;
//! docs/reliability.md).

use super::Rng;
use raftcp_server::storage::identity::IDENTITY_FILE;
use raftcp_server::storage::known_peers::KNOWN_PEERS_FILE;
use std::path::{Path, PathBuf};

/// The kinds of damage, taken in turn: a run of a few rounds meets each.
#[derive(Clone, Copy, Debug)]
enum Kind {
    SnapshotBit,
    LogBit,
    /// A bit of the identity or the known-peers file.
    MetadataBit,
    /// The snapshot, or a WAL file other than the newest, cut short.
    Cut,
}

const ROTATION: [Kind; 4] = [
    Kind::SnapshotBit,
    Kind::LogBit,
    Kind::MetadataBit,
    Kind::Cut,
];

/// What [`damage`] did.
#[derive(Debug)]
pub struct Damage {
    pub description: String,
    /// Whether a file was changed (else there was none to damage).
    pub done: bool,
}

/// Damages one file of the member whose data is in `data_dir` (stopped),
/// with the kind of damage `round` stands for; `round` moves on to the
/// next kind once this one found a file (a member may have no snapshot
/// yet: the log is damaged instead, and the snapshot's turn comes again).
pub fn damage(data_dir: &Path, round: &mut usize, rng: &mut Rng) -> Damage {
    let mut kind = ROTATION[*round % ROTATION.len()];
    let mut files = candidates(data_dir, kind);
    match files.is_empty() {
        true => {
            kind = Kind::LogBit;
            files = candidates(data_dir, kind);
        }
        false => *round += 1,
    }
    let Some(file) = pick(&files, rng) else {
        return Damage {
            description: "no file to damage".to_owned(),
            done: false,
        };
    };
    let shown = file
        .strip_prefix(data_dir)
        .unwrap_or(file)
        .display()
        .to_string();
    let Ok(mut bytes) = std::fs::read(file) else {
        return Damage {
            description: format!("{shown} unreadable"),
            done: false,
        };
    };
    let description = match kind {
        Kind::Cut => {
            let kept = rng.below(bytes.len() as u64) as usize;
            bytes.truncate(kept);
            format!("{shown} cut to {kept} of its bytes")
        }
        _ => {
            let at = rng.below(bytes.len() as u64) as usize;
            let bit = rng.below(8);
            bytes[at] ^= 1 << bit;
            format!(
                "bit {bit} of byte {at} of {shown} ({} bytes) flipped",
                bytes.len()
            )
        }
    };
    match std::fs::write(file, &bytes) {
        Ok(()) => Damage {
            description,
            done: true,
        },
        Err(error) => Damage {
            description: format!("{shown}: {error}"),
            done: false,
        },
    }
}

fn pick<'a>(files: &'a [PathBuf], rng: &mut Rng) -> Option<&'a PathBuf> {
    (!files.is_empty()).then(|| &files[rng.below(files.len() as u64) as usize])
}

/// The files `kind` may damage (none empty).
fn candidates(data_dir: &Path, kind: Kind) -> Vec<PathBuf> {
    let mut wal: Vec<PathBuf> = std::fs::read_dir(data_dir.join("log"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "wal"))
        .collect();
    wal.sort();
    let snapshot = data_dir.join("state/snapshot");
    let files = match kind {
        Kind::SnapshotBit => vec![snapshot],
        Kind::LogBit => wal,
        Kind::MetadataBit => vec![
            data_dir.join(IDENTITY_FILE),
            data_dir.join(KNOWN_PEERS_FILE),
        ],
        Kind::Cut => {
            wal.pop();
            wal.push(snapshot);
            wal
        }
    };
    let not_empty = |path: &PathBuf| std::fs::metadata(path).is_ok_and(|m| m.len() > 0);
    files.into_iter().filter(not_empty).collect()
}
