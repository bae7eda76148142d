//! A barrier with a CountDownLatch: every participant counts down and waits
//! until all have arrived.
//! Run `raftcp dev`, then `cargo run -p raftcp --example barrier`.

mod common;
use common::endpoints;

const PARTICIPANTS: u32 = 3;

#[tokio::main]
async fn main() -> Result<(), raftcp::Error> {
    let client = raftcp::Client::connect(endpoints()).await?;
    let latch = client.get_count_down_latch("barrier");
    // Only the first caller of a round sets the count.
    latch.try_set_count(PARTICIPANTS).await?;
    let mut participants = Vec::new();
    for participant in 0..PARTICIPANTS {
        let latch = latch.clone();
        participants.push(tokio::spawn(async move {
            println!("participant {participant} arrived");
            latch.count_down().await?;
            latch.await_latch().await?;
            println!("participant {participant} passed the barrier");
            Ok::<(), raftcp::Error>(())
        }));
    }
    for participant in participants {
        participant
            .await
            .map_err(|e| raftcp::Error::Protocol(e.to_string()))??;
    }
    client.close().await;
    Ok(())
}
