//! Starting and stopping one member: open its data directory, start Raft,
//! the gateway, the timed duties and the listener.

use crate::admission::{self, Admission};
use crate::auth::Authenticator;
use crate::cluster::{Cluster, ClusterParts, Settings};
use crate::driver::Driver;
use crate::faults::{Faults, PlantedBug};
use crate::gateway::Gateway;
use crate::origin::OriginPolicy;
use crate::raft::log_store::LogStore;
use crate::raft::network::{NetworkFactory, Peers};
use crate::raft::peer_auth::{self, ClusterSecret};
use crate::raft::state_machine::StateMachine;
use crate::raft::{NodeId, Raft, raft_config};
use crate::recovery::Recovery;
use crate::storage::identity::{self, IdentityError};
use crate::storage::known_peers::KnownPeers;
use crate::tls::Tls;
use crate::watch::Watches;
use openraft::BasicNode;
use openraft::async_runtime::WatchReceiver;
use std::collections::{BTreeMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Default of `--fsync-batch-wait-us`: how long the log's flush thread
/// gathers more writes before each fsync. Writes that queue while an fsync
/// runs are gathered anyway (they are drained within this wait), so a
/// short wait keeps the natural group commit under load and costs one
/// request at a time almost nothing: against 250 µs, 20 µs took one
/// request from 0.64 to 0.39–0.45 ms and raised incr at 64 in flight by a
/// quarter with the same p99 (docs/benchmarks.md, "Fsync batching, a third
/// look"). Disks that throttle I/O operations may want a longer wait.
pub const DEFAULT_FSYNC_BATCH_WAIT_US: u64 = 20;

/// Everything one member needs to start.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    pub node_id: NodeId,
    /// `host:port` to listen on; must equal this node's entry in `members`.
    pub listen: String,
    pub data_dir: PathBuf,
    /// Every member's `host:port`, this node included (`--peers`): the
    /// first membership, when the member starts pristine. Only itself when
    /// it joins.
    pub members: BTreeMap<NodeId, String>,
    /// Members of the cluster this one joins (`--join`, `host:port`): it
    /// then starts empty and waits to be added as a learner.
    pub join: Vec<String>,
    pub cluster_id: String,
    pub session_ttl_ms: u64,
    pub heartbeat_ms: u64,
    pub election_timeout_ms: u64,
    /// Raft entries between snapshots.
    pub snapshot_every: u64,
    pub request_timeout: Duration,
    /// How long the log's flush thread waits for more appends before each
    /// fsync. Longer means fewer, larger fsyncs: better tail latency on a
    /// disk that throttles I/O operations, a little more latency per write
    /// when idle.
    pub fsync_batch_wait: Duration,
    /// Caps on open connections (`--max-connections`,
    /// `--max-connections-per-address`).
    pub connection_limits: admission::Limits,
    /// What members prove membership with (`--cluster-secret-file`);
    /// needed when there is more than one member.
    pub cluster_secret: Option<ClusterSecret>,
    /// Web origins besides the member's own whose pages may connect
    /// (`--allowed-origin`).
    pub allowed_origins: Vec<String>,
    /// Checks client tokens (`--auth-jwks`); none: clients are anonymous.
    pub authenticator: Option<Arc<Authenticator>>,
    /// TLS on the member port and to peers (`--tls-cert`).
    pub tls: Option<Arc<Tls>>,
    /// The group's state quota in bytes (`--max-state-bytes`).
    pub max_state_bytes: u64,
    /// The dashboard's files served at `/` (`--www`).
    pub www: Option<Arc<crate::www::Assets>>,
    /// Test faults: none but in the fault campaign's own build.
    pub faults: Faults,
}

