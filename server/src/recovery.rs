//! A member whose Raft log lost a tail (`raft::log_store::open_wal`) may
//! have lost entries it acknowledged: a record torn by a power cut was never
//! synced, but one lost on the disk after it was synced may have counted
//! toward a commit, and the files cannot tell which. Voting with such a log
//! could elect a leader that lacks a committed entry.
//!
//! So, in the spirit of protocol-aware recovery (Alagappan et al., FAST
//! 2018), the member is marked recovering until it has caught up with a
//! leader. In this order:
//! 1. the mark is on disk before raft-log cuts or removes anything, so a
//!    crash cannot lose it, and it outlives restarts;
//! 2. the vote cannot have been lost with the tail: it lives in a file of
//!    its own, written before the log's copy (`raft::vote_file`);
//! 3. while marked, the member serves clients as any follower does, but
//!    votes for a candidate, or stands itself, only with a log at least as
//!    up to date as every voter's, all of them answering
//!    ([`meets_every_voters_log`]). Every committed entry it may have lost
//!    is held by some member whose log is intact (a majority acknowledged
//!    it, at most a minority lose what they synced), so such a log holds
//!    it too;
//! 4. it is caught up once it has applied the leader's whole log, as the
//!    leader had it after confirming its office after this member's
//!    restart: every entry the member ever acknowledged that can still
//!    commit is in it (or once it leads, elected under step 3);
//! 5. what it caught up is synced, then the mark is removed, then it
//!    votes as any member.
//!
//! That lets a group whose members all lost a tail at once (a power cut
//! of the whole site tears the record each was writing) elect a leader by
//! itself. It waits, rather than risk a committed write, while a voter
//! does not answer: if that voter is gone for good, only the operator
//! knows that the others may go on; `raftcp vote-again` clears a stopped
//! member's mark (docs/operations.md, "A member that lost a tail").

use crate::cluster::Cluster;
use crate::faults::{Faults, PlantedBug};
use crate::raft::log_store::{LOG_DIR, LogStore};
use crate::raft::peer_frame::{LogEnd, PeerReply, PeerRpc};
use crate::raft::peer_server::PeerHost;
use crate::raft::{LogId, NodeId};
use crate::storage::recovery_mark::{self, RecoveryMark};
use crate::sync::lock;
use futures_util::future::join_all;
use openraft::async_runtime::WatchReceiver;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often a recovering member looks at where it stands.
const CATCH_UP_POLL: Duration = Duration::from_millis(200);

/// How long one attempt waits to apply up to the leader's log end.
const CATCH_UP_WAIT: Duration = Duration::from_secs(5);

/// The share of the election timeout a voter has to say where its log
/// ends (dial included): voters are asked in parallel while a candidate
/// waits for the vote, which it does for an election timeout.
const LOG_END_SHARE_OF_ELECTION_TIMEOUT: u32 = 3;

/// Voters a recovering member asks before it gives up: far more than any
/// membership holds, so the bound only stops a loop that would not end.
const VOTERS_ASKED_MAX: usize = 64;

/// Whether this member holds back its vote, and why.
#[derive(Debug)]
pub struct Recovery {
    data_dir: PathBuf,
    mark: Mutex<Option<RecoveryMark>>,
    /// Synced before the mark goes (step 5).
    log: LogStore,
    /// The planted bug `votes-despite-lost-tail`: marked, voting anyway.
    ignores_mark: bool,
    /// The last leader that sent this member entries, and when. A
    /// follower keeps naming the leader of its stored vote after a restart
    /// even when that member no longer leads, so only its entries tell.
    last_append: Mutex<Option<(NodeId, Instant)>>,
}

impl Recovery {
    /// The state of the member with `data_dir` and `log`, as its mark on
    /// disk says.
    pub fn open(data_dir: &Path, log: LogStore, faults: Faults) -> std::io::Result<Self> {
        Ok(Self {
            data_dir: data_dir.to_owned(),
            mark: Mutex::new(recovery_mark::read(data_dir)?),
            log,
            ignores_mark: faults.planted(PlantedBug::VotesDespiteLostTail),
            last_append: Mutex::new(None),
        })
    }

    /// Notes entries (or a heartbeat) sent by `leader`.
    pub fn note_append_from(&self, leader: NodeId) {
        *lock(&self.last_append) = Some((leader, Instant::now()));
    }

    /// Whether `leader` sent this member entries within `within`.
    fn heard_leader(&self, leader: NodeId, within: Duration) -> bool {
        lock(&self.last_append).is_some_and(|(from, at)| from == leader && at.elapsed() <= within)
    }

    /// Why this member is recovering; `None` once it is not.
    pub fn mark(&self) -> Option<RecoveryMark> {
        lock(&self.mark).clone()
    }

