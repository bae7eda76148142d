//! Timed work. On every member: heartbeat the sessions connected here. On
//! the leader only: renew every session on taking office, and propose expiry
//! of sessions and waits whose deadlines passed on the leader's monotonic
//! clock ([`crate::clock::LeaderClock`]). Time
//! enters the machine only through these commands.

use super::Gateway;
use crate::faults::{PlantedBug, planted};
use crate::machine::CommandKind;
use std::sync::Arc;
use std::time::Duration;

/// How often the leader looks for passed deadlines: the resolution of wait
/// timeouts and session expiry.
const DEADLINE_TICK: Duration = Duration::from_millis(20);

pub async fn run_leader_duties(gateway: Arc<Gateway>) {
    let cluster = &gateway.cluster;
    let mut renewed_in_term = None;
    let mut tick = tokio::time::interval(DEADLINE_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let metrics = cluster.raft_metrics();
        if !cluster.leads(&metrics) {
            renewed_in_term = None;
            continue;
        }
        if renewed_in_term != Some(metrics.current_term) && !planted(PlantedBug::WallClockExpiry) {
            // An election must not expire healthy clients: their heartbeats
            // may have gone to the old leader.
            if cluster
                .propose_here(CommandKind::RenewAllSessions)
                .await
                .is_ok()
            {
                renewed_in_term = Some(metrics.current_term);
            }
            continue;
        }
        let now = cluster.leader_time_ms();
        let (waits_due, sessions_due) = {
            let replica = cluster.replica.lock();
            (
                replica.machine.waits_due(now),
                replica.machine.sessions_due(now),
            )
        };
        if waits_due {
            let _ = cluster.propose_here(CommandKind::ExpireWaits).await;
        }
        if sessions_due {
            let _ = cluster.propose_here(CommandKind::ExpireSessions).await;
        }
    }
}

/// Every member heartbeats the sessions of its live connections, a few
/// times per heartbeat interval so no session goes a full TTL unrenewed.
pub async fn run_heartbeats(gateway: Arc<Gateway>) {
    let period = Duration::from_millis((gateway.cluster.settings.heartbeat_ms / 2).max(10));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        gateway.heartbeat_live_sessions().await;
    }
}
