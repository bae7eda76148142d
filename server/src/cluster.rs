//! One member's view of the cluster: its Raft, its replica of the machine,
//! its peer links, and the two ways into the machine that the gateway uses:
//! [`Cluster::propose`] (through the log) and [`Cluster::read`] (ReadIndex).
//! Both find the leader themselves and retry through elections, so a client
//! connected to any member is served.

use crate::auth::Authenticator;
use crate::clock::LeaderClock;
use crate::faults::{Faults, PlantedBug};
use crate::machine::{Command, CommandKind, CommandResponse};
use crate::metrics::Metrics;
use crate::origin::OriginPolicy;
use crate::raft::network::{LinkError, PeerLink, Peers};
/// Why [`Cluster::propose`] or [`Cluster::read`] did not get an answer.
pub use crate::raft::peer_frame::ForwardError;
use crate::raft::peer_frame::{PeerReply, PeerRpc};
use crate::raft::peer_server::PeerHost;
use crate::raft::state_machine::SharedReplica;
use crate::raft::{NodeId, Raft, TypeConfig};
use crate::storage::known_peers::KnownPeers;
use crate::tls::Tls;
use openraft::async_runtime::WatchReceiver;
use openraft::error::{ClientWriteError, LinearizableReadError, RaftError};
use openraft::{RaftMetrics, ReadPolicy, ServerState};
use raftcp_proto::{Member, Op, OpError, Reply, SessionId};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Server settings that clients see.
#[derive(Clone, Debug)]
pub struct Settings {
    pub session_ttl_ms: u64,
    pub heartbeat_ms: u64,
    /// How long a request may wait for a leader before it fails retryably.
    pub request_timeout: Duration,
    /// How long without a quorum before this member sends its clients away
    /// (see `reachability`).
    pub cut_off_after: Duration,
    /// The group's state quota in bytes (`--max-state-bytes`).
    pub max_state_bytes: u64,
    /// Anonymous clients may run admin operations: the member listens on
    /// loopback only (and the client connects from it).
    pub anonymous_admin: bool,
}

#[derive(Debug)]
pub struct Cluster {
    pub id: NodeId,
    pub cluster_id: String,
    pub raft: Raft,
    pub replica: SharedReplica,
    pub peers: Arc<Peers>,
    pub known_peers: Arc<KnownPeers>,
    /// The members' `host:port` this member was started with (`--peers`,
    /// or itself alone with `--join`); the Raft membership is the truth
    /// (see [`Cluster::member_addrs`]).
    pub members: BTreeMap<NodeId, String>,
    pub settings: Settings,
    /// Which browser pages may open client connections.
    pub origins: OriginPolicy,
    /// Checks client tokens (`--auth-jwks`); none: clients are anonymous.
    pub authenticator: Option<Arc<Authenticator>>,
    /// The member port's TLS (`--tls-cert`); none: plain WebSockets.
    pub tls: Option<Arc<Tls>>,
    pub metrics: Metrics,
    /// Stamps commands while this member leads.
    pub clock: Mutex<LeaderClock>,
    /// True while this member cannot reach a quorum; kept by
    /// `reachability::watch`.
    pub cut_off: watch::Sender<bool>,
    /// Test faults (none outside the fault campaign).
    pub faults: Faults,
    /// Held by the leader while it carries out a membership change
    /// (`crate::admin`): one at a time.
    pub membership_changes: tokio::sync::Mutex<()>,
}

/// Pause between attempts while no leader is known or it is changing.
const RETRY_PAUSE: Duration = Duration::from_millis(30);

impl Cluster {
    /// The leader as this node knows it (it may be stale).
    /// A copy of Raft's metrics. Copied out of the watch at once: holding
    /// its borrow across an await can stall Raft.
    pub fn raft_metrics(&self) -> RaftMetrics<TypeConfig> {
        self.raft.metrics().borrow_watched().clone()
    }

    pub fn leader(&self) -> Option<NodeId> {
        self.raft.metrics().borrow_watched().current_leader
    }

    /// Whether `metrics` (a copy from [`Cluster::raft_metrics`]) show this
    /// node leading.
    pub fn leads(&self, metrics: &RaftMetrics<TypeConfig>) -> bool {
        metrics.state == ServerState::Leader && metrics.current_leader == Some(self.id)
    }

