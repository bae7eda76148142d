//! A member whose Raft log lost a tail (`raft::log_store::open_wal`) may
//! have lost entries it acknowledged: a record torn by a power cut was never
//! synced, but one lost on the disk after it was synced may have counted
//! toward a commit, and the files cannot tell which. Voting with such a log
//! could elect a leader that lacks a committed entry.
//!
//! So, in the spirit of protocol-aware recovery (Alagappan et al., FAST
//! 2018), the member is marked recovering (durably: the mark outlives
//! restarts) until it has caught up with a leader: once it has applied
//! everything a leader had committed when asked after the restart, its log
//! holds every committed entry it ever acknowledged. Its vote cannot have
//! been lost with the tail: it lives in a file of its own
//! (`raft::vote_file`). Meanwhile it serves clients as any follower does,
//! and it votes for a candidate, or stands itself, only with a log at
//! least as up to date as every voter's, all of them answering
//! ([`meets_every_voters_log`]). Every committed entry it may have lost is
//! held by some member whose log is intact (at most a minority can lose
//! what they synced), so such a log holds it too.
//!
//! That lets a group whose members all lost a tail at once (a power cut of
//! the whole site tears the record each was writing) elect a leader by
//! itself. It waits, rather than risk a committed write, while a voter
//! does not answer: if that voter is gone for good, only the operator
//! knows that the others may go on; `raftcp vote-again` clears a stopped
//! member's mark (docs/operations.md, "A member that lost a tail").

use crate::cluster::Cluster;
use crate::faults::{Faults, PlantedBug};
use crate::raft::LogId;
use crate::raft::peer_frame::{PeerReply, PeerRpc};
use crate::storage::recovery_mark::{self, RecoveryMark};
use crate::sync::lock;
use openraft::async_runtime::WatchReceiver;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often a recovering member looks for a leader to catch up with.
const CATCH_UP_POLL: Duration = Duration::from_millis(200);

/// How long one attempt waits to apply up to the leader's commit index.
const CATCH_UP_WAIT: Duration = Duration::from_secs(5);

/// How long a voter has to tell its last log id to a recovering member.
const LAST_LOG_ID_TIMEOUT: Duration = Duration::from_millis(500);

/// Whether this member holds back its vote, and why.
#[derive(Debug)]
pub struct Recovery {
    data_dir: PathBuf,
    mark: Mutex<Option<RecoveryMark>>,
}

impl Recovery {
    /// The state of the member with `data_dir`, as its mark on disk says.
    pub fn open(data_dir: &Path, faults: Faults) -> std::io::Result<Self> {
        let mut mark = recovery_mark::read(data_dir)?;
        if faults.planted(PlantedBug::VotesDespiteLostTail) {
            mark = None;
        }
        Ok(Self {
            data_dir: data_dir.to_owned(),
            mark: Mutex::new(mark),
        })
    }

    /// Why this member neither votes nor stands for election; `None` once
    /// it may.
    pub fn mark(&self) -> Option<RecoveryMark> {
        lock(&self.mark).clone()
    }

    pub fn is_recovering(&self) -> bool {
        lock(&self.mark).is_some()
    }

    /// Clears the mark, on disk first: a crash in between recovers again.
    fn finish(&self) -> std::io::Result<()> {
        recovery_mark::clear(&self.data_dir)?;
        *lock(&self.mark) = None;
        Ok(())
    }
}

