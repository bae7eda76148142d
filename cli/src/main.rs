//! The `raftcp` command line: the member's own commands (`serve`, `dev`,
//! `auth`, from `raftcp_server::commands`) and the ones that act as a
//! client of a running cluster (`status`, `admin`, `bench`, here, through
//! the `raftcp` client crate).

mod admin;
mod bench;
mod bench_watch;
mod status;

use clap::{Parser, Subcommand};
use raftcp_server::commands::{auth, dev, serve, vote_again};

#[derive(Debug, Parser)]
#[command(
    name = "raftcp",
    version,
    about = "A strongly consistent coordination service"
)]
struct Cli {
    /// Log filter (tracing env-filter syntax), e.g. `info` or `raftcp_server=debug`.
    /// Also read from RAFTCP_LOG. Quiet by default (`warn,openraft=error`).
    #[arg(long, global = true)]
    log: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run one member of a cluster.
    Serve(serve::ServeArgs),
    /// Run a 3-node cluster on 127.0.0.1 in this process (data under ./raftcp-data).
    Dev(dev::DevArgs),
    /// Show each member's state, the leader, term and commit/applied index.
    Status(status::StatusArgs),
    /// Load a running cluster and print throughput and latency percentiles.
    Bench(bench::BenchArgs),
    /// Make a token signing key, or a token.
    Auth(auth::AuthArgs),
    /// Operate a cluster: members and their changes, sessions, objects.
    Admin(admin::AdminArgs),
    /// Let a stopped member whose log lost a tail vote at its next start
    /// without catching up first: only after every member lost one at
    /// once (a power cut of the whole site).
    VoteAgain(vote_again::VoteAgainArgs),
}

fn main() -> std::process::ExitCode {
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("raftcp: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn run(cli: Cli) -> Result<(), String> {
    init_logging(cli.log.as_deref());
    match cli.command {
        Command::Auth(args) => return auth::run(args),
        Command::VoteAgain(args) => return vote_again::run(args),
        _ => {}
    }
    // The load generator runs on one thread: it shares the machine with the
    // cluster it measures, and cross-thread wakeups cost it more than a
    // second core gains it.
    let mut builder = match cli.command {
        Command::Bench(_) => tokio::runtime::Builder::new_current_thread(),
        _ => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = builder
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Dev(args) => dev::run(args).await,
            Command::Status(args) => status::run(args).await,
            Command::Bench(args) => bench::run(args).await,
            Command::Admin(args) => admin::run(args).await,
            Command::Auth(_) | Command::VoteAgain(_) => {
                unreachable!("answered before the runtime starts")
            }
        }
    })
}

fn init_logging(filter: Option<&str>) {
    let filter = filter
        .map(str::to_owned)
        .or_else(|| std::env::var("RAFTCP_LOG").ok())
        // openraft warns on every failed RPC to a down peer (several per
        // second); quiet by default means its errors only.
        .unwrap_or_else(|| "warn,openraft=error".to_owned());
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// A client for the commands that act as one (`bench`, `admin`, `status`):
/// `endpoints` (a bare `host:port` gets `ws://`), trusting the CA in
/// `ca_pem` and presenting `token` when given.
async fn connect_client(
    endpoints: &[String],
    name: Option<&str>,
    ca_pem: Option<&std::path::Path>,
    token: Option<&str>,
) -> Result<raftcp::Client, String> {
    let builder = client_builder(endpoints, name, ca_pem, token)?;
    builder.connect().await.map_err(|e| e.to_string())
}

/// The builder [`connect_client`] connects with, for settings beyond.
fn client_builder(
    endpoints: &[String],
    name: Option<&str>,
    ca_pem: Option<&std::path::Path>,
    token: Option<&str>,
) -> Result<raftcp::ClientBuilder, String> {
    let endpoints = endpoints.iter().map(|e| match e.contains("://") {
        true => e.clone(),
        false => format!("ws://{e}"),
    });
    let mut builder = raftcp::Client::builder().endpoints(endpoints);
    if let Some(name) = name {
        builder = builder.client_name(name);
    }
    if let Some(path) = ca_pem {
        let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        builder = builder.ca_pem(pem);
    }
    if let Some(token) = token {
        builder = builder.token(token);
    }
    Ok(builder)
}
