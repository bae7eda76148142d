//! `raftcp serve`: one member of a cluster.

use crate::admission;
use crate::auth::Authenticator;
use crate::node::{self, NodeConfig};
use crate::raft::peer_auth::ClusterSecret;
use crate::tls::Tls;
use clap::Args;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// This member's id; must appear in --peers. A member that joins needs
    /// an id no member of the cluster ever had.
    #[arg(long)]
    pub node_id: u64,
    /// Address to listen on (clients, peers, /health and /metrics share it).
    /// Defaults to this node's address in --peers; needed with --join.
    #[arg(long)]
    pub listen: Option<String>,
    /// Data directory (Raft log, snapshots, identity).
    #[arg(long)]
    pub data: PathBuf,
    /// Every member as id=host:port, comma separated, this node included:
    /// the cluster's first membership. Read at the first start only; later
    /// changes go through `raftcp admin`.
    #[arg(long, value_parser = parse_peers, required_unless_present = "join", conflicts_with = "join")]
    pub peers: Option<BTreeMap<u64, String>>,
    /// Join a running cluster instead: members' host:port, comma separated.
    /// The member starts empty and serves nothing until an admin adds it
    /// (`raftcp admin add-member`, then `promote`).
    #[arg(long, value_delimiter = ',', requires = "listen")]
    pub join: Vec<String>,
    /// Members of one cluster share this id; a member of another is refused.
    #[arg(long, default_value = "raftcp")]
    pub cluster_id: String,
    /// File holding the secret members prove membership to each other with
    /// (at least 32 bytes, e.g. `openssl rand -hex 32 > FILE`), the same on
    /// every member; it never crosses the wire. Needed with several members.
    #[arg(long)]
    pub cluster_secret_file: Option<PathBuf>,
    /// Sessions without a heartbeat for this long expire (their locks and
    /// session-aware permits are released).
    #[arg(long, default_value_t = 60_000)]
    pub session_ttl_ms: u64,
    /// Interval at which clients heartbeat.
    #[arg(long, default_value_t = 5_000)]
    pub heartbeat_ms: u64,
    /// Raft election timeout (randomized between this and twice this).
    #[arg(long, default_value_t = 1_000)]
    pub election_timeout_ms: u64,
    /// Raft entries between snapshots (the log before one is purged).
    #[arg(long, default_value_t = 20_000)]
    pub snapshot_every: u64,
    /// Microseconds the log waits for more writes before each fsync.
    /// Longer means fewer, larger fsyncs: lower tail latency on disks that
    /// throttle I/O operations, a little less throughput at high concurrency.
    #[arg(long, default_value_t = node::DEFAULT_FSYNC_BATCH_WAIT_US)]
    pub fsync_batch_wait_us: u64,
    /// Bytes the group's state may take (names, values, waiters, sessions,
    /// cached replies); past it, requests that could grow it are refused
    /// with QUOTA_EXCEEDED. Give every member the same value.
    #[arg(long, default_value_t = crate::limits::STATE_BYTES_MAX_DEFAULT)]
    pub max_state_bytes: u64,
    #[command(flatten)]
    pub connections: ConnectionArgs,
    #[command(flatten)]
    pub access: AccessArgs,
    /// Serve the www dashboard from this directory (built by
    /// `scripts/build-www` into www/dist) at `/`.
    #[arg(long, value_name = "DIR")]
    pub www: Option<PathBuf>,
    /// Serve clients without tokens (no --auth-jwks) on an address other
    /// than loopback.
    /// Anyone who can reach the port can then read and change every object.
    #[arg(long)]
    pub allow_anonymous: bool,
}

/// Who may connect.
#[derive(Debug, Args)]
pub struct AccessArgs {
    /// A web origin (`https://app.example.com`) whose pages may connect,
    /// besides the member's own; repeat for several, `*` for any page.
    /// Browsers send their page's origin; other clients send none and are
    /// not affected.
    #[arg(long = "allowed-origin", value_name = "ORIGIN")]
    pub allowed_origins: Vec<String>,
    /// Clients must present a JWT signed by a key in this JWKS file
    /// (EdDSA, ES256, RS256 or HS256; re-read when it changes). Without it
    /// clients are anonymous and may do anything.
    #[arg(long, value_name = "FILE")]
    pub auth_jwks: Option<PathBuf>,
    /// With --auth-jwks: tokens must carry this `iss`.
    #[arg(long, requires = "auth_jwks")]
    pub auth_issuer: Option<String>,
    /// With --auth-jwks: tokens must name this audience (`aud`).
    #[arg(long, requires = "auth_jwks")]
    pub auth_audience: Option<String>,
    /// Serve TLS (`wss://`, `https://`) with this certificate chain (PEM);
    /// re-read when it changes. Members then also dial each other over TLS.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// The CA that signed the members' certificates, which members check
    /// each other's against (default: the public web roots).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_ca: Option<PathBuf>,
}

