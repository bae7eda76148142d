//! A raftcp client in its own process, for tests that kill or pause clients.
//! `raftcp-test-client <endpoint> lock <name>`: takes the lock and prints
//! `fence <n>`; then, for each `unlock` line on stdin, unlocks and prints
//! `unlocked` or `error <code>`. It runs until stdin closes or it is killed.

use std::io::BufRead;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let [_, endpoint, action, name] = args.as_slice() else {
        return Err("usage: raftcp-test-client <endpoint> lock <name>".into());
    };
    if action != "lock" {
        return Err(format!("unknown action {action}"));
    }
    let client = raftcp::Client::connect([endpoint.as_str()])
        .await
        .map_err(|e| e.to_string())?;
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
