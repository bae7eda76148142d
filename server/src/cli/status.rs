//! `raftcp status`: asks each member's `/health` and prints one line each.

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
}

pub async fn run(args: StatusArgs) -> Result<(), String> {
    let mut reachable = 0;
    for endpoint in &args.endpoints {
        let addr = host_port(endpoint);
        match tokio::time::timeout(Duration::from_secs(3), get_health(&addr)).await {
            Ok(Ok(body)) => {
                reachable += 1;
                println!("{addr}  {}", body.trim());
            }
            Ok(Err(e)) => println!("{addr}  unreachable: {e}"),
            Err(_) => println!("{addr}  unreachable: no answer in 3 s"),
        }
    }
    if reachable == 0 {
        return Err("no member answered".into());
    }
    Ok(())
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