    /// `wss` when the member port serves TLS, else `ws`.
    pub fn scheme(&self) -> &'static str {
        match self.tls {
            Some(_) => "wss",
            None => "ws",
        }
    }

    pub fn client_url(&self, node: NodeId) -> Option<String> {
        self.member_addrs()
            .get(&node)
            .map(|addr| format!("{}://{addr}/v1/client", self.scheme()))
    }

    pub fn member_list(&self) -> Vec<Member> {
        let scheme = self.scheme();
        self.member_addrs()
            .into_iter()
            .map(|(node_id, addr)| Member {
                node_id,
                url: format!("{scheme}://{addr}/v1/client"),
            })
            .collect()
    }

    /// Every member's `host:port`, voters and learners: the Raft
    /// membership's, except that an address this member was started with
    /// wins (routes may differ per member: see `NetworkFactory`). Before
    /// a membership is known (a member waiting to be added), the addresses
    /// it was started with.
    pub fn member_addrs(&self) -> BTreeMap<NodeId, String> {
        let membership = self
            .raft
            .metrics()
            .borrow_watched()
            .membership_config
            .clone();
        let addrs: BTreeMap<NodeId, String> = membership
            .membership()
            .nodes()
            .map(|(id, node)| {
                let addr = self.members.get(id).unwrap_or(&node.addr);
                (*id, addr.clone())
            })
            .collect();
        match addrs.is_empty() {
            true => self.members.clone(),
            false => addrs,
        }
    }

    /// This member's link to member `peer`, made if there is none yet
    /// (`None`: not a member it knows).
    pub fn link_to(&self, peer: NodeId) -> Option<Arc<PeerLink>> {
        if let Some(link) = self.peers.get(peer) {
            return Some(link);
        }
        let addrs = self.member_addrs();
        addrs.get(&peer).map(|addr| self.peers.link(peer, addr))
    }

    /// Whether a peer link from `peer` (its proof verified) is taken: from
    /// a member, or from anyone while this member waits to be added (the
    /// leader adding it is not known to it yet). A removed member's links
    /// are refused, so it cannot disturb the group it left.
    pub fn accepts_peer(&self, peer: NodeId) -> bool {
        let membership = self
            .raft
            .metrics()
            .borrow_watched()
            .membership_config
            .clone();
        let mut nodes = membership.membership().nodes().peekable();
        let waiting_to_be_added = nodes.peek().is_none();
        peer != self.id && (waiting_to_be_added || nodes.any(|(id, _)| *id == peer))
    }

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

    /// Runs a `Propose` or `Read` on the leader, here or over the peer link,
    /// following leader hints and retrying through elections until the
    /// request timeout.
    pub(crate) async fn on_leader(&self, request: PeerRpc) -> Result<PeerReply, ForwardError> {
        let deadline = Instant::now() + self.settings.request_timeout;
        let mut hint = None;
        loop {
            if *self.cut_off.borrow() {
                return Err(self.no_quorum());
            }
            let attempt = async {
                match hint.take().or_else(|| self.leader()) {
                    Some(leader) if leader == self.id => {
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
            other => PeerReply::Proposed(Err(ForwardError::Unavailable(format!(
                "{other:?} is not a client request"
            )))),
        }
    }

    /// The time this member stamps on commands while it leads (machine
    /// time, advanced by the leader's monotonic clock).
    pub fn leader_time_ms(&self) -> u64 {
        if self.faults.planted(PlantedBug::WallClockExpiry) {
            return crate::clock::wall_clock_ms(self.faults.clock_skew_ms);
        }
        let term = self.raft.metrics().borrow_watched().current_term;
        crate::sync::lock(&self.clock).now_ms(term, || self.replica.lock().machine.now_ms())
    }

    /// Proposes on this node, which must lead. The leader's clock stamps the
    /// command; the machine never lets time run backwards.
    pub async fn propose_here(&self, kind: CommandKind) -> Result<CommandResponse, ForwardError> {
        let command = Command {
            time_ms: self.leader_time_ms(),
            kind,
        };
        match self.raft.client_write(command).await {
            Ok(written) => Ok(written.data),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(forward))) => {
                Err(ForwardError::NotLeader {
                    leader: forward.leader_id.filter(|id| *id != self.id),
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
        match self.raft.ensure_linearizable(ReadPolicy::ReadIndex).await {
            Ok(_) => Ok(self.replica.lock().machine.query(session, op)),
            Err(RaftError::APIError(LinearizableReadError::ForwardToLeader(forward))) => {
                Err(ForwardError::NotLeader {
                    leader: forward.leader_id.filter(|id| *id != self.id),
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
        let mut server = self.raft.server_metrics();
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
        let mut cut_off = self.cut_off.subscribe();
        if cut_off.wait_for(|cut| *cut).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    fn no_quorum(&self) -> ForwardError {
        ForwardError::Unavailable(format!(
            "member {} cannot reach a quorum; try another member",
            self.id
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

impl PeerHost for Cluster {
    fn id(&self) -> NodeId {
        self.id
    }

    fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    fn raft(&self) -> &Raft {
        &self.raft
    }

    fn peers(&self) -> &Peers {
        &self.peers
    }

    fn known_peers(&self) -> &KnownPeers {
        &self.known_peers
    }

    fn accepts_peer(&self, peer: NodeId) -> bool {
        Cluster::accepts_peer(self, peer)
    }

    fn link_to(&self, peer: NodeId) -> Option<Arc<PeerLink>> {
        Cluster::link_to(self, peer)
    }

    fn answer_forwarded(&self, rpc: PeerRpc) -> impl Future<Output = PeerReply> + Send {
        self.answer_here(rpc)
    }
}

/// A reply saying the node was not the leader (or could not serve) becomes
/// the error to retry on.
fn refused_here(reply: PeerReply) -> Result<PeerReply, ForwardError> {
    match reply {
        PeerReply::Proposed(Err(e)) | PeerReply::Read(Err(e)) | PeerReply::Admin(Err(e)) => Err(e),
        reply => Ok(reply),
    }
}

fn unexpected(reply: PeerReply) -> ForwardError {
    ForwardError::Unavailable(format!("mismatched reply {reply:?}"))
}
