//! Client-side limits that need no cluster: a call to members that never
//! answer fails with `Timeout` after the request timeout instead of hanging.

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
    assert_eq!(err, Error::Timeout(Duration::from_millis(300)));
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(started.elapsed() < Duration::from_secs(5));
    // A wait with its own timeout gets that much on top.
    let started = Instant::now();
    let lock = client.get_fenced_lock("l");
    let err = lock
        .try_lock_timeout(Duration::from_millis(200))
        .await
        .unwrap_err();
    assert_eq!(err, Error::Timeout(Duration::from_millis(500)));
    assert!(started.elapsed() >= Duration::from_millis(500));
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