    /// Whether it is recovering (`/health`).
    pub fn is_recovering(&self) -> bool {
        lock(&self.mark).is_some()
    }

    /// Whether it holds back its vote (step 3).
    pub fn holds_back_vote(&self) -> bool {
        self.is_recovering() && !self.ignores_mark
    }

    /// Step 5: syncs the log, then removes the mark. A crash before the
    /// mark is gone recovers again; after, the entries are on disk.
    async fn finish(&self) -> std::io::Result<()> {
        self.log.sync().await?;
        recovery_mark::clear(&self.data_dir)?;
        *lock(&self.mark) = None;
        Ok(())
    }
}

/// What a recovering member sees of the group.
#[derive(Debug)]
struct View {
    me: NodeId,
    voters: BTreeSet<NodeId>,
    /// The leader, if this member heard from it lately (a follower keeps
    /// naming a leader that went away).
    leader: Option<NodeId>,
    /// Whether it ever linked to another member.
    met_a_peer: bool,
    /// How long it has seen no leader, and how long it waits for one.
    leaderless_for: Duration,
    stand_after: Duration,
}

/// What a recovering member does next.
#[derive(Debug, PartialEq, Eq)]
enum Next {
    Wait,
    /// Stand for election, if its log meets the bar.
    Stand,
    CatchUpWith(NodeId),
    Finish,
}

fn next(view: &View) -> Next {
    let alone = view.voters.len() == 1 && view.voters.contains(&view.me);
    match view.leader {
        Some(leader) if leader == view.me => Next::Finish,
        Some(leader) => Next::CatchUpWith(leader),
        // The group's only voter, as far as its log and its links know:
        // nobody to catch up with.
        None if alone && !view.met_a_peer => Next::Finish,
        // Its log may have lost the change that added the members it met:
        // it waits for their leader to reach it.
        None if alone => Next::Wait,
        None if view.leaderless_for >= view.stand_after => Next::Stand,
        None => Next::Wait,
    }
}

/// Keeps a recovering `cluster` to step 3 until it has caught up (step 4),
/// then finishes (step 5) and lets it stand for election as any member
/// does. (It starts with elections off, `node::start`; until then it
/// stands only through this task.)
pub async fn catch_up(cluster: Arc<Cluster>) {
    let id = cluster.id();
    let Some(mark) = cluster.recovery().mark() else {
        return;
    };
    tracing::error!(
        "node {id} may have lost entries it acknowledged: {}; until it has caught up with a \
         leader it votes only for a log at least as up to date as every voter's, all of \
         them answering. If a voter is gone for good and no leader can be elected without \
         this member, stop it and run `raftcp vote-again --data-dir <its data directory>` \
         (docs/operations.md)",
        mark.reason
    );
    let mut leader_seen = Instant::now();
    // Where the leader's log ended when asked, per leader and term.
    let mut target: Option<((NodeId, u64), Option<u64>)> = None;
    loop {
        tokio::time::sleep(CATCH_UP_POLL).await;
        let view = view_of(&cluster, leader_seen);
        if view.leader.is_some() {
            leader_seen = Instant::now();
        }
        match next(&view) {
            Next::Wait => {}
            Next::Stand => {
                leader_seen = Instant::now();
                let last = cluster.raft().data_metrics().borrow_watched().last_log;
                if meets_every_voters_log(&cluster, last).await {
                    tracing::warn!("node {id} stands for election: its log meets the bar");
                    let _ = cluster.raft().trigger().elect(true).await;
                }
            }
            Next::CatchUpWith(leader) => {
                let office = (leader, cluster.raft_metrics().current_term);
                if target.is_none_or(|(asked, _)| asked != office) {
                    match cluster.leader_log_end().await {
                        Ok(end) => target = Some((office, end.map(|id| id.index))),
                        Err(_) => continue,
                    }
                }
                let index = target.and_then(|(_, index)| index);
                let applied = cluster
                    .raft()
                    .wait(Some(CATCH_UP_WAIT))
                    .applied_index_at_least(index, "catching up after a lost tail")
                    .await;
                if applied.is_ok() {
                    break;
                }
            }
            Next::Finish => break,
        }
    }
    // Unbounded: a member that cannot write its disk stops anyway
    // (`node::exit_on_fatal`); until then it must not vote.
    while let Err(e) = cluster.recovery().finish().await {
        tracing::error!("node {id} cannot clear its recovery mark: {e}; it tries again");
        tokio::time::sleep(CATCH_UP_POLL).await;
    }
    cluster.raft().runtime_config().elect(true);
    // A warning, as the error before it: operators watch for both.
    tracing::warn!("node {id} has caught up with the leader: it votes again");
}

