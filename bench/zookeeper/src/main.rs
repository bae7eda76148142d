//! `raftcp-zookeeper-bench`: drives a ZooKeeper 3.8 ensemble with the
//! workloads of `raftcp bench`, written the way Apache Curator's recipes
//! do them (the library ZooKeeper users reach for), and prints the same
//! line: `workload=… connections=… in_flight=… ops/s=… p50=…`.
//!
//! - `incr`: `DistributedAtomicLong`'s optimistic path: read the counter
//!   and its version, write value + 1 with that version, retry on
//!   `BadVersion` at once (as the etcd side does).
//! - `sequence`: unique, increasing ids as a ZooKeeper user makes them:
//!   the number ZooKeeper appends to a sequential node (ephemeral, so the
//!   nodes go with the session; raftcp's side runs `incr`).
//! - `set`: a `setData` of a 16-byte value.
//! - `get`: a linearizable read: `sync`, then `getData` on the same
//!   session (a plain `getData` is served by whichever member the session
//!   is on and may be stale; raftcp's and etcd's reads are linearizable).
//! - `lock`, `lock-contended`: `InterProcessMutex`: an ephemeral sequential
//!   node under the lock's node, the children listed, a watch on the
//!   predecessor until ours is first; unlock deletes the node. `lock` has
//!   one lock per worker, `lock-contended` one for all.
//! - `semaphore`: `InterProcessSemaphoreV2` with as many leases as
//!   workers (so no one waits for a lease, as on raftcp's side): under the
//!   recipe's own mutex, a lease node is created and the leases are
//!   counted; the mutex is released; release deletes the lease node.
//!
//! Usage: raftcp-zookeeper-bench --endpoints 127.0.0.1:2181,… --workload
//! incr [--connections 4] [--in-flight 256] [--seconds 10]

use std::time::{Duration, Instant};
use zookeeper_client::{Acls, Client, CreateMode, CreateOptions, Error};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Workload {
    Incr,
    Sequence,
    Set,
    Get,
    Lock,
    LockContended,
    Semaphore,
}

impl Workload {
    const ALL: [(Workload, &'static str); 7] = [
        (Workload::Incr, "incr"),
        (Workload::Sequence, "sequence"),
        (Workload::Set, "set"),
        (Workload::Get, "get"),
        (Workload::Lock, "lock"),
        (Workload::LockContended, "lock-contended"),
        (Workload::Semaphore, "semaphore"),
    ];

    fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(w, _)| *w == self)
            .map_or("?", |(_, name)| name)
    }
}

