//! `raftcp-etcd-bench`: drives an etcd 3.4 cluster with the workloads of
//! `raftcp bench`, written as an etcd user would write them, and prints the
//! same line: `workload=… connections=… in_flight=… ops/s=… p50=…`.
//!
//! - `incr`: read the counter, then a transaction that writes value + 1 if
//!   the key's mod revision is unchanged; retried on conflict (what a
//!   counter needs; for unique ids see `sequence`).
//! - `sequence`: unique, increasing ids as an etcd user makes them: the
//!   store revision of a `put` (raftcp's side runs `incr`).
//! - `set`: a put of a 16-byte value.
//! - `get`: a linearizable range read of one key.
//! - `lock`: etcd's lock API with a lease (one lease per connection), one
//!   lock name per worker, then unlock.
//! - `lock-contended`: every worker on one lock name, each with its own
//!   lease (etcd's lock key is name + lease, so workers sharing a lease
//!   would all "hold" the lock at once, as clientv3's Mutex warns).
//! - `semaphore`: a counting semaphore with as many permits as workers (so
//!   no one waits, as on raftcp's side), built the way clientv3's Mutex is:
//!   a key under the semaphore's prefix with the connection's lease, then a
//!   count of the keys created no later than ours (a permit is held when
//!   that count is within the permits); release deletes the key. etcd has
//!   no semaphore recipe; this is its lock recipe with N holders.
//!
//! Usage: raftcp-etcd-bench --endpoints http://127.0.0.1:2379,… --workload
//! incr [--connections 4] [--in-flight 256] [--seconds 10]

use etcd_client::{
    Certificate, Client, Compare, CompareOp, ConnectOptions, GetOptions, LockOptions, PutOptions,
    TlsOptions, Txn, TxnOp,
};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Workload {
    Incr,
    /// Unique, increasing ids: the revision etcd gives each `put` (the
    /// idiom an etcd user picks for a sequence; raftcp's is `incr`).
    Sequence,
    Set,
    Get,
    Lock,
    LockContended,
    Semaphore,
}

