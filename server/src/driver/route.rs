//! Step 1 and 7 of the driver: routing. [`Cluster::propose`] (through the
//! log) and [`Cluster::read`] (ReadIndex) find the leader themselves, here
//! or over a peer link, and retry through elections until the request
//! timeout, so a client connected to any member is served. The leader
//! stamps each command with its clock ([`crate::clock::LeaderClock`]).

/// Why [`Cluster::propose`] or [`Cluster::read`] did not get an answer.
pub use crate::raft::peer_frame::ForwardError;

use crate::cluster::Cluster;
use crate::faults::PlantedBug;
use crate::machine::{Command, CommandKind, CommandResponse};
use crate::raft::network::LinkError;
use crate::raft::peer_frame::{PeerReply, PeerRpc};
use crate::raft::{LogId, NodeId};
use openraft::ReadPolicy;
use openraft::async_runtime::WatchReceiver;
use openraft::error::{ClientWriteError, LinearizableReadError, RaftError};
use raftcp_proto::{Op, OpError, Reply, SessionId};
use std::time::{Duration, Instant};

/// Pause between attempts while no leader is known or it is changing.
const RETRY_PAUSE: Duration = Duration::from_millis(30);

impl Cluster {
    /// Proposes `kind` through whichever member leads, retrying until the
    /// request timeout. Retrying a command whose first attempt may have been
    /// applied is safe: client operations are deduplicated by the machine.
    pub async fn propose(&self, kind: CommandKind) -> Result<CommandResponse, ForwardError> {
        match self.on_leader(PeerRpc::Propose(kind)).await? {
            PeerReply::Proposed(result) => result,
            other => Err(unexpected(other)),
        }
    }

    /// A linearizable read through whichever member leads.
    pub async fn read(
        &self,
        session: SessionId,
        op: Op,
    ) -> Result<Result<Reply, OpError>, ForwardError> {
        match self.on_leader(PeerRpc::Read { session, op }).await? {
            PeerReply::Read(result) => result,
            other => Err(unexpected(other)),
        }
    }

    /// The leader's read index (see [`PeerRpc::ReadIndex`]), through
    /// whichever member leads.
    pub async fn read_index(&self) -> Result<u64, ForwardError> {
        match self.on_leader(PeerRpc::ReadIndex).await? {
            PeerReply::ReadIndex(result) => result,
            other => Err(unexpected(other)),
        }
    }

    /// Where the leader's log ends, asked after it confirmed with a quorum
    /// that it leads: every entry anyone acknowledged to a leader so far
    /// and that can still commit is at or below it.
    pub async fn leader_log_end(&self) -> Result<Option<LogId>, ForwardError> {
        match self.on_leader(PeerRpc::LeaderLogEnd).await? {
            PeerReply::LeaderLogEnd(result) => result,
            other => Err(unexpected(other)),
        }
    }

    async fn leader_log_end_here(&self) -> Result<Option<LogId>, ForwardError> {
        self.read_index_here().await?;
        Ok(self.raft().data_metrics().borrow_watched().last_log)
    }

    /// Confirms leadership with a quorum and returns the read index.
    async fn read_index_here(&self) -> Result<u64, ForwardError> {
        match self.raft().ensure_linearizable(ReadPolicy::ReadIndex).await {
            Ok(read) => Ok(read.index()),
            Err(RaftError::APIError(LinearizableReadError::ForwardToLeader(forward))) => {
                Err(ForwardError::NotLeader {
                    leader: forward.leader_id.filter(|id| *id != self.id()),
                })
            }
            Err(e) => Err(ForwardError::Unavailable(e.to_string())),
        }
    }

    /// Runs a `Propose` or `Read` on the leader, here or over the peer link,
    /// following leader hints and retrying through elections until the
    /// request timeout.
    pub(crate) async fn on_leader(&self, request: PeerRpc) -> Result<PeerReply, ForwardError> {
        let deadline = Instant::now() + self.settings().request_timeout;
        let mut hint = None;
        loop {
            if self.is_cut_off() {
                return Err(self.no_quorum());
            }
            let attempt = async {
                match hint.take().or_else(|| self.leader()) {
                    Some(leader) if leader == self.id() => {
                        Ok(self.answer_here(request.clone()).await)
                    }
                    Some(leader) => self
                        .forward(leader, request.clone(), deadline)
                        .await
                        .map_err(|e| ForwardError::Unavailable(e.to_string())),
                    None => Err(ForwardError::NotLeader { leader: None }),
                }
            };
            // What waits here when the member is cut off could wait for
            // the whole request timeout; the client does better elsewhere.
            let reply = tokio::select! {
                reply = attempt => reply,
                () = self.until_cut_off() => Err(self.no_quorum()),
            };
            match reply.and_then(refused_here) {
                Ok(reply) => return Ok(reply),
                Err(error) => hint = self.pause_before_retry(error, deadline).await?,
            }
        }
    }

