//! `raftcp admin`: a cluster's members, sessions and objects, and the
//! changes an operator makes to them, through the client's admin API.

use clap::{Args, Subcommand};
use raftcp::Client;
use raftcp::proto::SessionId;
use raftcp::proto::admin::{Members, ObjectInfo, SessionInfo};

#[derive(Debug, Args)]
pub struct AdminArgs {
    /// Members to connect through, comma separated (ws://host:port or host:port).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "127.0.0.1:7701,127.0.0.1:7702,127.0.0.1:7703"
    )]
    pub endpoints: Vec<String>,
    /// A token with the `admin` rule, for a cluster that needs tokens.
    #[arg(long)]
    pub token: Option<String>,
    /// Trust this CA (PEM file) for wss:// endpoints.
    #[arg(long, value_name = "FILE")]
    pub ca_pem: Option<std::path::PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(subcommand)]
    pub command: AdminCommand,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// The members as the leader sees them: role, log position, lag, last heard.
    Members,
    /// Add a member, started with `raftcp serve --join`, as a learner.
    AddMember {
        #[arg(long)]
        id: u64,
        /// Its host:port, as the other members reach it.
        #[arg(long)]
        addr: String,
    },
    /// Make a learner a voter (once it has caught up).
    Promote {
        id: u64,
        /// Also when it lags, or when the voters reachable would not be a majority.
        #[arg(long)]
        force: bool,
    },
    /// Remove a voter or learner.
    RemoveMember {
        id: u64,
        /// Also when the voters left that the leader reaches would not be a majority.
        #[arg(long)]
        force: bool,
    },
    /// Hand leadership to another voter.
    TransferLeader { id: u64 },
    /// Every open session: client, expiry, what it holds and waits for.
    Sessions,
    /// End a session as its close() would: its locks and permits are released.
    CloseSession { id: u64 },
    /// Objects, optionally those whose name starts with a prefix.
    Objects {
        #[arg(long, default_value = "")]
        prefix: String,
    },
}

pub async fn run(args: AdminArgs) -> Result<(), String> {
    let (ca_pem, token) = (args.ca_pem.as_deref(), args.token.as_deref());
    let name = Some("raftcp admin");
    let client = crate::connect_client(&args.endpoints, name, ca_pem, token).await?;
    let result = run_command(&client, &args).await;
    client.close().await;
    result
}

async fn run_command(client: &Client, args: &AdminArgs) -> Result<(), String> {
    let admin = client.admin();
    let failed = |e: raftcp::Error| e.to_string();
    let done = |what: String| {
        match args.json {
            true => println!("{{\"done\":{}}}", json_string(&what)),
            false => println!("{what}"),
        };
        Ok(())
    };
    match &args.command {
        AdminCommand::Members => {
            let members = admin.members().await.map_err(failed)?;
            print(args.json, &members, members_table)
        }
        AdminCommand::AddMember { id, addr } => {
            admin.add_learner(*id, addr).await.map_err(failed)?;
            done(format!("node {id} at {addr} added as a learner"))
        }
        AdminCommand::Promote { id, force } => {
            admin.promote(*id, *force).await.map_err(failed)?;
            done(format!("node {id} is a voter"))
        }
        AdminCommand::RemoveMember { id, force } => {
            admin.remove_member(*id, *force).await.map_err(failed)?;
            done(format!("node {id} removed"))
        }
        AdminCommand::TransferLeader { id } => {
            admin.transfer_leader(*id).await.map_err(failed)?;
            done(format!("node {id} leads"))
        }
        AdminCommand::Sessions => {
            let sessions = admin.sessions().await.map_err(failed)?;
            print(args.json, &sessions, sessions_table)
        }
        AdminCommand::CloseSession { id } => {
            let was_open = admin.close_session(SessionId(*id)).await.map_err(failed)?;
            done(match was_open {
                true => format!("session {id} closed"),
                false => format!("session {id} was not open"),
            })
        }
        AdminCommand::Objects { prefix } => {
            let objects = admin.objects(prefix).await.map_err(failed)?;
            print(args.json, &objects, objects_table)
        }
    }
}

fn print<T: serde::Serialize + ?Sized>(
    json: bool,
    value: &T,
    table: impl FnOnce(&T) -> String,
) -> Result<(), String> {
    match json {
        true => println!(
            "{}",
            serde_json::to_string(value).map_err(|e| e.to_string())?
        ),
        false => print!("{}", table(value)),
    }
    Ok(())
}

/// Text from clients (names, values), with control characters escaped so
/// that nobody can write to the operator's terminal through them.
fn shown(text: &str) -> String {
    text.chars()
        .map(|c| match c.is_control() {
            true => c.escape_debug().to_string(),
            false => c.to_string(),
        })
        .collect()
}

fn json_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into())
}

pub(super) fn members_table(view: &Members) -> String {
    let mut out = format!(
        "leader {}, term {}, last log {}, committed {}, applied {}{}\n",
        view.leader,
        view.term,
        view.last_log_index,
        view.committed,
        view.applied,
        if view.changing {
            ", membership change under way"
        } else {
            ""
        }
    );
    out += &format!(
        "{:<6} {:<24} {:<8} {:>10} {:>8} {:>10}\n",
        "ID", "ADDRESS", "ROLE", "MATCHED", "LAG", "HEARD"
    );
    for member in &view.members {
        let role = match (member.node_id == view.leader, member.voter) {
            (true, _) => "leader",
            (false, true) => "voter",
            (false, false) => "learner",
        };
        let matched = member.matched.map_or("-".into(), |m| m.to_string());
        let heard = match member.last_heard_ms {
            u64::MAX => "never".to_owned(),
            ms => format!("{ms} ms"),
        };
        out += &format!(
            "{:<6} {:<24} {:<8} {:>10} {:>8} {:>10}\n",
            member.node_id,
            shown(&member.addr),
            role,
            matched,
            member.lag,
            heard
        );
    }
    out
}

fn sessions_table(sessions: &Vec<SessionInfo>) -> String {
    let mut out = format!(
        "{:<22} {:<20} {:>10}  HOLDS / WAITS\n",
        "SESSION", "CLIENT", "EXPIRES"
    );
    for session in sessions {
        let holds = shown(&session.holds.join(", "));
        let waits = match session.waits.is_empty() {
            true => String::new(),
            false => format!(" / waits: {}", shown(&session.waits.join(", "))),
        };
        out += &format!(
            "{:<22} {:<20} {:>8} s  {holds}{waits}\n",
            session.session.0,
            shown(&session.client_name),
            session.expires_in_ms / 1_000
        );
    }
    out
}

fn objects_table(objects: &Vec<ObjectInfo>) -> String {
    let mut out = format!("{:<10} {:<32} {:>7}  STATE\n", "KIND", "NAME", "WAITERS");
    for object in objects {
        out += &format!(
            "{:<10} {:<32} {:>7}  {}\n",
            shown(&object.key.kind),
            shown(&object.key.name),
            object.waiters,
            shown(&object.summary)
        );
    }
    out
}
