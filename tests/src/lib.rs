//! Process-level test harness: real `raftcp serve` processes on loopback
//! ports chosen at run time, each with its own data directory, killed with
//! SIGKILL and restarted like a real crash.

#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod engine;
pub mod fuzz;
pub mod jepsen;
pub mod one_shot;
pub mod powerfs;
pub mod proxy;
pub mod raw;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// Timings short enough for tests, long enough for a loaded 2-core machine.
#[derive(Clone, Debug)]
pub struct Timings {
    pub session_ttl_ms: u64,
    pub heartbeat_ms: u64,
    pub election_timeout_ms: u64,
    pub snapshot_every: u64,
}

impl Default for Timings {
    fn default() -> Self {
        Self {
            session_ttl_ms: 4_000,
            heartbeat_ms: 500,
            election_timeout_ms: 500,
            snapshot_every: 20_000,
        }
    }
}

#[derive(Debug)]
pub struct TestCluster {
    pub dir: PathBuf,
    pub addrs: BTreeMap<u64, String>,
    timings: Timings,
    /// Per member, the address it dials each peer at (a proxy in fault
    /// tests); members without an entry dial `addrs` directly.
    routes: BTreeMap<u64, BTreeMap<u64, String>>,
    /// Extra environment for a member's next start (fault switches).
    node_env: BTreeMap<u64, Vec<(String, String)>>,
    /// Extra `raftcp serve` arguments for every member's next start.
    extra_args: Vec<String>,
    /// Members started with `--join` (these members' addresses), not `--peers`.
    joiners: BTreeMap<u64, Vec<String>>,
    /// The `raftcp` the members run.
    binary: PathBuf,
    children: BTreeMap<u64, Child>,
    /// Members whose data directory is a power-cut volume.
    volumes: BTreeMap<u64, powerfs::PowerVolume>,
    _slot: Slot,
}

/// At most this many clusters run at once: each is three processes and the
/// machine has two cores.
const CLUSTERS_AT_ONCE: usize = 2;
static RUNNING: (Mutex<usize>, Condvar) = (Mutex::new(0), Condvar::new());

#[derive(Debug)]
struct Slot;

impl Slot {
    fn take() -> Slot {
        let (count, freed) = &RUNNING;
        let mut running = count.lock().unwrap_or_else(|p| p.into_inner());
        while *running >= CLUSTERS_AT_ONCE {
            running = freed.wait(running).unwrap_or_else(|p| p.into_inner());
        }
        *running += 1;
        Slot
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let (count, freed) = &RUNNING;
        *count.lock().unwrap_or_else(|p| p.into_inner()) -= 1;
        freed.notify_one();
    }
}

/// The directory of this build profile (`target/debug` or `target/release`),
/// with the whole workspace built in it once per test process: a test never
/// runs a stale server or example (`cargo test -p raftcp-tests` alone does
/// not rebuild other packages' binaries). Building all targets resolves
/// features exactly as `cargo test --workspace` does, so after that run the
/// build is a no-op instead of a rebuild with other features.
pub fn built_profile_dir() -> PathBuf {
    // Test binaries live in target/<profile>/deps, binaries one level up.
    let exe = std::env::current_exe().unwrap();
    let mut profile_dir = exe.parent().unwrap().to_owned();
    if profile_dir.ends_with("deps") {
        profile_dir.pop();
    }
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        let mut build = Command::new(env!("CARGO"));
        build.args(["build", "--quiet", "--workspace", "--all-targets"]);
        if profile_dir.ends_with("release") {
            build.arg("--release");
        }
        assert!(
            build.status().unwrap().success(),
            "building the workspace failed"
        );
    });
    profile_dir
}

/// The `raftcp` binary (`RAFTCP_BIN` overrides it).
pub fn server_binary() -> PathBuf {
    match std::env::var("RAFTCP_BIN") {
        Ok(path) => PathBuf::from(path),
        Err(_) => built_profile_dir().join("raftcp"),
    }
}

