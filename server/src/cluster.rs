//! One member's view of the cluster: its Raft, its replica of the machine,
//! its peer links, its settings and the membership as it sees it. How a
//! command gets to the leader (`Cluster::propose`, `Cluster::read`) is the
//! driver's ([`crate::driver`]); the admin operations are in
//! [`crate::admin`].

use crate::auth::Authenticator;
use crate::clock::LeaderClock;
use crate::faults::Faults;
use crate::metrics::Metrics;
use crate::origin::OriginPolicy;
use crate::raft::network::{PeerLink, Peers};
use crate::raft::peer_frame::{LogEnd, PeerReply, PeerRpc};
use crate::raft::peer_server::PeerHost;
use crate::raft::state_machine::SharedReplica;
use crate::raft::{LogId, NodeId, Raft, TypeConfig};
use crate::recovery::Recovery;
use crate::storage::known_peers::KnownPeers;
use crate::tls::Tls;
use crate::watch::Watches;
use crate::www::Assets;
use openraft::async_runtime::WatchReceiver;
use openraft::{RaftMetrics, ServerState};
use raftcp_proto::Member;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::watch;

/// Server settings that clients see.
#[derive(Clone, Debug)]
pub struct Settings {
    pub session_ttl_ms: u64,
    pub heartbeat_ms: u64,
    /// How long a request may wait for a leader before it fails retryably.
    pub request_timeout: Duration,
    /// How long without a quorum before this member sends its clients away
    /// (see `driver::cut_off`).
    pub cut_off_after: Duration,
    /// The group's state quota in bytes (`--max-state-bytes`).
    pub max_state_bytes: u64,
    /// Anonymous clients may run admin operations: the member listens on
    /// loopback only (and the client connects from it).
    pub anonymous_admin: bool,
}

/// What a member's [`Cluster`] is made of (see `node::start`).
#[derive(Debug)]
pub struct ClusterParts {
    pub id: NodeId,
    pub cluster_id: String,
    pub raft: Raft,
    pub replica: SharedReplica,
    pub peers: Arc<Peers>,
    pub known_peers: Arc<KnownPeers>,
    /// The members' `host:port` this member was started with (`--peers`,
    /// or itself alone with `--join`).
    pub members: BTreeMap<NodeId, String>,
    pub settings: Settings,
    pub origins: OriginPolicy,
    pub authenticator: Option<Arc<Authenticator>>,
    pub tls: Option<Arc<Tls>>,
    pub faults: Faults,
    /// The objects clients watch on this member (shared with the apply
    /// loop).
    pub watches: Arc<Watches>,
    /// The dashboard's files (`--www`); none: `/` says how to build them.
    pub www: Option<Arc<Assets>>,
    /// Whether this member holds back its vote after its log lost a tail.
    pub recovery: Recovery,
}

#[derive(Debug)]
pub struct Cluster {
    id: NodeId,
    cluster_id: String,
    raft: Raft,
    replica: SharedReplica,
    peers: Arc<Peers>,
    known_peers: Arc<KnownPeers>,
    /// The members' `host:port` this member was started with (`--peers`,
    /// or itself alone with `--join`); the Raft membership is the truth
    /// (see [`Cluster::member_addrs`]).
    members: BTreeMap<NodeId, String>,
    settings: Settings,
    /// Which browser pages may open client connections.
    origins: OriginPolicy,
    /// Checks client tokens (`--auth-jwks`); none: clients are anonymous.
    authenticator: Option<Arc<Authenticator>>,
    /// The member port's TLS (`--tls-cert`); none: plain WebSockets.
    tls: Option<Arc<Tls>>,
    metrics: Metrics,
    /// Stamps commands while this member leads.
    clock: Mutex<LeaderClock>,
    /// True while this member cannot reach a quorum; kept by the driver
    /// (`driver::cut_off`).
    cut_off: watch::Sender<bool>,
    /// Test faults (none outside the fault campaign).
    faults: Faults,
    watches: Arc<Watches>,
    www: Option<Arc<Assets>>,
    recovery: Recovery,
    /// Held by the leader while it carries out a membership change
    /// (`crate::admin`): one at a time.
    membership_changes: tokio::sync::Mutex<()>,
}