impl NodeConfig {
    /// Production defaults (docs/operations.md, Timing): sessions live
    /// 60 s without a heartbeat; clients heartbeat every 5 s.
    pub fn new(node_id: NodeId, data_dir: PathBuf, members: BTreeMap<NodeId, String>) -> Self {
        let listen = members.get(&node_id).cloned().unwrap_or_default();
        Self {
            node_id,
            listen,
            data_dir,
            members,
            join: Vec::new(),
            cluster_id: "raftcp".into(),
            session_ttl_ms: 60_000,
            heartbeat_ms: 5_000,
            election_timeout_ms: 1_000,
            snapshot_every: 20_000,
            request_timeout: Duration::from_secs(10),
            fsync_batch_wait: Duration::from_micros(DEFAULT_FSYNC_BATCH_WAIT_US),
            connection_limits: admission::Limits::default(),
            cluster_secret: None,
            allowed_origins: Vec::new(),
            authenticator: None,
            tls: None,
            max_state_bytes: crate::limits::STATE_BYTES_MAX_DEFAULT,
            www: None,
            faults: Faults::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("node {0} is not in the member list")]
    NotAMember(NodeId),
    #[error(
        "a cluster of several members needs --cluster-secret-file: the secret members prove \
         membership to each other with (e.g. `openssl rand -hex 32 > FILE`, the same file on \
         every member)"
    )]
    NoClusterSecret,
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("storage: {0}")]
    Storage(#[from] std::io::Error),
    #[error("raft: {0}")]
    Raft(String),
}

/// A started member. Dropping it does not stop it; call [`RunningNode::shutdown`].
#[derive(Debug)]
pub struct RunningNode {
    pub cluster: Arc<Cluster>,
    pub local_addr: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
}

pub async fn start(config: NodeConfig) -> Result<RunningNode, StartError> {
    let id = config.node_id;
    if !config.members.contains_key(&id) {
        return Err(StartError::NotAMember(id));
    }
    let cluster_secret = match &config.cluster_secret {
        Some(secret) => secret.clone(),
        None if config.members.len() > 1 || !config.join.is_empty() => {
            return Err(StartError::NoClusterSecret);
        }
        // A lone member has no one to prove anything to: a secret nobody
        // knows refuses every peer link.
        None => ClusterSecret::from_bytes(&peer_auth::nonce()),
    };
    let identity = identity::open_or_create(&config.data_dir, &config.cluster_id, id)?;
    let listener =
        TcpListener::bind(&config.listen)
            .await
            .map_err(|source| StartError::Listen {
                addr: config.listen.clone(),
                source,
            })?;
    let local_addr = listener.local_addr()?;
    let known_peers = Arc::new(KnownPeers::open(&config.data_dir)?);
    let log = LogStore::open(&config.data_dir, config.fsync_batch_wait, config.faults)?;
    let (applied_tx, applied_rx) = mpsc::channel(crate::limits::APPLIED_QUEUED_MAX);
    let state_dir = config.data_dir.join("state");
    let watches = Arc::new(Watches::default());
    let (state_machine, replica) =
        StateMachine::open(&state_dir, applied_tx, watches.clone(), config.faults)?;
    let peers = Peers::new(
        id,
        &config.cluster_id,
        identity.incarnation,
        known_peers.clone(),
        cluster_secret,
        config.tls.clone(),
        &config.members,
    );
    let recovery = Recovery::open(&config.data_dir, log.clone(), config.faults)?;
    let mut raft_config = raft_config(config.election_timeout_ms, config.snapshot_every)
        .map_err(|e| StartError::Raft(e.to_string()))?;
    // Off before the first election timeout can pass; `recovery::catch_up`
    // turns it on.
    raft_config.enable_elect = !recovery.holds_back_vote();
    let network = NetworkFactory {
        peers: peers.clone(),
    };
    let raft = Raft::new(id, Arc::new(raft_config), network, log, state_machine)
        .await
        .map_err(|e| StartError::Raft(e.to_string()))?;
    let pristine = !raft
        .is_initialized()
        .await
        .map_err(|e| StartError::Raft(e.to_string()))?;
    if pristine && !config.join.is_empty() {
        tracing::info!(
            "node {id} waits to be added: run `raftcp admin --endpoints {} add-member --id {id} \
             --addr {}`, then `promote {id}`",
            config.join.join(","),
            config.listen
        );
    } else if pristine {
        // Every pristine member initializes with the same member list, so the
        // cluster forms as soon as a majority is up, whichever starts first.
        let nodes: BTreeMap<NodeId, BasicNode> = config
            .members
            .iter()
            .map(|(id, addr)| (*id, BasicNode { addr: addr.clone() }))
            .collect();
        if let Err(e) = raft.initialize(nodes).await {
            tracing::debug!("initialize: {e}");
        }
    }
    let cluster = Arc::new(Cluster::new(ClusterParts {
        id,
        cluster_id: config.cluster_id.clone(),
        raft,
        replica,
        peers,
        known_peers,
        members: config.members.clone(),
        origins: OriginPolicy::new(
            &config.members[&id],
            config.allowed_origins.clone(),
            config.tls.is_some(),
        ),
        authenticator: config.authenticator.clone(),
        tls: config.tls.clone(),
        settings: Settings {
            session_ttl_ms: config.session_ttl_ms,
            heartbeat_ms: config.heartbeat_ms,
            request_timeout: config.request_timeout,
            cut_off_after: Duration::from_millis(config.election_timeout_ms.saturating_mul(3)),
            max_state_bytes: config.max_state_bytes,
            anonymous_admin: listens_on_loopback_only(&local_addr),
        },
        faults: config.faults,
        watches,
        www: config.www.clone(),
        recovery,
    }));
    let (driver, mut tasks) = Driver::start(cluster.clone(), applied_rx);
    if !config.faults.planted(PlantedBug::StaysUpOnStorageFailure) {
        tasks.push(tokio::spawn(exit_on_fatal(cluster.raft().clone())));
    }
    if cluster.recovery().is_recovering() {
        tasks.push(tokio::spawn(crate::recovery::catch_up(cluster.clone())));
    }
    tasks.push(tokio::spawn(crate::http::accept_loop(
        listener,
        Gateway::new(driver),
        Admission::new(config.connection_limits, peer_addresses(&config).await),
        identity.incarnation,
    )));
    tracing::info!("node {id} listening on {local_addr}");
    Ok(RunningNode {
        cluster,
        local_addr,
        tasks,
    })
}