    /// Answers a forwarded `Propose` or `Read` on this node.
    pub async fn answer_here(&self, request: PeerRpc) -> PeerReply {
        match request {
            PeerRpc::Propose(kind) => PeerReply::Proposed(self.propose_here(kind).await),
            PeerRpc::Read { session, op } => PeerReply::Read(self.read_here(session, &op).await),
            PeerRpc::Admin(op) => PeerReply::Admin(self.admin_here(op).await),
            PeerRpc::ReadIndex => PeerReply::ReadIndex(self.read_index_here().await),
            PeerRpc::LeaderLogEnd => PeerReply::LeaderLogEnd(self.leader_log_end_here().await),
            other => PeerReply::Proposed(Err(ForwardError::Unavailable(format!(
                "{other:?} is not a client request"
            )))),
        }
    }

    /// The time this member stamps on commands while it leads (machine
    /// time, advanced by the leader's monotonic clock).
    pub fn leader_time_ms(&self) -> u64 {
        if self.faults().planted(PlantedBug::WallClockExpiry) {
            return crate::clock::wall_clock_ms(self.faults().clock_skew_ms);
        }
        let term = self.raft().metrics().borrow_watched().current_term;
        crate::sync::lock(self.leader_clock())
            .now_ms(term, || self.replica().lock().machine.now_ms())
    }

    /// Proposes on this node, which must lead. The leader's clock stamps the
    /// command; the machine never lets time run backwards.
    pub async fn propose_here(&self, kind: CommandKind) -> Result<CommandResponse, ForwardError> {
        let command = Command {
            time_ms: self.leader_time_ms(),
            kind,
        };
        match self.raft().client_write(command).await {
            Ok(written) => Ok(written.data),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(forward))) => {
                Err(ForwardError::NotLeader {
                    leader: forward.leader_id.filter(|id| *id != self.id()),
                })
            }
            Err(e) => Err(ForwardError::Unavailable(e.to_string())),
        }
    }

    /// Answers a read on this node after confirming leadership with a quorum
    /// (ReadIndex) and applying up to the read index.
    pub async fn read_here(
        &self,
        session: SessionId,
        op: &Op,
    ) -> Result<Result<Reply, OpError>, ForwardError> {
        match self.raft().ensure_linearizable(ReadPolicy::ReadIndex).await {
            Ok(_) => Ok(self.replica().lock().machine.query(session, op)),
            Err(RaftError::APIError(LinearizableReadError::ForwardToLeader(forward))) => {
                Err(ForwardError::NotLeader {
                    leader: forward.leader_id.filter(|id| *id != self.id()),
                })
            }
            Err(e) => Err(ForwardError::Unavailable(e.to_string())),
        }
    }

    async fn forward(
        &self,
        leader: NodeId,
        rpc: PeerRpc,
        deadline: Instant,
    ) -> Result<PeerReply, LinkError> {
        let Some(link) = self.link_to(leader) else {
            return Err(LinkError::Unreachable(leader, "not a member".into()));
        };
        let remaining = deadline.saturating_duration_since(Instant::now());
        // A leader that stops answering (paused, cut off) is replaced by an
        // election; give up on it then rather than wait out the deadline.
        // Retrying is safe: client commands are deduplicated by the machine.
        tokio::select! {
            reply = link.call(rpc, remaining.max(Duration::from_millis(1))) => reply,
            () = self.leader_changes_from(leader) => Err(LinkError::Unreachable(
                leader,
                "another member was elected".into(),
            )),
        }
    }

    /// Resolves once this member knows a leader other than `leader`.
    async fn leader_changes_from(&self, leader: NodeId) {
        let mut server = self.raft().server_metrics();
        loop {
            let current = server.borrow_and_update().current_leader;
            if current.is_some_and(|now| now != leader) {
                return;
            }
            if server.changed().await.is_err() {
                return std::future::pending().await; // Raft stopped: the deadline decides.
            }
        }
    }

    /// Resolves once this member is cut off from a quorum.
    async fn until_cut_off(&self) {
        let mut cut_off = self.subscribe_cut_off();
        if cut_off.wait_for(|cut| *cut).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    fn no_quorum(&self) -> ForwardError {
        ForwardError::Unavailable(format!(
            "member {} cannot reach a quorum; try another member",
            self.id()
        ))
    }

    /// Waits a little before the next attempt; gives up at the deadline.
    async fn pause_before_retry(
        &self,
        error: ForwardError,
        deadline: Instant,
    ) -> Result<Option<NodeId>, ForwardError> {
        if Instant::now() >= deadline {
            return Err(error);
        }
        let hint = match &error {
            ForwardError::NotLeader { leader } => *leader,
            ForwardError::Unavailable(_) => None,
        };
        tokio::time::sleep(RETRY_PAUSE).await;
        Ok(hint)
    }
}

/// A reply saying the node was not the leader (or could not serve) becomes
/// the error to retry on.
fn refused_here(reply: PeerReply) -> Result<PeerReply, ForwardError> {
    match reply {
        PeerReply::Proposed(Err(e))
        | PeerReply::Read(Err(e))
        | PeerReply::Admin(Err(e))
        | PeerReply::ReadIndex(Err(e))
        | PeerReply::LeaderLogEnd(Err(e)) => Err(e),
        reply => Ok(reply),
    }
}

fn unexpected(reply: PeerReply) -> ForwardError {
    ForwardError::Unavailable(format!("mismatched reply {reply:?}"))
}
