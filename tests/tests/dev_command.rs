//! The README's first command: `raftcp dev` brings up a usable 3-node
//! cluster with one command, serves its dashboard, and stops cleanly on
//! Ctrl-C (SIGINT).

#![allow(clippy::unwrap_used)]

use raftcp::Client;
use raftcp_tests::{http_get, scratch_dir, server_binary};
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Three consecutive free ports.
fn free_port_run() -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let mut base = 20_000 + (nanos % 30_000) as u16;
    loop {
        let bound: Vec<_> = (0..3)
            .filter_map(|i| TcpListener::bind(("127.0.0.1", base + i)).ok())
            .collect();
        if bound.len() == 3 {
            return base;
        }
        base += 3;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raftcp_dev_serves_a_cluster_and_stops_on_ctrl_c() {
    let dir = scratch_dir("dev");
    // A stand-in for www/dist (the real one is tested in Chromium).
    let www = dir.join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("index.html"), "<title>dashboard</title>").unwrap();
    let base = free_port_run();
    let mut dev = Command::new(server_binary())
        .args(["dev", "--base-port", &base.to_string()])
        .args(["--data", dir.join("data").to_str().unwrap()])
        .args(["--www", www.to_str().unwrap()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(dev.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.contains("cluster up"), "{first}");
    let endpoints: Vec<String> = (0..3)
        .map(|_| lines.next().unwrap().unwrap().trim().to_owned())
        .collect();
    assert_eq!(endpoints[0], format!("ws://127.0.0.1:{base}/v1/client"));
    let dashboard = lines
        .find_map(|line| line.ok().filter(|l| l.starts_with("dashboard:")))
        .unwrap();
    assert!(
        dashboard.starts_with(&format!("dashboard: http://127.0.0.1:{base}/ ")),
        "{dashboard}"
    );
    for member in 0..3 {
        let page = http_get(&format!("127.0.0.1:{}", base + member), "/").unwrap();
        assert_eq!(page, "<title>dashboard</title>");
    }

    let client = Client::connect(&endpoints).await.unwrap();
    let counter = client.get_atomic_long("dev-counter");
    assert_eq!(counter.increment_and_get().await.unwrap(), 1);
    client.close().await;

    let status = Command::new("kill")
        .args(["-INT", &dev.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(exit) = dev.try_wait().unwrap() {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "raftcp dev did not stop on SIGINT"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "raftcp dev exited with {exit}");
    // Its data stays for the next run.
    assert!(dir.join("data/node-1/identity").exists());
    std::fs::remove_dir_all(dir).unwrap();
}
