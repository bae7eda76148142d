//! Step 5 of the driver: timed work. On every member: heartbeat the sessions connected here, and
//! warn as the group's state nears its quota. On
//! the leader only: renew every session on taking office, and propose expiry
//! of sessions and waits whose deadlines passed on the leader's monotonic
//! clock ([`crate::clock::LeaderClock`]). Time
//! enters the machine only through these commands.

use super::Driver;
use crate::faults::PlantedBug;
use crate::limits::STATE_BYTES_WARN_PERCENT;
use crate::machine::CommandKind;
use std::sync::Arc;
use std::time::Duration;

/// How often the leader looks for passed deadlines: the resolution of wait
/// timeouts and session expiry.
const DEADLINE_TICK: Duration = Duration::from_millis(20);

pub(super) async fn run_leader_duties(driver: Arc<Driver>) {
    let cluster = &driver.cluster;
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
        if renewed_in_term != Some(metrics.current_term)
            && !cluster.faults().planted(PlantedBug::WallClockExpiry)
        {
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
            let replica = cluster.replica().lock();
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

/// How often a member compares the group's state with its quota.
const QUOTA_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// How full the group is, as the log tells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Fill {
    Fine,
    Near,
    Full,
}

/// Logs once when the group's state passes `STATE_BYTES_WARN_PERCENT` of
/// its quota, once when it reaches it (requests that could grow it are
/// refused from then on), and once when it is back under.
pub(super) async fn watch_state_quota(driver: Arc<Driver>) {
    let cluster = &driver.cluster;
    let max = cluster.settings().max_state_bytes;
    let mut told = Fill::Fine;
    let mut tick = tokio::time::interval(QUOTA_CHECK_INTERVAL);
    loop {
        tick.tick().await;
        let used = cluster.replica().state_bytes();
        let percent = u128::from(used) * 100 / u128::from(max.max(1));
        let fill = match percent {
            p if p >= 100 => Fill::Full,
            p if p >= u128::from(STATE_BYTES_WARN_PERCENT) => Fill::Near,
            _ => Fill::Fine,
        };
        if fill == told {
            continue;
        }
        match fill {
            Fill::Full => tracing::error!(
                "the group's state is {used} bytes, at its quota of {max} (--max-state-bytes): \
                 requests that could grow it are refused with QUOTA_EXCEEDED until objects \
                 are destroyed or released"
            ),
            Fill::Near if told < Fill::Near => tracing::warn!(
                "the group's state is {used} bytes, {percent}% of its quota of {max} \
                 (--max-state-bytes)"
            ),
            _ => tracing::info!("the group's state is {used} bytes, under its quota of {max}"),
        }
        told = fill;
    }
}

/// Every member heartbeats the sessions of its live connections, a few
/// times per heartbeat interval so no session goes a full TTL unrenewed.
pub(super) async fn run_heartbeats(driver: Arc<Driver>) {
    let period = Duration::from_millis((driver.cluster.settings().heartbeat_ms / 2).max(10));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        driver.heartbeat_live_sessions().await;
    }
}
