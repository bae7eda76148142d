//! Durable files next to the Raft log: crash-atomic whole-file writes
//! (snapshots, metadata), sealed with a checksum so damage is found when
//! they are read, and the node identity that keeps a wiped data
//! directory from rejoining a cluster under its old id; and [`stamp`], how
//! a member notices that a file it reads (keys, certificates) changed.

pub mod atomic_file;
pub mod identity;
pub mod known_peers;
pub mod recovery_mark;
pub mod sealed;

use std::path::Path;
use std::time::SystemTime;

/// What tells that a file changed: its modification time and length (a
/// rewrite within one clock tick still changes the length, mostly).
pub type Stamp = Option<(SystemTime, u64)>;

pub fn stamp(path: &Path) -> Stamp {
    let metadata = std::fs::metadata(path).ok()?;
    Some((metadata.modified().ok()?, metadata.len()))
}