impl AccessArgs {
    /// Applies these settings to `config`.
    pub fn apply(&self, config: &mut NodeConfig) -> Result<(), String> {
        config.allowed_origins = self.allowed_origins.clone();
        if let Some(path) = &self.auth_jwks {
            let (issuer, audience) = (self.auth_issuer.clone(), self.auth_audience.clone());
            let authenticator = Authenticator::open(path, issuer, audience)
                .map_err(|e| format!("--auth-jwks: {e}"))?;
            config.authenticator = Some(Arc::new(authenticator));
        }
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            let tls = Tls::open(cert, key, self.tls_ca.as_deref()).map_err(|e| e.to_string())?;
            config.tls = Some(Arc::new(tls));
        }
        Ok(())
    }
}

/// Caps on open connections (clients and peers together); a connection
/// over a cap is answered 503 and closed.
#[derive(Debug, Args)]
pub struct ConnectionArgs {
    /// Most connections open at once.
    #[arg(long, default_value_t = admission::CONNECTIONS_MAX)]
    pub max_connections: usize,
    /// Most connections open at once from one IP address.
    #[arg(long, default_value_t = admission::CONNECTIONS_PER_ADDRESS_MAX)]
    pub max_connections_per_address: usize,
}

impl ConnectionArgs {
    pub fn limits(&self) -> admission::Limits {
        admission::Limits {
            total: self.max_connections,
            per_address: self.max_connections_per_address,
        }
    }
}

/// Whether `addr` (`host:port`) resolves to loopback addresses only.
fn is_loopback(addr: &str) -> bool {
    use std::net::ToSocketAddrs;
    match addr.to_socket_addrs() {
        Ok(addrs) => {
            let addrs: Vec<_> = addrs.collect();
            !addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback())
        }
        Err(_) => false,
    }
}

pub fn parse_peers(text: &str) -> Result<BTreeMap<u64, String>, String> {
    let mut peers = BTreeMap::new();
    for entry in text.split(',').filter(|e| !e.trim().is_empty()) {
        let (id, addr) = entry
            .split_once('=')
            .ok_or_else(|| format!("`{entry}` is not id=host:port"))?;
        let id: u64 = id
            .trim()
            .parse()
            .map_err(|_| format!("`{id}` is not a node id"))?;
        if id == 0 {
            return Err("node id 0 is reserved".into());
        }
        if peers.insert(id, addr.trim().to_owned()).is_some() {
            return Err(format!("node {id} is listed twice"));
        }
    }
    if peers.is_empty() {
        return Err("no peers given".into());
    }
    Ok(peers)
}

pub async fn run(args: ServeArgs) -> Result<(), String> {
    let members = match (args.peers, &args.listen) {
        (Some(peers), _) => peers,
        (None, Some(listen)) => BTreeMap::from([(args.node_id, listen.clone())]),
        (None, None) => return Err("--join needs --listen".into()),
    };
    let mut config = NodeConfig::new(args.node_id, args.data, members);
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    config.join = args.join;
    args.access.apply(&mut config)?;
    config.www = args.www.as_deref().map(super::load_www).transpose()?;
    if config.authenticator.is_none() && !args.allow_anonymous && !is_loopback(&config.listen) {
        return Err(format!(
            "refusing to serve anonymous clients on {}, which is not a loopback address: \
             anyone who reaches it could change every object. Give --auth-jwks so clients \
             need tokens, or --allow-anonymous to serve them anyway (behind a trusted \
             network or proxy)",
            config.listen
        ));
    }
    config.cluster_id = args.cluster_id;
    if let Some(path) = &args.cluster_secret_file {
        config.cluster_secret = Some(ClusterSecret::read(path).map_err(|e| e.to_string())?);
    }
    config.session_ttl_ms = args.session_ttl_ms;
    config.heartbeat_ms = args.heartbeat_ms.clamp(1, args.session_ttl_ms.max(1));
    config.election_timeout_ms = args.election_timeout_ms;
    config.snapshot_every = args.snapshot_every;
    config.fsync_batch_wait = Duration::from_micros(args.fsync_batch_wait_us);
    config.request_timeout =
        Duration::from_millis(args.election_timeout_ms.saturating_mul(10).max(5_000));
    config.connection_limits = args.connections.limits();
    config.max_state_bytes = args.max_state_bytes;
    config.faults = crate::faults::Faults::from_env();
    let node = node::start(config).await.map_err(|e| e.to_string())?;
    println!(
        "raftcp node {} serving {}://{}/v1/client",
        args.node_id,
        node.cluster.scheme(),
        node.local_addr
    );
    super::shutdown_signal().await;
    node.shutdown().await;
    Ok(())
}
