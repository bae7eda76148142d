//! Raft: the openraft type configuration, durable log and snapshot storage,
//! and the peer network. The CP machine itself knows nothing of Raft; the
//! adapters here feed it committed entries and carry its effects out.

pub mod codec;
pub mod log_store;
pub mod network;
pub mod peer_auth;
pub mod peer_frame;
pub mod peer_server;
pub mod snapshot_transfer;
pub mod state_machine;
pub mod vote_file;
pub mod wal_open;

use crate::machine::{Command, CommandResponse};
use std::fmt;

openraft::declare_raft_types!(
    /// raftcp's Raft types: log entries carry a [`Command`], applying one
    /// answers a [`CommandResponse`]; nodes are addressed by `host:port`.
    pub TypeConfig:
        D = Command,
        R = CommandResponse,
        NodeId = u64,
        Node = openraft::BasicNode,
);

pub type Raft = openraft::Raft<TypeConfig, state_machine::StateMachine>;
pub type NodeId = u64;
pub type Entry = openraft::type_config::alias::EntryOf<TypeConfig>;
pub type LogId = openraft::type_config::alias::LogIdOf<TypeConfig>;
pub type Vote = openraft::type_config::alias::VoteOf<TypeConfig>;
pub type SnapshotMeta = openraft::type_config::alias::SnapshotMetaOf<TypeConfig>;
pub type StoredMembership = openraft::type_config::alias::StoredMembershipOf<TypeConfig>;
pub type SnapshotOf =
    openraft::type_config::alias::SnapshotOf<TypeConfig, state_machine::SnapshotData>;

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}@{}", self.kind, self.time_ms)
    }
}

/// Timing for one Raft group. Elections wait well above the worst fsync
/// latency seen on a loaded disk (~20 ms p99), so a slow disk does not cause
/// leader churn; heartbeats stay under a third of the election timeout.
/// `snapshot_every`: entries between snapshots; the log before a snapshot is
/// purged except a tail kept for followers that lag slightly.
pub fn raft_config(
    election_timeout_ms: u64,
    snapshot_every: u64,
) -> Result<openraft::Config, openraft::ConfigError> {
    let heartbeat = (election_timeout_ms / 5).max(20);
    let config = openraft::Config {
        cluster_name: "raftcp".into(),
        heartbeat_interval: heartbeat,
        election_timeout_min: election_timeout_ms,
        election_timeout_max: election_timeout_ms.saturating_mul(2),
        // A partitioned old leader must not block a connected quorum forever.
        quorum_loss_probe_interval: Some(election_timeout_ms.saturating_mul(5)),
        enable_pre_vote: Some(true),
        broadcast_submitted_on_append: Some(true),
        // A leader restarting must win an election (and commit a blank
        // entry) before it serves. Restored at once, it answers ReadIndex
        // reads from its persisted commit index, which may lag entries it
        // committed before the crash: a stale read, found by the fault
        // campaign (kill-leader).
        enable_leader_restore: Some(false),
        snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(snapshot_every.max(1)),
        max_in_snapshot_log_to_keep: (snapshot_every / 20).min(1_000),
        // A follower whose log lost a tail it had acknowledged
        // (`crate::recovery`) is sent its entries again from where its log
        // now ends; without this, openraft's leader refuses it for good,
        // and a group that needs it has no leader.
        allow_log_reversion: Some(true),
        // Bounded so a full AppendEntries fits a peer frame (crate::limits).
        max_payload_entries: crate::limits::APPEND_ENTRIES_MAX,
        ..Default::default()
    };
    config.validate()
}