/// The `raftcp` binary built with the `fault-injection` feature, which
/// reads planted bugs and clock skew from its environment: built once per
/// test process into a target directory of its own (`target/faults`), so
/// that the binaries every other build makes have no fault switches.
/// `RAFTCP_FAULTS_BIN` overrides it (a server built otherwise, with the
/// same feature).
pub fn faults_binary() -> PathBuf {
    if let Ok(path) = std::env::var("RAFTCP_FAULTS_BIN") {
        return PathBuf::from(path);
    }
    let profile_dir = built_profile_dir();
    let release = profile_dir.ends_with("release");
    let target = profile_dir.parent().unwrap().join("faults");
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        let mut build = Command::new(env!("CARGO"));
        build.args([
            "build",
            "--quiet",
            "--locked",
            "-p",
            "raftcp-cli",
            "--bin",
            "raftcp",
        ]);
        build.args(["--features", "fault-injection", "--target-dir"]);
        build.arg(&target);
        if release {
            build.arg("--release");
        }
        assert!(
            build.status().unwrap().success(),
            "building the fault-injection server failed"
        );
    });
    target
        .join(if release { "release" } else { "debug" })
        .join("raftcp")
}

/// Free loopback ports, found by binding port 0.
pub fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

/// The members' shared secret, in the cluster's scratch directory.
pub const CLUSTER_SECRET_FILE: &str = "cluster-secret";

