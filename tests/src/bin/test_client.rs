//! A raftcp client in its own process, for tests that kill or pause clients
//! and for the JavaScript tests that check values across languages.
//! - `raftcp-test-client <endpoint> lock <name>`: takes the lock and prints
//!   `fence <n>`; then, for each `unlock` line on stdin, unlocks and prints
//!   `unlocked` or `error <code>`. It runs until stdin closes or it is killed.
//! - `raftcp-test-client <endpoint> set-config <name>`: sets the
//!   AtomicReference to [`Config::initial`] and prints `set`.
//! - `raftcp-test-client <endpoint> swap-config <name>`: compare-and-sets it
//!   from [`Config::updated`] back to [`Config::initial`]; prints the outcome.
//! - `raftcp-test-client <endpoint> get-long <name>`: prints the
//!   AtomicLong's value.

use serde::{Deserialize, Serialize};
use std::io::BufRead;

/// A Rust struct that JavaScript reads and compares as a plain object.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Config {
    timeout: i64,
    retries: i64,
    ratio: f64,
    name: String,
    tags: Vec<String>,
}

impl Config {
    fn initial() -> Config {
        Config {
            timeout: 30,
            retries: 3,
            ratio: 0.5,
            name: "raftcp".into(),
            tags: vec!["a".into(), "b".into()],
        }
    }

    /// What the JavaScript test sets in place of the initial value.
    fn updated() -> Config {
        Config {
            timeout: 60,
            retries: 5,
            ..Config::initial()
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let [_, endpoint, action, name] = args.as_slice() else {
        return Err(
            "usage: raftcp-test-client <endpoint> lock|set-config|swap-config|get-long <name>"
                .into(),
        );
    };
    let client = raftcp::Client::connect([endpoint.as_str()])
        .await
        .map_err(|e| e.to_string())?;
    match action.as_str() {
        "lock" => hold_lock(client, name).await,
        "set-config" => {
            let config = client.get_atomic_reference::<Config>(name);
            config
                .set(&Config::initial())
                .await
                .map_err(|e| e.to_string())?;
            println!("set");
            client.close().await;
            Ok(())
        }
        "swap-config" => {
            let config = client.get_atomic_reference::<Config>(name);
            let swapped = config
                .compare_and_set(Some(&Config::updated()), Some(&Config::initial()))
                .await
                .map_err(|e| e.to_string())?;
            println!("{swapped}");
            client.close().await;
            Ok(())
        }
        "get-long" => {
            let value = client.get_atomic_long(name).get().await;
            println!("{}", value.map_err(|e| e.to_string())?);
            client.close().await;
            Ok(())
        }
        other => Err(format!("unknown action {other}")),
    }
}

async fn hold_lock(client: raftcp::Client, name: &str) -> Result<(), String> {
    let lock = client.get_fenced_lock(name);
    let fence = lock.lock().await.map_err(|e| e.to_string())?;
    println!("fence {fence}");
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    while let Some(line) = lines.recv().await {
        if line.trim() == "unlock" {
            match lock.unlock().await {
                Ok(()) => println!("unlocked"),
                Err(raftcp::Error::Server(e)) => println!("error {}", e.code()),
                Err(e) => println!("error {e}"),
            }
        }
    }
    Ok(())
}
