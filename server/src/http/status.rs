//! What `/health` and `/metrics` say about a member.

use crate::cluster::Cluster;
use openraft::ServerState;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;

/// `200` with the node's Raft view when a leader is known, `503` otherwise.
pub(super) fn health(cluster: &Cluster) -> (&'static str, String) {
    let m = cluster.raft_metrics();
    let leader = m.current_leader;
    let state = match m.state {
        ServerState::Leader => "leader",
        ServerState::Follower => "follower",
        ServerState::Candidate => "candidate",
        ServerState::Learner => "learner",
        ServerState::Shutdown => "shutdown",
    };
    let cut_off = cluster.is_cut_off();
    let state_bytes = cluster.replica().state_bytes();
    let max_state_bytes = cluster.settings().max_state_bytes;
    let quota_alarm = state_bytes >= max_state_bytes;
    // Serving, but not voting (`crate::recovery`): the reason is in its log.
    let recovering = cluster.recovery().is_recovering();
    let json = format!(
        "{{\"node\":{},\"state\":\"{state}\",\"leader\":{},\"term\":{},\"last_log_index\":{},\
         \"commit_index\":{},\"applied_index\":{},\"cut_off\":{cut_off},\
         \"state_bytes\":{state_bytes},\"max_state_bytes\":{max_state_bytes},\
         \"quota_alarm\":{quota_alarm},\"recovering\":{recovering}}}\n",
        cluster.id(),
        leader.map_or("null".to_owned(), |l| l.to_string()),
        m.current_term,
        m.last_log_index.unwrap_or(0),
        m.local_committed.as_ref().map_or(0, |c| c.index),
        m.last_applied.as_ref().map_or(0, |a| a.index),
    );
    // A follower cut off from its leader may still name it (pre-vote).
    let status = if leader.is_some() && !cut_off {
        "200 OK"
    } else {
        "503 Service Unavailable"
    };
    (status, json)
}

pub(super) fn metrics(cluster: &Cluster) -> String {
    let m = cluster.raft_metrics();
    let (stats, snapshots_installed) = {
        let replica = cluster.replica().lock();
        (replica.machine.stats(), replica.snapshots_installed)
    };
    let mut out = String::new();
    let gauges: [(&str, u64); 15] = [
        ("raftcp_node_id", cluster.id()),
        ("raftcp_raft_term", m.current_term),
        (
            "raftcp_raft_is_leader",
            u64::from(m.state == ServerState::Leader),
        ),
        ("raftcp_raft_leader", m.current_leader.unwrap_or(0)),
        (
            "raftcp_raft_commit_index",
            m.local_committed.as_ref().map_or(0, |c| c.index),
        ),
        (
            "raftcp_raft_applied_index",
            m.last_applied.as_ref().map_or(0, |a| a.index),
        ),
        ("raftcp_sessions", stats.sessions as u64),
        ("raftcp_objects", stats.objects as u64),
        ("raftcp_waiters", stats.waiters as u64),
        ("raftcp_watchers", cluster.watches().watchers() as u64),
        ("raftcp_snapshots_installed", snapshots_installed),
        ("raftcp_cut_off", u64::from(cluster.is_cut_off())),
        (
            "raftcp_recovering",
            u64::from(cluster.recovery().is_recovering()),
        ),
        ("raftcp_state_bytes", cluster.replica().state_bytes()),
        ("raftcp_state_bytes_max", cluster.settings().max_state_bytes),
    ];
    for (name, value) in gauges {
        let _ = writeln!(out, "# TYPE {name} gauge\n{name} {value}");
    }
    let connections = cluster.metrics().connections_open.load(Ordering::Relaxed);
    let protocol_errors = cluster.metrics().protocol_errors.load(Ordering::Relaxed);
    let _ = writeln!(
        out,
        "# TYPE raftcp_client_connections gauge\nraftcp_client_connections {connections}"
    );
    let _ = writeln!(
        out,
        "# TYPE raftcp_protocol_errors_total counter\nraftcp_protocol_errors_total {protocol_errors}"
    );
    cluster.metrics().render_operations(&mut out);
    out
}
