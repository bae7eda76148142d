//! A member whose Raft log lost a tail when it was opened (raft-log cut a
//! record that ended early or whose length was damaged; see
//! `LogStore::open`) may have lost entries it had acknowledged: a record
//! torn by a crash was never fsynced, but one damaged on the disk after it
//! was synced may have counted toward a commit, and the file alone cannot
//! tell which. Voting with such a log could elect a leader that lacks a
//! committed entry.
//!
//! So the member neither votes nor stands for election until it has caught
//! up with a leader (in the spirit of protocol-aware recovery, Alagappan
//! et al., FAST 2018): once it has applied everything the leader had
//! committed when asked, its log holds every committed entry it ever
//! acknowledged, and it votes again. Until then it serves clients as any
//! follower does. If the other members cannot elect a leader without it
//! (one of two left), the group waits for a member that kept its log,
//! rather than risk losing a committed write. A member that is the group's
//! only voter has no one to catch up with: it says so and goes on.

use crate::cluster::Cluster;
use std::sync::Arc;
use std::time::Duration;

/// How often a recovering member asks for the leader's commit index.
const CATCH_UP_POLL: Duration = Duration::from_millis(200);

/// Keeps `cluster` from voting and from standing for election until it
/// has caught up with a leader, then lets it.
pub async fn catch_up(cluster: Arc<Cluster>) {
    // Before the first election timeout can pass.
    cluster.raft().runtime_config().elect(false);
    let id = cluster.id();
    tracing::error!(
        "node {id}: its Raft log lost a tail when it was opened (a record cut short, or \
         damaged after it was written); it does not vote or stand for election until it \
         has caught up with a leader"
    );
    let metrics = cluster.raft_metrics();
    let voters: Vec<_> = metrics.membership_config.membership().voter_ids().collect();
    if voters == [id] {
        tracing::error!("node {id} is its group's only voter: it goes on with the log it has");
        cluster.recovered();
        cluster.raft().runtime_config().elect(true);
        return;
    }
    loop {
        tokio::time::sleep(CATCH_UP_POLL).await;
        let led_by_another = cluster.leader().is_some_and(|leader| leader != id);
        if !led_by_another {
            continue;
        }
        // The leader's commit index, confirmed by a quorum now: every entry
        // committed before this member's restart is at or below it.
        let Ok(committed) = cluster.read_index().await else {
            continue;
        };
        let wait = Duration::from_secs(5);
        let applied = cluster
            .raft()
            .wait(Some(wait))
            .applied_index_at_least(Some(committed), "catching up")
            .await;
        if applied.is_ok() {
            break;
        }
    }
    cluster.recovered();
    cluster.raft().runtime_config().elect(true);
    // A warning, as the error before it: operators watch for both.
    tracing::warn!("node {id}: caught up with the leader; it votes again");
}
