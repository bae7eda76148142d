//! A raftcp client in its own process, for tests that kill or pause clients.
//! `raftcp-test-client <endpoint> lock <name>`: takes the lock, prints
//! `fence <n>`, then waits forever (until killed).

use std::time::Duration;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let [_, endpoint, action, name] = args.as_slice() else {
        return Err("usage: raftcp-test-client <endpoint> lock <name>".into());
    };
    let client = raftcp::Client::connect([endpoint.as_str()])
        .await
        .map_err(|e| e.to_string())?;
    match action.as_str() {
        "lock" => {
            let lock = client.get_fenced_lock(name);
            let fence = lock.lock().await.map_err(|e| e.to_string())?;
            println!("fence {fence}");
        }
        other => return Err(format!("unknown action {other}")),
    }
    loop {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}