struct Args {
    endpoints: String,
    workload: Workload,
    connections: usize,
    in_flight: usize,
    seconds: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        endpoints: "127.0.0.1:2181".into(),
        workload: Workload::Incr,
        connections: 4,
        in_flight: 256,
        seconds: 10,
    };
    let mut given = std::env::args().skip(1);
    while let Some(flag) = given.next() {
        let value = given.next().ok_or(format!("{flag} needs a value"))?;
        let number = || {
            value
                .parse::<u64>()
                .map_err(|_| format!("{flag}: not a number"))
        };
        match flag.as_str() {
            "--endpoints" => args.endpoints = value.clone(),
            "--workload" => {
                args.workload = Workload::ALL
                    .iter()
                    .find(|(_, name)| *name == value)
                    .map(|(w, _)| *w)
                    .ok_or(format!("unknown workload {value}"))?;
            }
            "--connections" => args.connections = number()? as usize,
            "--in-flight" => args.in_flight = number()? as usize,
            "--seconds" => args.seconds = number()?,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if args.connections == 0 || args.in_flight == 0 {
        return Err("--connections and --in-flight must be positive".into());
    }
    Ok(args)
}

const COUNTER: &str = "/bench-counter";
const SEQUENCE: &str = "/bench-sequence";
const REFERENCE: &str = "/bench-reference";
const LOCKS: &str = "/bench-locks";
const CONTENDED_LOCK: &str = "/bench-lock-contended";
const SEMAPHORE_LOCK: &str = "/bench-semaphore/locks";
const SEMAPHORE_LEASES: &str = "/bench-semaphore/leases";

const PERSISTENT: CreateOptions<'static> = CreateMode::Persistent.with_acls(Acls::anyone_all());
const EPHEMERAL_SEQUENTIAL: CreateOptions<'static> =
    CreateMode::EphemeralSequential.with_acls(Acls::anyone_all());

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), String> {
    let args = parse_args()?;
    let mut clients = Vec::new();
    for _ in 0..args.connections {
        let client = Client::connector()
            .with_session_timeout(Duration::from_secs(30))
            .connect(&args.endpoints)
            .await
            .map_err(|e| format!("connecting to {}: {e}", args.endpoints))?;
        clients.push(client);
    }
    prepare(&clients[0], args.in_flight)
        .await
        .map_err(|e| format!("preparing: {e}"))?;
    let (before, _) = read_counter(&clients[0]).await.map_err(|e| e.to_string())?;
    let warm_up = Duration::from_secs(1);
    let measured = Duration::from_secs(args.seconds.max(1));
    let start = Instant::now() + warm_up;
    let end = start + measured;
    let mut workers = Vec::new();
    for worker in 0..args.in_flight {
        let client = clients[worker % clients.len()].clone();
        let max_leases = args.in_flight;
        let work = Worker {
            client,
            workload: args.workload,
            worker,
            max_leases,
        };
        workers.push(tokio::spawn(work.run(start, end)));
    }
    let mut latencies_us = Vec::new();
    let (mut errors, mut acknowledged, mut conflicts) = (0u64, 0u64, 0u64);
    let mut slowest_us = 0;
    for worker in workers {
        let outcome = worker.await.map_err(|e| e.to_string())?;
        latencies_us.extend(outcome.samples_us);
        slowest_us = slowest_us.max(outcome.slowest_us);
        errors += outcome.errors;
        acknowledged += outcome.acknowledged;
        conflicts += outcome.conflicts;
    }
    if args.workload == Workload::Incr {
        let (after, _) = read_counter(&clients[0]).await.map_err(|e| e.to_string())?;
        if after - before != acknowledged as i64 {
            return Err(format!(
                "counter advanced by {} but {acknowledged} increments were acknowledged",
                after - before
            ));
        }
    }
    // The sessions close (and their ephemeral nodes go) when the last
    // handle is dropped, from the client's session task: give it time to
    // send the close before the runtime ends, or the server keeps them for
    // the session timeout and expires them in the middle of the next run.
    drop(clients);
    tokio::time::sleep(Duration::from_secs(1)).await;
    latencies_us.sort_unstable();
    let ops = latencies_us.len() as f64 / measured.as_secs_f64();
    let pct = |p: f64| -> f64 {
        if latencies_us.is_empty() {
            return 0.0;
        }
        let rank = ((latencies_us.len() - 1) as f64 * p).round() as usize;
        latencies_us[rank] as f64 / 1000.0
    };
    let [p50, p90, p99, p999] = [0.5, 0.9, 0.99, 0.999].map(pct);
    println!(
        "workload={} connections={} in_flight={} ops/s={ops:.0} p50={p50:.3}ms p90={p90:.3}ms \
         p99={p99:.3}ms p99.9={p999:.3}ms slowest={:.3}ms errors={errors} conflicts={conflicts}",
        args.workload.name(),
        args.connections,
        args.in_flight,
        slowest_us as f64 / 1000.0
    );
    Ok(())
}

/// The nodes every workload works under, made before the clock starts.
async fn prepare(client: &Client, workers: usize) -> Result<(), Error> {
    for path in [
        COUNTER,
        SEQUENCE,
        REFERENCE,
        LOCKS,
        CONTENDED_LOCK,
        "/bench-semaphore",
    ] {
        create_if_absent(client, path).await?;
    }
    create_if_absent(client, SEMAPHORE_LOCK).await?;
    create_if_absent(client, SEMAPHORE_LEASES).await?;
    for worker in 0..workers {
        create_if_absent(client, &format!("{LOCKS}/{worker}")).await?;
    }
    Ok(())
}

