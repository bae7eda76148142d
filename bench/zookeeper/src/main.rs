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
//! - `get`: the strongest read ZooKeeper offers: `sync`, then `getData` on
//!   the same session (a plain `getData` is served by whichever member the
//!   session is on and may be stale; even after a `sync` the read is not
//!   strictly linearizable, ZOOKEEPER-1675; raftcp's and etcd's are).
//! - `lock`, `lock-contended`: `InterProcessMutex`: an ephemeral sequential
//!   node under the lock's node, the children listed, a watch on the
//!   predecessor until ours is first; unlock deletes the node. `lock` has
//!   one lock per worker, `lock-contended` one for all.
//! - `semaphore`: `InterProcessSemaphoreV2` with as many leases as
//!   workers (so no one waits for a lease, as on raftcp's side): under the
//!   recipe's own mutex, a lease node is created and the leases are
//!   counted; the mutex is released; release deletes the lease node. Every
//!   acquire takes that one mutex, so the row runs at the rate of a
//!   contended lock (about six requests, four of them writes, per pair).
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

/// Longer than any stall seen here, so no session expires mid-run.
const SESSION_TIMEOUT: Duration = Duration::from_secs(30);
const WARM_UP: Duration = Duration::from_secs(1);
/// How long the sessions get to send their close before the process ends.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), String> {
    let args = parse_args()?;
    let mut clients = Vec::new();
    for _ in 0..args.connections {
        let client = Client::connector()
            .with_session_timeout(SESSION_TIMEOUT)
            .connect(&args.endpoints)
            .await
            .map_err(|e| format!("connecting to {}: {e}", args.endpoints))?;
        clients.push(client);
    }
    prepare(&clients[0], args.in_flight)
        .await
        .map_err(|e| format!("preparing: {e}"))?;
    let (before, _) = read_counter(&clients[0]).await.map_err(|e| e.to_string())?;
    let measured = Duration::from_secs(args.seconds.max(1));
    let start = Instant::now() + WARM_UP;
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
    let mut total = WorkerOutcome::default();
    for worker in workers {
        total.add(worker.await.map_err(|e| e.to_string())?);
    }
    if args.workload == Workload::Incr {
        let (after, _) = read_counter(&clients[0]).await.map_err(|e| e.to_string())?;
        let acknowledged = total.acknowledged;
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
    tokio::time::sleep(CLOSE_GRACE).await;
    report(&args, total, measured);
    Ok(())
}

/// The line `raftcp bench` prints, with the slowest operation added.
fn report(args: &Args, mut total: WorkerOutcome, measured: Duration) {
    let latencies_us = &mut total.samples_us;
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
         p99={p99:.3}ms p99.9={p999:.3}ms slowest={:.3}ms errors={} conflicts={}",
        args.workload.name(),
        args.connections,
        args.in_flight,
        total.slowest_us as f64 / 1000.0,
        total.errors,
        total.conflicts,
    );
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

#[derive(Default)]
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

impl WorkerOutcome {
    fn add(&mut self, other: WorkerOutcome) {
        self.samples_us.extend(other.samples_us);
        self.slowest_us = self.slowest_us.max(other.slowest_us);
        self.errors += other.errors;
        self.acknowledged += other.acknowledged;
        self.conflicts += other.conflicts;
    }
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
                Workload::Sequence => self
                    .create_sequential(&format!("{SEQUENCE}/id-"))
                    .await
                    .map(drop),
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
    /// unlocking deletes (and an error deletes at once).
    async fn lock(&self, lock: &str) -> Result<String, Error> {
        let ours = self.create_sequential(&format!("{lock}/lock-")).await?;
        let waited = self.wait_until_first(lock, &ours).await;
        self.kept_unless_failed(ours, waited).await
    }

    /// Until `ours` is the first child of `lock`: each time, a watch on the
    /// node just before ours. The watch is set with `getData`, as Curator
    /// does, so a predecessor already gone leaves no watch behind.
    async fn wait_until_first(&self, lock: &str, ours: &str) -> Result<(), Error> {
        let name = &ours[lock.len() + 1..];
        loop {
            let mut children = self.client.list_children(lock).await?;
            // The sequence suffix orders contenders (names share the prefix).
            children.sort_unstable();
            let at = children
                .binary_search_by(|child| child.as_str().cmp(name))
                .map_err(|_| Error::RuntimeInconsistent)?;
            if at == 0 {
                return Ok(());
            }
            let predecessor = format!("{lock}/{}", children[at - 1]);
            match self.client.get_and_watch_data(&predecessor).await {
                Ok((_, _, watcher)) => drop(watcher.changed().await),
                Err(Error::NoNode) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// `InterProcessSemaphoreV2.acquire()` then `returnLease()`. The mutex
    /// is released whatever happens once it is held, and the lease once
    /// made.
    async fn acquire_and_release(&self) -> Result<(), Error> {
        let mutex = self.lock(SEMAPHORE_LOCK).await?;
        let leased = self.take_lease().await;
        let unlocked = self.client.delete(&mutex, None).await;
        let lease = leased?;
        let returned = self.client.delete(&lease, None).await;
        unlocked.and(returned)
    }

    /// A lease node, then the leases counted until ours is within the
    /// limit; on an error the lease node is deleted again.
    async fn take_lease(&self) -> Result<String, Error> {
        let lease = self
            .create_sequential(&format!("{SEMAPHORE_LEASES}/lease-"))
            .await?;
        let waited = self.wait_for_room().await;
        self.kept_unless_failed(lease, waited).await
    }

    /// An ephemeral sequential node named `prefix` + its sequence number:
    /// its path.
    async fn create_sequential(&self, prefix: &str) -> Result<String, Error> {
        let (_, sequence) = self
            .client
            .create(prefix, &[], &EPHEMERAL_SEQUENTIAL)
            .await?;
        Ok(format!("{prefix}{sequence}"))
    }

    /// `node` when `waited` succeeded; otherwise its error, once `node` is
    /// deleted again (Curator's `deleteOurPath`: a node left behind would
    /// hold its place for the rest of the session).
    async fn kept_unless_failed(
        &self,
        node: String,
        waited: Result<(), Error>,
    ) -> Result<String, Error> {
        if let Err(e) = waited {
            let _ = self.client.delete(&node, None).await;
            return Err(e);
        }
        Ok(node)
    }

    /// Until the leases are within the limit. Counted without a watch
    /// first: the limit is never passed here (as many leases as workers),
    /// and a watch left set would cost this client a request to remove it
    /// when dropped, which Curator does not pay.
    async fn wait_for_room(&self) -> Result<(), Error> {
        loop {
            if self.client.list_children(SEMAPHORE_LEASES).await?.len() <= self.max_leases {
                return Ok(());
            }
            let (leases, watcher) = self
                .client
                .list_and_watch_children(SEMAPHORE_LEASES)
                .await?;
            if leases.len() <= self.max_leases {
                return Ok(());
            }
            watcher.changed().await;
        }
    }
}