fn view_of(cluster: &Cluster, leader_seen: Instant) -> View {
    let metrics = cluster.raft_metrics();
    let heard = |leader: NodeId| {
        leader == cluster.id()
            || (cluster.recovery()).heard_leader(leader, cluster.settings().cut_off_after)
    };
    View {
        me: cluster.id(),
        voters: metrics.membership_config.membership().voter_ids().collect(),
        leader: metrics.current_leader.filter(|leader| heard(*leader)),
        met_a_peer: cluster.known_peers().knows_any(),
        leaderless_for: leader_seen.elapsed(),
        stand_after: cluster.settings().cut_off_after,
    }
}

/// Whether a log ending at `last` is at least as up to date as every
/// voter's log, this member's included, each voter answering in time. The
/// voters are those of every answer, not only of this member's log, which
/// may have lost a membership change.
pub async fn meets_every_voters_log(cluster: &Cluster, last: Option<LogId>) -> bool {
    let own = cluster.log_end();
    if last < own.last_log_id {
        return false;
    }
    // Alone in its log, yet it met others: its log may have lost the
    // change that added them, and it cannot know whom to ask.
    if own.voters.len() <= 1 && cluster.known_peers().knows_any() {
        return false;
    }
    let mut voters = own.voters;
    let mut asked = BTreeSet::from([cluster.id()]);
    loop {
        let unasked: Vec<NodeId> = voters.difference(&asked).copied().collect();
        if unasked.is_empty() {
            return true;
        }
        if asked.len() + unasked.len() > VOTERS_ASKED_MAX {
            return false;
        }
        let answers = join_all(unasked.iter().map(|voter| log_end_of(cluster, *voter))).await;
        asked.extend(unasked);
        for answer in answers {
            let Some(theirs) = answer else {
                return false;
            };
            if last < theirs.last_log_id {
                return false;
            }
            voters.extend(theirs.voters);
        }
    }
}

async fn log_end_of(cluster: &Cluster, voter: NodeId) -> Option<LogEnd> {
    let link = cluster.link_to(voter)?;
    // `cut_off_after` is three election timeouts.
    let timeout = cluster.settings().cut_off_after / (3 * LOG_END_SHARE_OF_ELECTION_TIMEOUT);
    let call = link.call(PeerRpc::LogEnd, timeout);
    match tokio::time::timeout(timeout, call).await {
        Ok(Ok(PeerReply::LogEnd(end))) => Some(end),
        _ => None,
    }
}

/// `raftcp vote-again`: lets the stopped member with `data_dir` vote at its
/// next start without catching up first. Opening its log takes the log's
/// lock (so the member must be stopped) and marks a tail found only now.
pub fn vote_again(data_dir: &Path) -> Result<Option<RecoveryMark>, String> {
    let shown = data_dir.display();
    if !data_dir.join(LOG_DIR).is_dir() {
        return Err(format!(
            "{shown} holds no Raft log: is it a member's data directory?"
        ));
    }
    let log = LogStore::open(data_dir, Duration::ZERO, Faults::default())
        .map_err(|e| format!("cannot open the log in {shown} (is the member stopped?): {e}"))?;
    let mark = recovery_mark::read(data_dir).map_err(|e| format!("cannot read the mark: {e}"))?;
    recovery_mark::clear(data_dir).map_err(|e| format!("cannot clear the mark: {e}"))?;
    drop(log);
    Ok(mark)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(voters: &[NodeId], leader: Option<NodeId>, leaderless_ms: u64) -> View {
        View {
            me: 1,
            voters: voters.iter().copied().collect(),
            leader,
            met_a_peer: true,
            leaderless_for: Duration::from_millis(leaderless_ms),
            stand_after: Duration::from_millis(3_000),
        }
    }

    #[test]
    fn a_recovering_member_catches_up_with_a_leader_it_hears_and_stands_only_after_waiting() {
        assert_eq!(next(&view(&[1, 2, 3], Some(2), 0)), Next::CatchUpWith(2));
        assert_eq!(next(&view(&[1, 2, 3], None, 2_999)), Next::Wait);
        assert_eq!(next(&view(&[1, 2, 3], None, 3_000)), Next::Stand);
        // Elected under the bar: its log holds what any voter held.
        assert_eq!(next(&view(&[1, 2, 3], Some(1), 0)), Next::Finish);
    }

    #[test]
    fn it_counts_itself_the_only_voter_only_if_it_never_met_another_member() {
        let mut alone = view(&[1], None, 60_000);
        assert_eq!(next(&alone), Next::Wait, "its log may have lost the change");
        alone.met_a_peer = false;
        assert_eq!(next(&alone), Next::Finish);
    }
}
