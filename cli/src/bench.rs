//! `raftcp bench`: a load generator that drives a running cluster through
//! the Rust client, like an application would, and prints throughput and
//! latency percentiles.

use crate::bench_watch::SAMPLE_EVERY;
use clap::{Args, ValueEnum};
use raftcp::Client;
use std::time::{Duration, Instant};

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Members to connect to, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "ws://127.0.0.1:7701")]
    pub endpoints: Vec<String>,
    #[arg(long, value_enum, default_value_t = Workload::Incr)]
    pub workload: Workload,
    /// Client connections (each its own session).
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
    /// Requests in flight in total, spread over the connections.
    #[arg(long, default_value_t = 256)]
    pub in_flight: usize,
    /// Measured seconds (after one second of warm-up).
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Trust this CA (PEM file) for wss:// endpoints.
    #[arg(long, value_name = "FILE")]
    pub ca_pem: Option<std::path::PathBuf>,
    /// A token for a cluster that needs one (`raftcp auth token`).
    #[arg(long)]
    pub token: Option<String>,
    /// Watches on the `incr` counter while it runs (64 to a connection,
    /// the connections spread over `--endpoints`): prints what each got
    /// and how soon.
    #[arg(long, default_value_t = 0)]
    pub watchers: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    /// AtomicLong increment_and_get on one counter.
    Incr,
    /// AtomicLong compare_and_set(v, v + 1), one counter per worker.
    Cas,
    /// AtomicLong get (a linearizable read).
    Get,
    /// AtomicReference set of a 16-byte string on one reference.
    Set,
    /// FencedLock lock + unlock, one lock per worker (uncontended).
    Lock,
    /// FencedLock lock + unlock, every worker on the same lock.
    LockContended,
    /// Semaphore acquire + release, permits for every worker.
    Semaphore,
    /// CountDownLatch count_down on a latch with a large count.
    Latch,
    /// No operations: open `--connections` sessions (spread over the
    /// endpoints), hold them idle for `--seconds`, then close them. For
    /// measuring what idle sessions cost the members.
    Idle,
}

impl Workload {
    pub fn name(self) -> &'static str {
        match self {
            Workload::Incr => "incr",
            Workload::Cas => "cas",
            Workload::Get => "get",
            Workload::Set => "set",
            Workload::Lock => "lock",
            Workload::LockContended => "lock-contended",
            Workload::Semaphore => "semaphore",
            Workload::Latch => "latch",
            Workload::Idle => "idle",
        }
    }
}

/// A client as the arguments say: endpoints, CA, token.
async fn connect(args: &BenchArgs) -> Result<Client, String> {
    let (ca_pem, token) = (args.ca_pem.as_deref(), args.token.as_deref());
    crate::connect_client(&args.endpoints, None, ca_pem, token).await
}