/// Whether a member listening at `addr` can be reached from this machine
/// only (unless someone here forwards it).
fn listens_on_loopback_only(addr: &SocketAddr) -> bool {
    addr.ip().to_canonical().is_loopback()
}

/// The addresses the other members' configured names resolve to, where
/// their peer links come from; a name that does not resolve now gets no
/// reserve (logged).
async fn peer_addresses(config: &NodeConfig) -> HashSet<IpAddr> {
    let mut addresses = HashSet::new();
    let others = config
        .members
        .iter()
        .filter(|(id, _)| **id != config.node_id);
    let addrs = others.map(|(_, addr)| addr).chain(&config.join);
    for addr in addrs {
        match tokio::net::lookup_host(addr.as_str()).await {
            Ok(resolved) => addresses.extend(resolved.map(|a| a.ip())),
            Err(e) => tracing::warn!(
                "member address {addr} does not resolve ({e}): its links get no reserved \
                 connection places"
            ),
        }
    }
    addresses
}

/// Exits the process when Raft stops on its own (a storage error such as a
/// full disk or a failed fsync, or a panic in its core): a member that can
/// no longer write its log must not stay up answering 503, but stop, so
/// that its supervisor notices and restarts it. A clean shutdown aborts
/// this task before it stops Raft. It looks every [`FATAL_CHECK_INTERVAL`]
/// rather than waking on each change of Raft's metrics, which change with
/// every entry applied (a wake-up per entry cost several percent of CPU).
async fn exit_on_fatal(raft: Raft) {
    use futures_util::FutureExt;
    let mut metrics = raft.metrics();
    let fatal = loop {
        tokio::time::sleep(FATAL_CHECK_INTERVAL).await;
        if let Err(fatal) = &metrics.borrow_watched().running_state {
            break fatal.to_string();
        }
        // A panic in Raft's core reports nothing: its metrics just end.
        if let Some(Err(_)) = metrics.changed().now_or_never() {
            break "raft stopped reporting (its core panicked)".to_owned();
        }
    };
    tracing::error!("raft stopped: {fatal}; exiting so the member can be restarted");
    eprintln!("raftcp: raft stopped: {fatal}");
    std::process::exit(EXIT_RAFT_STOPPED);
}

/// How often a member checks whether its Raft stopped.
const FATAL_CHECK_INTERVAL: Duration = Duration::from_millis(500);

/// Exit status of a member whose Raft stopped (EX_IOERR: nearly always the
/// disk).
pub const EXIT_RAFT_STOPPED: i32 = 74;

impl RunningNode {
    pub fn raft(&self) -> &Raft {
        self.cluster.raft()
    }

    /// Stops accepting, stops Raft (flushing what it has), and returns.
    pub async fn shutdown(self) {
        for task in &self.tasks {
            task.abort();
        }
        if let Err(e) = self.cluster.raft().shutdown().await {
            tracing::warn!("node {}: raft shutdown: {e}", self.cluster.id());
        }
    }
}