async fn create_if_absent(client: &Client, path: &str) -> Result<(), Error> {
    match client.create(path, &[], &PERSISTENT).await {
        Ok(_) | Err(Error::NodeExists) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The counter as Curator keeps a long: eight bytes, big-endian; an empty
/// node is 0.
async fn read_counter(client: &Client) -> Result<(i64, i32), Error> {
    let (data, stat) = client.get_data(COUNTER).await?;
    let value = <[u8; 8]>::try_from(data.as_slice()).map_or(0, i64::from_be_bytes);
    Ok((value, stat.version))
}

struct WorkerOutcome {
    samples_us: Vec<u64>,
    /// The longest operation, in the measured window or not: a stall
    /// across the window's edge lowers ops/s without showing in its
    /// percentiles.
    slowest_us: u64,
    errors: u64,
    acknowledged: u64,
    /// Writes that lost on the version and were retried.
    conflicts: u64,
}

struct Worker {
    client: Client,
    workload: Workload,
    worker: usize,
    max_leases: usize,
}

impl Worker {
    async fn run(self, start: Instant, end: Instant) -> WorkerOutcome {
        let mut outcome = WorkerOutcome {
            samples_us: Vec::new(),
            slowest_us: 0,
            errors: 0,
            acknowledged: 0,
            conflicts: 0,
        };
        let own_lock = format!("{LOCKS}/{}", self.worker);
        loop {
            let began = Instant::now();
            if began >= end {
                break;
            }
            let done = match self.workload {
                Workload::Incr => self.increment(&mut outcome.conflicts).await,
                Workload::Sequence => {
                    let prefix = format!("{SEQUENCE}/id-");
                    self.client
                        .create(&prefix, &[], &EPHEMERAL_SEQUENTIAL)
                        .await
                        .map(drop)
                }
                Workload::Set => self
                    .client
                    .set_data(REFERENCE, b"0123456789abcdef", None)
                    .await
                    .map(drop),
                Workload::Get => {
                    // Both are sent before either is awaited: the session
                    // keeps their order, so the read follows the sync.
                    let synced = self.client.sync(COUNTER);
                    let read = self.client.get_data(COUNTER);
                    match synced.await {
                        Ok(()) => read.await.map(drop),
                        Err(e) => Err(e),
                    }
                }
                Workload::Lock => self.lock_and_unlock(&own_lock).await,
                Workload::LockContended => self.lock_and_unlock(CONTENDED_LOCK).await,
                Workload::Semaphore => self.acquire_and_release().await,
            };
            let finished = Instant::now();
            let took_us = u64::try_from((finished - began).as_micros()).unwrap_or(u64::MAX);
            outcome.slowest_us = outcome.slowest_us.max(took_us);
            outcome.acknowledged += u64::from(done.is_ok());
            if began >= start && finished <= end {
                match done {
                    Ok(()) => outcome.samples_us.push(took_us),
                    Err(_) => outcome.errors += 1,
                }
            }
        }
        outcome
    }

    /// `DistributedAtomicLong.increment()`, optimistic: compare on the
    /// node's version, retried until it wins.
    async fn increment(&self, conflicts: &mut u64) -> Result<(), Error> {
        loop {
            let (value, version) = read_counter(&self.client).await?;
            let next = value.wrapping_add(1).to_be_bytes();
            match self.client.set_data(COUNTER, &next, Some(version)).await {
                Ok(_) => return Ok(()),
                Err(Error::BadVersion) => *conflicts += 1,
                Err(e) => return Err(e),
            }
        }
    }

    async fn lock_and_unlock(&self, lock: &str) -> Result<(), Error> {
        let held = self.lock(lock).await?;
        self.client.delete(&held, None).await
    }

    /// `InterProcessMutex.acquire()`: returns the path of our node, which
    /// unlocking deletes.
    async fn lock(&self, lock: &str) -> Result<String, Error> {
        let prefix = format!("{lock}/lock-");
        let (_, sequence) = self
            .client
            .create(&prefix, &[], &EPHEMERAL_SEQUENTIAL)
            .await?;
        let ours = format!("lock-{sequence}");
        loop {
            let mut children = self.client.list_children(lock).await?;
            // The sequence suffix orders contenders (names share the prefix).
            children.sort_unstable();
            let at = children
                .binary_search(&ours)
                .map_err(|_| Error::RuntimeInconsistent)?;
            if at == 0 {
                return Ok(format!("{lock}/{ours}"));
            }
            let predecessor = format!("{lock}/{}", children[at - 1]);
            let (stat, watcher) = self.client.check_and_watch_stat(&predecessor).await?;
            if stat.is_some() {
                watcher.changed().await;
            }
        }
    }

    /// `InterProcessSemaphoreV2.acquire()` then `returnLease()`.
    async fn acquire_and_release(&self) -> Result<(), Error> {
        let mutex = self.lock(SEMAPHORE_LOCK).await?;
        let prefix = format!("{SEMAPHORE_LEASES}/lease-");
        let created = self
            .client
            .create(&prefix, &[], &EPHEMERAL_SEQUENTIAL)
            .await;
        let lease = match created {
            Ok((_, sequence)) => format!("{SEMAPHORE_LEASES}/lease-{sequence}"),
            Err(e) => {
                self.client.delete(&mutex, None).await?;
                return Err(e);
            }
        };
        loop {
            let (leases, watcher) = self
                .client
                .list_and_watch_children(SEMAPHORE_LEASES)
                .await?;
            if leases.len() <= self.max_leases {
                break;
            }
            watcher.changed().await;
        }
        self.client.delete(&mutex, None).await?;
        self.client.delete(&lease, None).await
    }
}