pub fn scratch_dir(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir =
        std::env::temp_dir().join(format!("raftcp-test-{name}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

impl TestCluster {
    /// Starts a 3-node cluster and waits until it has a leader.
    pub fn start(name: &str) -> Self {
        Self::start_with(name, Timings::default())
    }

    pub fn start_with(name: &str, timings: Timings) -> Self {
        let mut cluster = Self::prepare(name, timings);
        cluster.start_all();
        cluster
    }

    /// A cluster with its ports and directories chosen but no member
    /// started, so routes and environment can be set first.
    pub fn prepare(name: &str, timings: Timings) -> Self {
        let slot = Slot::take();
        let ports = free_ports(3);
        let addrs: BTreeMap<u64, String> = ports
            .iter()
            .enumerate()
            .map(|(i, port)| (i as u64 + 1, format!("127.0.0.1:{port}")))
            .collect();
        let dir = scratch_dir(name);
        std::fs::write(
            dir.join(CLUSTER_SECRET_FILE),
            "test-cluster-secret-".repeat(4),
        )
        .unwrap();
        TestCluster {
            dir,
            addrs,
            timings,
            routes: BTreeMap::new(),
            node_env: BTreeMap::new(),
            extra_args: Vec::new(),
            joiners: BTreeMap::new(),
            binary: server_binary(),
            children: BTreeMap::new(),
            volumes: BTreeMap::new(),
            _slot: slot,
        }
    }

    /// Starts every member and waits until they agree on a leader.
    ///
    /// A port [`free_ports`] found free may be taken by the time a member
    /// binds it: any outgoing connection on this machine may get it as its
    /// local port. The members are then still pristine, so the cluster
    /// starts over on fresh ports (unless routes were set for the old ones).
    pub fn start_all(&mut self) {
        for attempt in 1.. {
            let ids: Vec<u64> = self.addrs.keys().copied().collect();
            for id in &ids {
                self.start_node(*id);
            }
            let lost = ids.iter().copied().find(|id| self.lost_its_port(*id));
            match lost {
                Some(id) if attempt < 4 && self.routes.is_empty() => {
                    eprintln!("member {id}'s port was taken: starting the cluster again");
                    for id in &ids {
                        self.kill(*id);
                        wipe(&self.data_dir(*id));
                        let _ = std::fs::remove_file(self.log_path(*id));
                    }
                    let ports = free_ports(ids.len());
                    let addrs = ids.iter().zip(ports);
                    self.addrs = addrs
                        .map(|(id, port)| (*id, format!("127.0.0.1:{port}")))
                        .collect();
                }
                _ => break,
            }
        }
        self.wait_for_leader(Duration::from_secs(30));
        for (id, child) in &mut self.children {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "member {id} exited at start ({status}): {}",
                    std::fs::read_to_string(self.dir.join(format!("node-{id}.log")))
                        .unwrap_or_default()
                );
            }
        }
    }

    /// Whether member `id` exited at start because its port was taken;
    /// false once it answers `/health` as itself (within 10 s).
    fn lost_its_port(&mut self, id: u64) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(child) = self.children.get_mut(&id)
                && let Ok(Some(_)) = child.try_wait()
            {
                return self.log_text(id).contains("Address already in use");
            }
            let health = http_get(&self.addrs[&id], "/health");
            if health.is_some_and(|body| body.contains(&format!("\"node\":{id},"))) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Member `id` dials its peers at `peers` (id → host:port) instead.
    pub fn set_routes(&mut self, id: u64, peers: BTreeMap<u64, String>) {
        self.routes.insert(id, peers);
    }

    /// Environment for member `id`'s next start (replaces earlier values).
    pub fn set_node_env(&mut self, id: u64, env: Vec<(String, String)>) {
        self.node_env.insert(id, env);
    }

    /// Members started from now on run `binary` (e.g. [`faults_binary`]).
    pub fn set_binary(&mut self, binary: PathBuf) {
        self.binary = binary;
    }

    /// Extra `raftcp serve` arguments for every member's next start.
    pub fn set_extra_args(&mut self, args: &[&str]) {
        self.extra_args = args.iter().map(|a| a.to_string()).collect();
    }

    /// Resident memory of member `id`, in bytes.
    pub fn rss_bytes(&self, id: u64) -> Option<u64> {
        self.memory_status(id, "VmRSS:")
    }

    /// The most resident memory member `id` has had since it started.
    pub fn peak_rss_bytes(&self, id: u64) -> Option<u64> {
        self.memory_status(id, "VmHWM:")
    }

    fn memory_status(&self, id: u64, field: &str) -> Option<u64> {
        let pid = self.children.get(&id)?.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let line = status.lines().find(|l| l.starts_with(field))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }

    /// Bytes of member `id`'s Raft log on disk.
    pub fn log_bytes(&self, id: u64) -> u64 {
        dir_bytes(&self.data_dir(id).join("log"))
    }

    pub fn data_dir(&self, id: u64) -> PathBuf {
        self.dir.join(format!("node-{id}"))
    }

    pub fn log_path(&self, id: u64) -> PathBuf {
        self.dir.join(format!("node-{id}.log"))
    }

    /// Starts a new member `id` with `raftcp serve --join` (the current
    /// members' addresses) on a fresh port; it waits to be added. Its
    /// address.
    pub fn start_joining_node(&mut self, id: u64) -> String {
        // Another port if this one was taken meanwhile (see `start_all`).
        for _ in 0..3 {
            let addr = format!("127.0.0.1:{}", free_ports(1)[0]);
            if self.start_joining_node_at(id, addr.clone()) {
                return addr;
            }
        }
        panic!("no free port for member {id}")
    }

    /// Starts a new member `id` with `raftcp serve --join` at `addr` (the
    /// address of a member removed before, say); false if the port was
    /// taken.
    pub fn start_joining_node_at(&mut self, id: u64, addr: String) -> bool {
        let members = self.addrs.values().cloned().collect();
        self.joiners.insert(id, members);
        self.addrs.insert(id, addr);
        self.start_node(id);
        if !self.lost_its_port(id) {
            return true;
        }
        self.kill(id);
        wipe(&self.data_dir(id));
        let _ = std::fs::remove_file(self.log_path(id));
        self.addrs.remove(&id);
        self.joiners.remove(&id);
        false
    }

    /// Stops member `id` for good and forgets it (after its removal).
    pub fn forget(&mut self, id: u64) {
        self.kill(id);
        self.addrs.remove(&id);
        self.joiners.remove(&id);
    }

    pub fn start_node(&mut self, id: u64) {
        let membership = match self.joiners.get(&id) {
            Some(members) => vec![
                "--listen".to_owned(),
                self.addrs[&id].clone(),
                "--join".to_owned(),
                members.join(","),
            ],
            None => {
                let routes = self.routes.get(&id).unwrap_or(&self.addrs);
                let peers: Vec<String> = self
                    .addrs
                    .iter()
                    .filter(|(i, _)| !self.joiners.contains_key(i))
                    .map(|(i, addr)| match i == &id {
                        true => format!("{i}={addr}"),
                        false => format!("{i}={}", routes.get(i).unwrap_or(addr)),
                    })
                    .collect();
                vec!["--peers".to_owned(), peers.join(",")]
            }
        };
        let env = self.node_env.get(&id).cloned().unwrap_or_default();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path(id))
            .unwrap();
        let child = Command::new(&self.binary)
            .arg("serve")
            .args(["--node-id", &id.to_string()])
            .args(["--data", self.data_dir(id).to_str().unwrap()])
            .args(&membership)
            .args([
                "--cluster-secret-file",
                self.dir.join(CLUSTER_SECRET_FILE).to_str().unwrap(),
            ])
            .args(["--session-ttl-ms", &self.timings.session_ttl_ms.to_string()])
            .args(["--heartbeat-ms", &self.timings.heartbeat_ms.to_string()])
            .args([
                "--election-timeout-ms",
                &self.timings.election_timeout_ms.to_string(),
            ])
            .args(["--snapshot-every", &self.timings.snapshot_every.to_string()])
            .args(&self.extra_args)
            // RAFTCP_TEST_LOG=info shows what the members did.
            .args([
                "--log",
                &std::env::var("RAFTCP_TEST_LOG").unwrap_or_else(|_| "warn,openraft=error".into()),
            ])
            .envs(env)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.children.insert(id, child);
    }

    /// SIGSTOP: the member freezes with its sockets open, like a long GC
    /// pause or a stalled VM.
    pub fn pause(&self, id: u64) {
        self.signal(id, "-STOP");
    }

    /// SIGCONT after [`TestCluster::pause`].
    pub fn resume(&self, id: u64) {
        self.signal(id, "-CONT");
    }

    fn signal(&self, id: u64, signal: &str) {
        if let Some(child) = self.children.get(&id) {
            let _ = Command::new("kill")
                .args([signal, &child.id().to_string()])
                .status();
        }
    }

    /// Members whose process is running (or paused).
    pub fn running(&self) -> Vec<u64> {
        self.children.keys().copied().collect()
    }

    /// SIGKILL: no shutdown code runs, like a crash.
    pub fn kill(&mut self, id: u64) {
        if let Some(mut child) = self.children.remove(&id) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// kill -9 of every member at once, then all start again from their
    /// data directories; returns once they agree on a leader.
    pub fn crash_and_restart_all(&mut self) {
        let ids: Vec<u64> = self.addrs.keys().copied().collect();
        for id in &ids {
            self.kill(*id);
        }
        for id in &ids {
            self.start_node(*id);
        }
        self.wait_for_leader(Duration::from_secs(30));
    }

    pub fn url(&self, id: u64) -> String {
        format!("ws://{}/v1/client", self.addrs[&id])
    }

    pub fn urls(&self) -> Vec<String> {
        self.addrs.keys().map(|id| self.url(*id)).collect()
    }

    /// `/health` of one node, parsed; `None` if it does not answer.
    pub fn health(&self, id: u64) -> Option<serde_json::Value> {
        let body = http_get(&self.addrs[&id], "/health")?;
        serde_json::from_str(&body).ok()
    }

    pub fn metrics(&self, id: u64) -> Option<String> {
        http_get(&self.addrs[&id], "/metrics")
    }

    /// The leader that every running node agrees on.
    pub fn leader(&self) -> Option<u64> {
        let mut agreed = None;
        for id in self.children.keys() {
            let leader = self.health(*id)?.get("leader")?.as_u64()?;
            match agreed {
                None => agreed = Some(leader),
                Some(other) if other != leader => return None,
                Some(_) => {}
            }
        }
        agreed.filter(|leader| self.children.contains_key(leader))
    }

    pub fn wait_for_leader(&self, timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(leader) = self.leader() {
                return leader;
            }
            assert!(
                Instant::now() < deadline,
                "no agreed leader within {timeout:?}; logs in {}",
                self.dir.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A running node that is not the leader.
    pub fn follower(&self) -> u64 {
        let leader = self.wait_for_leader(Duration::from_secs(30));
        *self.children.keys().find(|id| **id != leader).unwrap()
    }

    /// A numeric gauge from `/metrics`.
    pub fn gauge(&self, id: u64, name: &str) -> Option<u64> {
        let metrics = self.metrics(id)?;
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
    }

    /// Waits up to `timeout` for member `id` to exit by itself; its status.
    pub fn wait_exit(&mut self, id: u64, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let child = self.children.get_mut(&id)?;
            if let Ok(Some(status)) = child.try_wait() {
                self.children.remove(&id);
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }

    /// Puts every member's data directory on a power-cut volume of its own
    /// ([`powerfs`]); before the members first start.
    pub fn use_power_volumes(&mut self) {
        for id in self.addrs.keys().copied().collect::<Vec<_>>() {
            let dir = self.data_dir(id);
            std::fs::create_dir_all(&dir).unwrap();
            let volume = powerfs::PowerVolume::mount(&dir)
                .unwrap_or_else(|e| panic!("mounting a power-cut volume on {dir:?}: {e}"));
            self.volumes.insert(id, volume);
        }
    }

    /// Member `id` loses power: killed, and every write it did not fsync
    /// gone but what `seed` keeps of bytes appended since (its data
    /// directory must be a power-cut volume).
    pub fn power_cut(&mut self, id: u64, seed: u64) {
        self.kill(id);
        self.volume(id).power_cut(seed).unwrap();
    }

    /// Member `id`'s disk is full: writes that would grow a file fail.
    pub fn fill_disk(&mut self, id: u64) {
        self.volume(id).fill().unwrap();
    }

    /// Member `id`'s disk has room again.
    pub fn free_disk(&mut self, id: u64) {
        self.volume(id).free().unwrap();
    }

    fn volume(&mut self, id: u64) -> &mut powerfs::PowerVolume {
        (self.volumes.get_mut(&id)).expect("the member's data directory is a power-cut volume")
    }

    pub fn is_running(&self, id: u64) -> bool {
        self.children.contains_key(&id)
    }

    /// Cuts `bytes` off the end of member `id`'s newest Raft log file (a
    /// stopped member's): its last record ends early, as one torn by a
    /// power cut, or one whose length was damaged, looks.
    pub fn cut_log_tail(&self, id: u64, bytes: u64) {
        let log = self.data_dir(id).join("log");
        let newest = std::fs::read_dir(&log)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|e| e == "wal"))
            .max()
            .unwrap();
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&newest)
            .unwrap();
        let length = file.metadata().unwrap().len();
        file.set_len(length.saturating_sub(bytes)).unwrap();
    }

    pub fn log_text(&self, id: u64) -> String {
        std::fs::read_to_string(self.log_path(id)).unwrap_or_default()
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        let ids: Vec<u64> = self.children.keys().copied().collect();
        for id in ids {
            self.kill(id);
        }
        // Unmounted (their contents gone) before the directory is removed.
        self.volumes.clear();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("cluster data and logs kept in {}", self.dir.display());
        }
    }
}

/// A minimal HTTP GET; the server closes the connection after answering.
pub fn http_get(addr: &str, path: &str) -> Option<String> {
    let response = http_exchange(addr, &format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\n"))?;
    let (_, body) = response.split_once("\r\n\r\n")?;
    Some(body.to_owned())
}

/// Sends `head` (a request line and headers, each ending in CRLF) and
/// returns the whole response, head and body.
pub fn http_exchange(addr: &str, head: &str) -> Option<String> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    let request = format!("{head}connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}

/// Bytes of every file under `dir`.
pub fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => dir_bytes(&entry.path()),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Removes everything in a data directory (a "wiped disk").
pub fn wipe(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
}
