//! `raftcp status`: asks each member's `/health` and prints one line each,
//! then the members as the leader sees them (role, lag, last heard) when
//! the client may ask (anonymous on the members' machine, or `--token`
//! with the `admin` rule).

use clap::Args;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Members to ask, comma separated (ws://host:port/... or host:port).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "127.0.0.1:7701,127.0.0.1:7702,127.0.0.1:7703"
    )]
    pub endpoints: Vec<String>,
    /// A token with the `admin` rule, for a cluster that needs tokens.
    #[arg(long)]
    pub token: Option<String>,
}

pub async fn run(args: StatusArgs) -> Result<(), String> {
    let mut reachable = 0;
    let mut leader_known = false;
    for endpoint in &args.endpoints {
        let addr = host_port(endpoint);
        match tokio::time::timeout(Duration::from_secs(3), get_health(&addr)).await {
            Ok(Ok(body)) => {
                reachable += 1;
                leader_known |= !body.contains("\"leader\":null");
                println!("{addr}  {}", body.trim());
            }
            Ok(Err(e)) => println!("{addr}  unreachable: {e}"),
            Err(_) => println!("{addr}  unreachable: no answer in 3 s"),
        }
    }
    if reachable == 0 {
        return Err("no member answered".into());
    }
    // Without a leader nobody could answer; a session would wait for one.
    if !leader_known {
        return Ok(());
    }
    match tokio::time::timeout(Duration::from_secs(5), leader_view(&args)).await {
        Ok(Ok(table)) => print!("\n{table}"),
        Ok(Err(e)) => println!("\nmembers as the leader sees them: {e}"),
        Err(_) => println!("\nmembers as the leader sees them: no answer in 5 s"),
    }
    Ok(())
}

async fn leader_view(args: &StatusArgs) -> Result<String, String> {
    let endpoints: Vec<String> = args.endpoints.iter().map(|e| host_port(e)).collect();
    let (name, token) = (Some("raftcp status"), args.token.as_deref());
    let client = crate::connect_client(&endpoints, name, None, token).await?;
    let members = client.admin().members().await;
    client.close().await;
    Ok(crate::admin::members_table(
        &members.map_err(|e| e.to_string())?,
    ))
}

/// `ws://127.0.0.1:7701/v1/client` → `127.0.0.1:7701`.
fn host_port(endpoint: &str) -> String {
    let rest = endpoint
        .split_once("://")
        .map_or(endpoint, |(_, rest)| rest);
    rest.split('/').next().unwrap_or(rest).to_owned()
}

async fn get_health(addr: &str) -> Result<String, String> {
    let mut stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let request = format!("GET /health HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .await
        .map_err(|e| e.to_string())?;
    let body = response.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    Ok(body.to_owned())
}
