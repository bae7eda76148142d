//! Durable files next to the Raft log: crash-atomic whole-file writes
//! (snapshots, metadata) and the node identity that keeps a wiped data
//! directory from rejoining a cluster under its old id.

pub mod atomic_file;
pub mod identity;
pub mod known_peers;