/// Holds a recovering `cluster` to [`meets_every_voters_log`] until it has
/// caught up with a leader (or was elected under that rule), then lets it
/// vote and stand as any member. (It starts with elections off:
/// `node::start`; it stands only through this task.)
pub async fn catch_up(cluster: Arc<Cluster>) {
    let id = cluster.id();
    let Some(mark) = cluster.recovery().mark() else {
        return;
    };
    tracing::error!(
        "node {id} may have lost entries it acknowledged: {}; until it has caught up with a leader \
         it votes only for a log at least as up to date as every voter's, all of them \
         answering. If a voter is gone for good and no leader can be elected without this \
         member, stop it and run `raftcp vote-again --data-dir <its data directory>` \
         (docs/operations.md)",
        mark.reason
    );
    let mut leaderless_since = Instant::now();
    loop {
        tokio::time::sleep(CATCH_UP_POLL).await;
        let metrics = cluster.raft_metrics();
        let voters: Vec<_> = metrics.membership_config.membership().voter_ids().collect();
        if voters == [id] {
            tracing::error!("node {id} is its group's only voter: it goes on with the log it has");
            break;
        }
        match metrics.current_leader {
            // Elected with a log at least as up to date as every voter's.
            Some(leader) if leader == id => break,
            Some(_) => leaderless_since = Instant::now(),
            None => {
                // No one stands whose log this member may vote for; it
                // stands itself if its own log meets the bar.
                if leaderless_since.elapsed() >= cluster.settings().cut_off_after {
                    leaderless_since = Instant::now();
                    let last = cluster.raft().data_metrics().borrow_watched().last_log;
                    if meets_every_voters_log(&cluster, last).await {
                        tracing::warn!("node {id} stands for election: no one else could");
                        let _ = cluster.raft().trigger().elect(true).await;
                    }
                }
                continue;
            }
        }
        // The leader's commit index, confirmed by a quorum after this
        // member restarted: every entry committed before the loss is at or
        // below it.
        let Ok(committed) = cluster.read_index().await else {
            continue;
        };
        let applied = cluster
            .raft()
            .wait(Some(CATCH_UP_WAIT))
            .applied_index_at_least(Some(committed), "catching up after a lost tail")
            .await;
        if applied.is_ok() {
            break;
        }
    }
    while let Err(e) = cluster.recovery().finish() {
        tracing::error!("node {id} cannot clear its recovery mark: {e}; it tries again");
        tokio::time::sleep(CATCH_UP_POLL).await;
    }
    cluster.raft().runtime_config().elect(true);
    // A warning, as the error before it: operators watch for both.
    tracing::warn!("node {id} has caught up with the leader: it votes again");
}

/// Whether a log ending at `last` is at least as up to date as every
/// voter's log (this member's included), each voter answering in time.
pub async fn meets_every_voters_log(cluster: &Cluster, last: Option<LogId>) -> bool {
    let metrics = cluster.raft_metrics();
    for voter in metrics.membership_config.membership().voter_ids() {
        let theirs = match voter == cluster.id() {
            true => cluster.raft().data_metrics().borrow_watched().last_log,
            false => {
                let Some(link) = cluster.link_to(voter) else {
                    return false;
                };
                match link.call(PeerRpc::LastLogId, LAST_LOG_ID_TIMEOUT).await {
                    Ok(PeerReply::LastLogId(theirs)) => theirs,
                    _ => return false,
                }
            }
        };
        if last < theirs {
            return false;
        }
    }
    true
}

/// `raftcp vote-again`: lets the stopped member with `data_dir` vote at its
/// next start without catching up first. Opening its log takes the log's
/// lock (so the member must be stopped) and marks a tail found only now.
pub fn vote_again(data_dir: &Path) -> Result<Option<RecoveryMark>, String> {
    let shown = data_dir.display();
    if !data_dir.join(crate::raft::log_store::LOG_DIR).is_dir() {
        return Err(format!(
            "{shown} holds no Raft log: is it a member's data directory?"
        ));
    }
    let log =
        crate::raft::log_store::LogStore::open(data_dir, Duration::ZERO, Faults::default())
            .map_err(|e| format!("cannot open the log in {shown} (is the member stopped?): {e}"))?;
    let mark = recovery_mark::read(data_dir).map_err(|e| e.to_string())?;
    recovery_mark::clear(data_dir).map_err(|e| format!("cannot clear the mark: {e}"))?;
    drop(log);
    Ok(mark)
}
