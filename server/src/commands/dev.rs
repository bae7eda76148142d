//! `raftcp dev`: the embedded default, a 3-node cluster on 127.0.0.1 in one
//! process, durable under ./raftcp-data, ready to connect to.

use crate::node::{self, NodeConfig};
use crate::raft::peer_auth::ClusterSecret;
use clap::Args;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct DevArgs {
    /// First port; the nodes use this and the next two.
    #[arg(long, default_value_t = 7701)]
    pub base_port: u16,
    /// Data directory; each node uses a subdirectory.
    #[arg(long, default_value = "raftcp-data")]
    pub data: PathBuf,
    /// Microseconds each log waits for more writes before an fsync (see
    /// `raftcp serve --help`).
    #[arg(long, default_value_t = node::DEFAULT_FSYNC_BATCH_WAIT_US)]
    pub fsync_batch_wait_us: u64,
    #[command(flatten)]
    pub connections: super::serve::ConnectionArgs,
    #[command(flatten)]
    pub access: super::serve::AccessArgs,
    /// Serve the www dashboard from this directory at `/` (`scripts/dev`
    /// builds it into www/dist and passes it). It is given, never looked
    /// for: a page served here may drive the cluster.
    #[arg(long, value_name = "DIR")]
    pub www: Option<PathBuf>,
}

pub async fn run(args: DevArgs) -> Result<(), String> {
    let members: BTreeMap<u64, String> = (1..=3u16)
        .map(|i| {
            let port = args.base_port + i - 1;
            (u64::from(i), format!("127.0.0.1:{port}"))
        })
        .collect();
    std::fs::create_dir_all(&args.data).map_err(|e| format!("{}: {e}", args.data.display()))?;
    let secret = ClusterSecret::read_or_create(&args.data.join("cluster-secret"))
        .map_err(|e| e.to_string())?;
    let www = args.www.as_deref().map(super::load_www).transpose()?;
    let mut nodes = Vec::new();
    for id in members.keys() {
        let dir = args.data.join(format!("node-{id}"));
        let mut config = NodeConfig::new(*id, dir, members.clone());
        config.fsync_batch_wait = Duration::from_micros(args.fsync_batch_wait_us);
        config.connection_limits = args.connections.limits();
        config.cluster_secret = Some(secret.clone());
        args.access.apply(&mut config)?;
        config.www = www.clone();
        nodes.push(node::start(config).await.map_err(|e| e.to_string())?);
    }
    let ready = nodes[0]
        .raft()
        .wait(Some(Duration::from_secs(30)))
        .metrics(|m| m.current_leader.is_some(), "a leader")
        .await;
    if ready.is_err() {
        return Err("no leader elected within 30 s".into());
    }
    let endpoints: Vec<String> = members
        .values()
        .map(|addr| format!("{}://{addr}/v1/client", nodes[0].cluster.scheme()))
        .collect();
    println!(
        "raftcp dev: 3-node cluster up (data in {})",
        args.data.display()
    );
    for endpoint in &endpoints {
        println!("  {endpoint}");
    }
    println!(
        "connect with: raftcp::Client::connect([\"{}\"])",
        endpoints[0]
    );
    let web_scheme = if nodes[0].cluster.tls().is_some() {
        "https"
    } else {
        "http"
    };
    let dashboard = format!("{web_scheme}://{}/", members[&1]);
    match &args.www {
        Some(dir) => println!("dashboard: {dashboard} (from {})", dir.display()),
        None => println!("dashboard: {dashboard} (not served: run scripts/dev, or give --www)"),
    }
    println!("Ctrl-C stops the cluster.");
    super::shutdown_signal().await;
    println!("stopping…");
    for node in nodes {
        node.shutdown().await;
    }
    Ok(())
}