struct Args {
    endpoints: Vec<String>,
    workload: Workload,
    connections: usize,
    in_flight: usize,
    seconds: u64,
    /// `--ca-pem FILE`: https endpoints signed by this CA.
    ca_pem: Option<String>,
    /// `--user NAME:PASSWORD`: authentication on.
    user: Option<(String, String)>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        endpoints: vec!["http://127.0.0.1:2379".into()],
        workload: Workload::Incr,
        connections: 4,
        in_flight: 256,
        seconds: 10,
        ca_pem: None,
        user: None,
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
            "--endpoints" => args.endpoints = value.split(',').map(str::to_owned).collect(),
            "--workload" => {
                args.workload = match value.as_str() {
                    "incr" => Workload::Incr,
                    "sequence" => Workload::Sequence,
                    "set" => Workload::Set,
                    "get" => Workload::Get,
                    "lock" => Workload::Lock,
                    "lock-contended" => Workload::LockContended,
                    "semaphore" => Workload::Semaphore,
                    other => return Err(format!("unknown workload {other}")),
                }
            }
            "--connections" => args.connections = number()? as usize,
            "--in-flight" => args.in_flight = number()? as usize,
            "--seconds" => args.seconds = number()?,
            "--ca-pem" => {
                let pem = std::fs::read_to_string(&value).map_err(|e| format!("{value}: {e}"))?;
                args.ca_pem = Some(pem);
            }
            "--user" => {
                let (name, password) = value.split_once(':').ok_or("--user is NAME:PASSWORD")?;
                args.user = Some((name.to_owned(), password.to_owned()));
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if args.connections == 0 || args.in_flight == 0 {
        return Err("--connections and --in-flight must be positive".into());
    }
    Ok(args)
}

const SEQUENCE_KEY: &str = "bench-sequence";
const COUNTER_KEY: &str = "bench-counter";

/// TLS and credentials, when the cluster is run secure.
fn connect_options(args: &Args) -> Option<ConnectOptions> {
    if args.ca_pem.is_none() && args.user.is_none() {
        return None;
    }
    let mut options = ConnectOptions::new();
    if let Some(pem) = &args.ca_pem {
        let tls = TlsOptions::new().ca_certificate(Certificate::from_pem(pem));
        options = options.with_tls(tls);
    }
    if let Some((name, password)) = &args.user {
        options = options.with_user(name, password);
    }
    Some(options)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), String> {
    let args = parse_args()?;
    let mut clients = Vec::new();
    for _ in 0..args.connections {
        let client = Client::connect(&args.endpoints, connect_options(&args))
            .await
            .map_err(|e| e.to_string())?;
        clients.push(client);
    }
    // One lease per connection for the lock workload, longer than the run.
    let mut leases = Vec::new();
    for client in &mut clients {
        let ttl = (args.seconds + 60) as i64;
        let lease = client
            .lease_grant(ttl, None)
            .await
            .map_err(|e| e.to_string())?;
        leases.push(lease.id());
    }
    let before = read_counter(&mut clients[0]).await?;
    let warm_up = Duration::from_secs(1);
    let measured = Duration::from_secs(args.seconds.max(1));
    let start = Instant::now() + warm_up;
    let end = start + measured;
    let mut workers = Vec::new();
    for worker in 0..args.in_flight {
        let connection = worker % clients.len();
        let client = clients[connection].clone();
        let lease = match args.workload {
            Workload::LockContended => {
                let ttl = (args.seconds + 60) as i64;
                let mut client = clients[connection].clone();
                let lease = client
                    .lease_grant(ttl, None)
                    .await
                    .map_err(|e| e.to_string())?;
                lease.id()
            }
            _ => leases[connection],
        };
        let permits = args.in_flight as i64;
        let work = run_worker(client, lease, args.workload, worker, permits, start, end);
        workers.push(tokio::spawn(work));
    }
    let mut latencies_us = Vec::new();
    let (mut errors, mut acknowledged, mut conflicts) = (0u64, 0u64, 0u64);
    for worker in workers {
        let outcome = worker.await.map_err(|e| e.to_string())?;
        latencies_us.extend(outcome.samples_us);
        errors += outcome.errors;
        acknowledged += outcome.acknowledged;
        conflicts += outcome.conflicts;
    }
    if args.workload == Workload::Incr {
        let after = read_counter(&mut clients[0]).await?;
        if after - before != acknowledged as i64 {
            return Err(format!(
                "counter advanced by {} but {acknowledged} increments were acknowledged",
                after - before
            ));
        }
    }
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
    let name = match args.workload {
        Workload::Incr => "incr",
        Workload::Sequence => "sequence",
        Workload::Set => "set",
        Workload::Get => "get",
        Workload::Lock => "lock",
        Workload::LockContended => "lock-contended",
        Workload::Semaphore => "semaphore",
    };
    println!(
        "workload={name} connections={} in_flight={} ops/s={ops:.0} p50={p50:.3}ms p90={p90:.3}ms \
         p99={p99:.3}ms p99.9={p999:.3}ms errors={errors} conflicts={conflicts}",
        args.connections, args.in_flight
    );
    Ok(())
}

async fn read_counter(client: &mut Client) -> Result<i64, String> {
    let response = client
        .get(COUNTER_KEY, None)
        .await
        .map_err(|e| e.to_string())?;
    Ok(response
        .kvs()
        .first()
        .and_then(|kv| kv.value_str().ok()?.parse().ok())
        .unwrap_or(0))
}

struct WorkerOutcome {
    samples_us: Vec<u64>,
    errors: u64,
    acknowledged: u64,
    /// Transactions that lost a compare and were retried.
    conflicts: u64,
}

async fn run_worker(
    mut client: Client,
    lease: i64,
    workload: Workload,
    worker: usize,
    permits: i64,
    start: Instant,
    end: Instant,
) -> WorkerOutcome {
    let lock_name = match workload {
        Workload::LockContended => "bench-lock".to_owned(),
        _ => format!("bench-lock-{worker}"),
    };
    let mut outcome = WorkerOutcome {
        samples_us: Vec::new(),
        errors: 0,
        acknowledged: 0,
        conflicts: 0,
    };
    loop {
        let began = Instant::now();
        if began >= end {
            break;
        }
        let ok = match workload {
            Workload::Incr => increment(&mut client, &mut outcome.conflicts).await.is_ok(),
            Workload::Sequence => next_id(&mut client).await.is_ok(),
            Workload::Set => client
                .put("bench-reference", "0123456789abcdef", None)
                .await
                .is_ok(),
            Workload::Get => client.get(COUNTER_KEY, None).await.is_ok(),
            Workload::Lock | Workload::LockContended => {
                let options = LockOptions::new().with_lease(lease);
                match client.lock(lock_name.as_str(), Some(options)).await {
                    Ok(locked) => client.unlock(locked.key()).await.is_ok(),
                    Err(_) => false,
                }
            }
            Workload::Semaphore => {
                let holder = format!("{SEMAPHORE_PREFIX}{worker}");
                acquire_and_release(&mut client, &holder, lease, permits)
                    .await
                    .is_ok()
            }
        };
        let finished = Instant::now();
        outcome.acknowledged += u64::from(ok);
        if began >= start && finished <= end {
            if ok {
                outcome
                    .samples_us
                    .push(u64::try_from((finished - began).as_micros()).unwrap_or(u64::MAX));
            } else {
                outcome.errors += 1;
            }
        }
    }
    outcome
}

/// The next id of a sequence: the store's revision after a `put`, which
/// etcd raises by one for every write, cluster-wide.
async fn next_id(client: &mut Client) -> Result<i64, etcd_client::Error> {
    let put = client.put(SEQUENCE_KEY, "", None).await?;
    let revision = put.header().map(|header| header.revision());
    revision.ok_or_else(|| etcd_client::Error::InvalidArgs("a put without a header".into()))
}

const SEMAPHORE_PREFIX: &str = "bench-semaphore/";

/// One permit of the semaphore taken and given back. A permit is held when
/// at most `permits` keys under the prefix, ours included, were created no
/// later than ours (the waiting a holder beyond them would do, on a watch
/// of the keys before it, never happens here: each worker holds at most one
/// of as many permits as there are workers, so more holders is an error).
async fn acquire_and_release(
    client: &mut Client,
    holder: &str,
    lease: i64,
    permits: i64,
) -> Result<(), etcd_client::Error> {
    let put = client
        .put(holder, "", Some(PutOptions::new().with_lease(lease)))
        .await?;
    let created_at = put
        .header()
        .map(|header| header.revision())
        .ok_or_else(|| etcd_client::Error::InvalidArgs("a put without a header".into()))?;
    let holders_through_us = GetOptions::new()
        .with_prefix()
        .with_count_only()
        .with_max_create_revision(created_at);
    let holders = client
        .get(SEMAPHORE_PREFIX, Some(holders_through_us))
        .await?
        .count();
    client.delete(holder, None).await?;
    if holders > permits {
        return Err(etcd_client::Error::InvalidArgs(format!(
            "{holders} holders of {permits} permits"
        )));
    }
    Ok(())
}

/// Read-modify-write with optimistic concurrency, as etcd's documentation
/// and clientv3's STM do it.
async fn increment(client: &mut Client, conflicts: &mut u64) -> Result<i64, etcd_client::Error> {
    loop {
        let current = client.get(COUNTER_KEY, None).await?;
        let (value, revision) = current
            .kvs()
            .first()
            .map(|kv| {
                let value = kv
                    .value_str()
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0i64);
                (value, kv.mod_revision())
            })
            .unwrap_or((0, 0));
        let next = value + 1;
        let txn = Txn::new()
            .when([Compare::mod_revision(
                COUNTER_KEY,
                CompareOp::Equal,
                revision,
            )])
            .and_then([TxnOp::put(COUNTER_KEY, next.to_string(), None)]);
        if client.txn(txn).await?.succeeded() {
            return Ok(next);
        }
        *conflicts += 1;
    }
}