pub async fn run(args: BenchArgs) -> Result<(), String> {
    if args.connections == 0 || args.in_flight == 0 {
        return Err("--connections and --in-flight must be positive".into());
    }
    if args.workload == Workload::Idle {
        return hold_idle_sessions(&args).await;
    }
    let mut clients = Vec::new();
    for _ in 0..args.connections {
        let client = connect(&args).await?;
        clients.push(with_open_session(client).await?);
    }
    // The counter is read before and after: every acknowledged increment
    // must show, exactly once.
    let counter = clients[0].get_atomic_long("bench-counter");
    let counter_before = counter.get().await.map_err(|e| e.to_string())?;
    prepare(&clients[0], args.workload, args.in_flight)
        .await
        .map_err(|e| e.to_string())?;
    if args.watchers > 0 && args.workload != Workload::Incr {
        return Err("--watchers goes with --workload incr".into());
    }
    let watchers = match args.watchers {
        0 => None,
        count => {
            let target = crate::bench_watch::Target {
                endpoints: args.endpoints.clone(),
                ca_pem: args.ca_pem.clone(),
                token: args.token.clone(),
                counter: "bench-counter".to_owned(),
            };
            Some(crate::bench_watch::start(count, target).await?)
        }
    };
    let warm_up = Duration::from_secs(1);
    let measured = Duration::from_secs(args.seconds.max(1));
    let start = Instant::now() + warm_up;
    let end = start + measured;
    if let Some(watchers) = &watchers {
        watchers.measure(start, end);
    }
    let mut workers = Vec::new();
    for worker in 0..args.in_flight {
        let client = clients[worker % clients.len()].clone();
        workers.push(tokio::spawn(run_worker(
            client,
            args.workload,
            worker,
            start,
            end,
        )));
    }
    let mut latencies_us = Vec::new();
    let mut errors = 0u64;
    let mut acknowledged = 0u64;
    let mut answered_at = std::collections::HashMap::new();
    for worker in workers {
        let outcome = worker.await.map_err(|e| e.to_string())?;
        latencies_us.extend(outcome.samples_us);
        answered_at.extend(outcome.answered_at);
        errors += outcome.errors;
        acknowledged += outcome.acknowledged;
    }
    if args.workload == Workload::Incr {
        let counter_after = counter.get().await.map_err(|e| e.to_string())?;
        let advanced = counter_after - counter_before;
        if u64::try_from(advanced).ok() != Some(acknowledged) {
            return Err(format!(
                "counter advanced by {advanced} but {acknowledged} increments were acknowledged"
            ));
        }
    }
    let watched = match watchers {
        Some(watchers) => Some(watchers.finish(&answered_at, measured).await?),
        None => None,
    };
    for client in &clients {
        client.close().await;
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
    let workload = args.workload.name();
    let (connections, in_flight) = (args.connections, args.in_flight);
    let [p50, p90, p99, p999] = [0.5, 0.9, 0.99, 0.999].map(pct);
    if args.json {
        println!(
            "{{\"workload\":\"{workload}\",\"connections\":{connections},\"in_flight\":{in_flight},\
             \"ops_per_sec\":{ops:.0},\"p50_ms\":{p50:.3},\"p90_ms\":{p90:.3},\"p99_ms\":{p99:.3},\
             \"p999_ms\":{p999:.3},\"errors\":{errors}}}"
        );
    } else {
        println!(
            "workload={workload} connections={connections} in_flight={in_flight} ops/s={ops:.0} \
             p50={p50:.3}ms p90={p90:.3}ms p99={p99:.3}ms p99.9={p999:.3}ms errors={errors}"
        );
    }
    if let Some(watched) = watched {
        println!("{watched}");
    }
    Ok(())
}

struct WorkerOutcome {
    /// Latencies of operations that finished inside the measured window.
    samples_us: Vec<u64>,
    errors: u64,
    /// Every successful operation, warm-up included.
    acknowledged: u64,
    /// When sampled `incr` values were answered (see `bench_watch`).
    answered_at: Vec<(i64, Instant)>,
}

/// `client` once its session is open (a call was answered), so opening
/// sessions stays out of the measured time.
async fn with_open_session(client: Client) -> Result<Client, String> {
    client
        .get_atomic_long("bench-warmup")
        .get()
        .await
        .map_err(|e| e.to_string())?;
    Ok(client)
}

/// Opens the sessions of the `idle` workload, each client on the next
/// endpoint in turn (not following the leader), and holds them.
async fn hold_idle_sessions(args: &BenchArgs) -> Result<(), String> {
    let started = Instant::now();
    let mut clients = Vec::with_capacity(args.connections);
    for i in 0..args.connections {
        let mut endpoints = args.endpoints.clone();
        let turn = i % endpoints.len().max(1);
        endpoints.rotate_left(turn);
        let client = Client::builder()
            .endpoints(endpoints)
            .follow_leader(false)
            .connect()
            .await
            .map_err(|e| e.to_string())?;
        clients.push(with_open_session(client).await?);
    }
    println!(
        "workload=idle sessions={} opened in {:.1}s; holding for {}s",
        clients.len(),
        started.elapsed().as_secs_f64(),
        args.seconds
    );
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    let lost: u64 = clients.iter().map(Client::sessions_lost).sum();
    for client in &clients {
        client.close().await;
    }
    println!("workload=idle sessions_lost={lost}");
    Ok(())
}

/// Permits and counts large enough that no worker waits on them.
const LATCH_COUNT: u32 = u32::MAX;

/// Objects the workload needs before the clock starts.
async fn prepare(client: &Client, workload: Workload, in_flight: usize) -> raftcp::Result<()> {
    match workload {
        Workload::Semaphore => {
            let semaphore = client.get_semaphore("bench-semaphore");
            let available = semaphore.available_permits().await?;
            let wanted = u32::try_from(in_flight).unwrap_or(u32::MAX);
            if available < wanted {
                semaphore.increase_permits(wanted - available).await?;
            }
        }
        Workload::Latch => {
            let latch = client.get_count_down_latch("bench-latch");
            if latch.get_count().await? == 0 {
                latch.try_set_count(LATCH_COUNT).await?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// One worker's handles and state.
struct Op {
    workload: Workload,
    counter: raftcp::AtomicLong,
    own_counter: raftcp::AtomicLong,
    /// The value `own_counter` is believed to hold (for `cas`).
    expected: Option<i64>,
    /// The value the last `incr` returned.
    incremented: i64,
    reference: raftcp::AtomicReference<String>,
    lock: raftcp::FencedLock,
    semaphore: raftcp::Semaphore,
    latch: raftcp::CountDownLatch,
}

impl Op {
    fn new(client: &Client, workload: Workload, worker: usize) -> Op {
        let lock_name = match workload {
            Workload::LockContended => "bench-lock".to_owned(),
            _ => format!("bench-lock-{worker}"),
        };
        Op {
            workload,
            counter: client.get_atomic_long("bench-counter"),
            own_counter: client.get_atomic_long(&format!("bench-cas-{worker}")),
            expected: None,
            incremented: 0,
            reference: client.get_atomic_reference("bench-reference"),
            lock: client.get_fenced_lock(&lock_name),
            semaphore: client.get_semaphore("bench-semaphore"),
            latch: client.get_count_down_latch("bench-latch"),
        }
    }

    /// One operation of the workload; whether it succeeded.
    async fn run(&mut self) -> bool {
        match self.workload {
            Workload::Incr => match self.counter.increment_and_get().await {
                Ok(value) => {
                    self.incremented = value;
                    true
                }
                Err(_) => false,
            },
            Workload::Cas => {
                let expected = match self.expected {
                    Some(value) => value,
                    None => match self.own_counter.get().await {
                        Ok(value) => value,
                        Err(_) => return false,
                    },
                };
                match self
                    .own_counter
                    .compare_and_set(expected, expected + 1)
                    .await
                {
                    Ok(swapped) => {
                        self.expected = swapped.then_some(expected + 1);
                        swapped
                    }
                    Err(_) => {
                        self.expected = None;
                        false
                    }
                }
            }
            Workload::Get => self.counter.get().await.is_ok(),
            Workload::Set => self
                .reference
                .set(&"0123456789abcdef".to_owned())
                .await
                .is_ok(),
            Workload::Lock | Workload::LockContended => {
                self.lock.lock().await.is_ok() && self.lock.unlock().await.is_ok()
            }
            Workload::Semaphore => {
                self.semaphore.acquire().await.is_ok() && self.semaphore.release().await.is_ok()
            }
            Workload::Latch => self.latch.count_down().await.is_ok(),
            Workload::Idle => true,
        }
    }
}

/// Loops the workload until `end`.
async fn run_worker(
    client: Client,
    workload: Workload,
    worker: usize,
    start: Instant,
    end: Instant,
) -> WorkerOutcome {
    let mut op = Op::new(&client, workload, worker);
    let mut samples = Vec::new();
    let mut errors = 0;
    let mut acknowledged = 0;
    let mut answered_at = Vec::new();
    loop {
        let began = Instant::now();
        if began >= end {
            break;
        }
        let ok = op.run().await;
        let finished = Instant::now();
        acknowledged += u64::from(ok);
        let sampled = workload == Workload::Incr && op.incremented % SAMPLE_EVERY == 0;
        if ok && sampled {
            answered_at.push((op.incremented, finished));
        }
        if began >= start && finished <= end {
            if ok {
                samples.push(u64::try_from((finished - began).as_micros()).unwrap_or(u64::MAX));
            } else {
                errors += 1;
            }
        }
    }
    WorkerOutcome {
        samples_us: samples,
        errors,
        acknowledged,
        answered_at,
    }
}
