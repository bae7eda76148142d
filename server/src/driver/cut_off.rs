//! Step 6 of the driver: whether this member can serve clients right now.
//!
//! A member cut off from a quorum (one that has heard neither its leader
//! nor a majority of the voters for a few election timeouts) can only make
//! its clients wait: their requests cannot commit, and their
//! heartbeats cannot renew their sessions, which then expire on the
//! majority's side. So such a member says so at once: requests and
//! handshakes fail with the retryable `UNAVAILABLE`, and the connections it
//! holds are closed. Each client then moves to the next member it knows and
//! resends what it waits on there, exactly once (the machine deduplicates a
//! request that did commit after all).

use super::Driver;
use crate::raft::NodeId;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

/// How often the member checks.
const CHECK_EVERY: Duration = Duration::from_millis(100);

/// Watches whom this member hears from and keeps `Cluster::cut_off`
/// current.
pub(super) async fn watch(driver: Arc<Driver>) {
    let cluster = &driver.cluster;
    let limit = cluster.settings().cut_off_after;
    let mut tick = tokio::time::interval(CHECK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let metrics = cluster.raft_metrics();
        let voters: BTreeSet<NodeId> = metrics.membership_config.membership().voter_ids().collect();
        let heard = |peer| cluster.peers().heard_within(peer, limit);
        let cut_off = is_cut_off(cluster.id(), &voters, metrics.current_leader, heard);
        let was = cluster.set_cut_off(cut_off);
        if cut_off && !was {
            let heard: Vec<NodeId> = voters.iter().copied().filter(|v| heard(*v)).collect();
            tracing::warn!(
                "node {}: heard from {heard:?} of voters {voters:?} within {limit:?}, no quorum; \
                 sending clients to other members",
                cluster.id()
            );
            driver.drop_all_connections();
        } else if was && !cut_off {
            tracing::info!("node {}: hears a quorum again", cluster.id());
        }
    }
}

/// Cut off: this member heard lately neither from the leader it follows
/// nor from a majority of the voters (itself included). A leader hears
/// every follower's answer to its heartbeats (a fifth of an election
/// timeout apart), a follower hears its leader's heartbeats, and members
/// electing hear each other's votes; so a member on the majority's side of
/// a partition, or in a healthy cluster, never is. Naming a leader is not
/// enough: with pre-vote, a follower cut off from its leader keeps naming it.
fn is_cut_off(
    me: NodeId,
    voters: &BTreeSet<NodeId>,
    leader: Option<NodeId>,
    heard: impl Fn(NodeId) -> bool,
) -> bool {
    if voters.len() < 2 {
        // Alone (or not yet configured), a member is not cut off from anyone.
        return false;
    }
    if let Some(leader) = leader
        && leader != me
        && heard(leader)
    {
        return false;
    }
    let reached = voters
        .iter()
        .filter(|voter| **voter == me || heard(**voter))
        .count();
    reached <= voters.len() / 2
}

#[cfg(test)]
mod tests {
    use super::*;

    fn voters(ids: &[NodeId]) -> BTreeSet<NodeId> {
        ids.iter().copied().collect()
    }

    /// Following no leader.
    fn is_cut_off_alone(
        me: NodeId,
        voters: &BTreeSet<NodeId>,
        heard: impl Fn(NodeId) -> bool,
    ) -> bool {
        is_cut_off(me, voters, None, heard)
    }

    #[test]
    fn a_member_hearing_a_majority_is_not_cut_off() {
        let three = voters(&[1, 2, 3]);
        assert!(!is_cut_off(1, &three, None, |_| true));
        assert!(!is_cut_off(1, &three, None, |peer| peer == 2));
        let five = voters(&[1, 2, 3, 4, 5]);
        assert!(!is_cut_off(1, &five, None, |peer| peer == 2 || peer == 5));
    }

    #[test]
    fn a_member_hearing_no_majority_is_cut_off() {
        assert!(is_cut_off_alone(1, &voters(&[1, 2, 3]), |_| false));
        assert!(is_cut_off_alone(1, &voters(&[1, 2]), |_| false));
        assert!(is_cut_off_alone(1, &voters(&[1, 2, 3, 4, 5]), |peer| peer == 2));
        // Four voters need three: itself and one more is a tie, not a quorum.
        assert!(is_cut_off_alone(1, &voters(&[1, 2, 3, 4]), |peer| peer == 2));
    }

    #[test]
    fn a_learner_counts_only_the_voters_it_hears() {
        assert!(is_cut_off_alone(9, &voters(&[1, 2, 3]), |peer| peer == 1));
        assert!(!is_cut_off_alone(9, &voters(&[1, 2, 3]), |peer| peer != 3));
    }

    #[test]
    fn a_follower_hearing_its_leader_is_not_cut_off() {
        // Five voters: followers hear the leader, not each other.
        let five = voters(&[1, 2, 3, 4, 5]);
        assert!(!is_cut_off(2, &five, Some(1), |peer| peer == 1));
        // Still naming a leader it no longer hears (pre-vote keeps the name).
        assert!(is_cut_off(2, &five, Some(1), |_| false));
        // A leader goes by the majority it hears, not by naming itself.
        assert!(is_cut_off(1, &five, Some(1), |peer| peer == 2));
    }

    #[test]
    fn a_lone_member_is_never_cut_off() {
        assert!(!is_cut_off_alone(1, &voters(&[1]), |_| false));
        assert!(!is_cut_off_alone(1, &voters(&[]), |_| false));
    }
}
