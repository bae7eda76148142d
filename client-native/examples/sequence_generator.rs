//! Unique, gap-free ids from an AtomicLong, shared by every process.
//! Run `raftcp dev`, then `cargo run -p raftcp --example sequence_generator`.
//! Endpoints come from RAFTCP_ENDPOINTS (comma separated) or the dev cluster.

mod common;
use common::endpoints;

#[tokio::main]
async fn main() -> Result<(), raftcp::Error> {
    let client = raftcp::Client::connect(endpoints()).await?;
    let counter = client.get_atomic_long("id-sequence");
    for _ in 0..5 {
        let id = counter.increment_and_get().await?;
        println!("next id: {id}");
    }
    client.close().await;
    Ok(())
}