impl Cluster {
    pub fn new(parts: ClusterParts) -> Self {
        Self {
            id: parts.id,
            cluster_id: parts.cluster_id,
            raft: parts.raft,
            replica: parts.replica,
            peers: parts.peers,
            known_peers: parts.known_peers,
            members: parts.members,
            settings: parts.settings,
            origins: parts.origins,
            authenticator: parts.authenticator,
            tls: parts.tls,
            metrics: Metrics::default(),
            clock: Mutex::default(),
            cut_off: watch::Sender::new(false),
            faults: parts.faults,
            watches: parts.watches,
            www: parts.www,
            recovery: parts.recovery,
            membership_changes: tokio::sync::Mutex::default(),
        }
    }

    pub fn id(&self) -> NodeId {
        self.id
    }

    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    pub fn raft(&self) -> &Raft {
        &self.raft
    }

    pub fn replica(&self) -> &SharedReplica {
        &self.replica
    }

    pub fn peers(&self) -> &Arc<Peers> {
        &self.peers
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Whether a browser page from `origin` (none: not a page) may open a
    /// client connection: one served by a member of the cluster, or from
    /// an `--allowed-origin`.
    pub fn allows_page_from(&self, origin: Option<&str>) -> bool {
        match origin {
            None => true, // Not a browser page.
            Some(origin) => self.origins.allows(Some(origin)) || self.is_member_page(origin),
        }
    }

    /// Whether `origin` is a page served by a current member of the cluster
    /// (the dashboard), not merely one the member allows.
    pub fn is_member_page(&self, origin: &str) -> bool {
        self.origins
            .is_member_page(origin, self.member_addrs().values())
    }

    /// Whether this member may vote, or recovers a log that lost a tail
    /// (`crate::recovery`).
    pub fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    /// Where this member's log ends, and the voters it holds.
    pub fn log_end(&self) -> LogEnd {
        LogEnd {
            last_log_id: self.raft.data_metrics().borrow_watched().last_log,
            voters: (self.raft_metrics().membership_config.membership())
                .voter_ids()
                .collect(),
        }
    }

    /// The dashboard's files, when the member serves them (`--www`).
    pub fn www(&self) -> Option<&Assets> {
        self.www.as_deref()
    }

    pub fn authenticator(&self) -> Option<&Arc<Authenticator>> {
        self.authenticator.as_ref()
    }

    pub fn tls(&self) -> Option<&Arc<Tls>> {
        self.tls.as_ref()
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// The objects clients watch on this member.
    pub fn watches(&self) -> &Watches {
        &self.watches
    }

    /// The clock that stamps commands while this member leads.
    pub(crate) fn leader_clock(&self) -> &Mutex<LeaderClock> {
        &self.clock
    }

    /// Held by the leader while it carries out a membership change.
    pub(crate) fn membership_changes(&self) -> &tokio::sync::Mutex<()> {
        &self.membership_changes
    }

    /// Whether this member is cut off from a quorum now.
    pub fn is_cut_off(&self) -> bool {
        *self.cut_off.borrow()
    }

    /// Records whether this member is cut off; returns what it was.
    pub(crate) fn set_cut_off(&self, cut_off: bool) -> bool {
        self.cut_off.send_replace(cut_off)
    }

    pub(crate) fn subscribe_cut_off(&self) -> watch::Receiver<bool> {
        self.cut_off.subscribe()
    }

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
}

impl PeerHost for Cluster {
    fn id(&self) -> NodeId {
        self.id
    }

    async fn may_vote_for(&self, candidate_last: Option<LogId>) -> bool {
        !self.recovery.holds_back_vote()
            || crate::recovery::meets_every_voters_log(self, candidate_last).await
    }

    fn log_end(&self) -> LogEnd {
        Cluster::log_end(self)
    }

    fn note_append_from(&self, leader: NodeId) {
        self.recovery.note_append_from(leader);
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
