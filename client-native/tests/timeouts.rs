//! Client-side limits that need no cluster: a call to members that cannot
//! be reached fails after the request timeout instead of hanging, saying
//! why it could not connect.

#![allow(clippy::unwrap_used)]

use raftcp::{Client, Error};
use std::net::TcpListener;
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_call_to_an_unreachable_cluster_times_out() {
    // A port with nothing behind it.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = Client::builder()
        .endpoints([format!("127.0.0.1:{port}")])
        .request_timeout(Duration::from_millis(300))
        .connect()
        .await
        .unwrap();
    let started = Instant::now();
    let err = client.get_atomic_long("x").get().await.unwrap_err();
    assert!(unreachable_after(&err, 300), "{err:?}");
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(started.elapsed() < Duration::from_secs(5));
    // A wait with its own timeout gets that much on top.
    let started = Instant::now();
    let lock = client.get_fenced_lock("l");
    let err = lock
        .try_lock_timeout(Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(unreachable_after(&err, 500), "{err:?}");
    assert!(started.elapsed() >= Duration::from_millis(500));
}

/// `Unreachable` after `ms`, with the connection's failure as the reason.
fn unreachable_after(error: &Error, ms: u64) -> bool {
    matches!(error, Error::Unreachable { limit, reason }
        if *limit == Duration::from_millis(ms) && reason.contains("refused"))
}

#[tokio::test]
async fn settings_are_checked() {
    let no_endpoints: [&str; 0] = [];
    assert!(matches!(
        Client::connect(no_endpoints).await,
        Err(Error::Config(_))
    ));
    assert!(matches!(
        Client::builder()
            .endpoints(["127.0.0.1:1"])
            .request_timeout(Duration::ZERO)
            .connect()
            .await,
        Err(Error::Config(_))
    ));
}
