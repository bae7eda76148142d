//! Leader election with a FencedLock: whoever holds the lock leads, and
//! passes its fence with every write so the resource can reject a deposed
//! leader. Start it in two terminals; stop the leader (Ctrl-C, or kill it:
//! its session expires) and the other takes over with a larger fence.
//! Run `raftcp dev`, then `cargo run -p raftcp --example leader_election`.

mod common;
use common::endpoints;

use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), raftcp::Error> {
    let client = raftcp::Client::connect(endpoints()).await?;
    let lock = client.get_fenced_lock("leader-lock");
    loop {
        match lock.try_lock().await? {
            Some(fence) => {
                println!("leading with fence {fence}");
                for round in 0..3 {
                    println!("  work round {round} (fence {fence})");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                lock.unlock().await?;
                println!("stepped down");
                break;
            }
            None => {
                println!("following; retrying in 1 s");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
    client.close().await;
    Ok(())
}
