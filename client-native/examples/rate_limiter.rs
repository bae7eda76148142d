//! At most `LIMIT` concurrent requests per user, across every process: a
//! semaphore per user, taken without waiting.
//! Run `raftcp dev`, then `cargo run -p raftcp --example rate_limiter`.

mod common;
use common::endpoints;

use std::time::Duration;

const LIMIT: u32 = 3;

#[tokio::main]
async fn main() -> Result<(), raftcp::Error> {
    let client = raftcp::Client::connect(endpoints()).await?;
    let user_id = "user-42";
    let semaphore = client.get_semaphore(&format!("rate-limit:{user_id}"));
    // `init` sets the permits once; later calls (other processes) are no-ops.
    semaphore.init(LIMIT).await?;
    for request in 1..=5 {
        if semaphore.try_acquire_many(1, Duration::ZERO).await? {
            println!("request {request}: admitted");
        } else {
            println!("request {request}: rejected (limit {LIMIT})");
        }
    }
    // Admitted requests finish and give their permits back.
    let held = LIMIT - semaphore.available_permits().await?;
    semaphore.release_many(held).await?;
    client.close().await;
    Ok(())
}
