//! One run: a cluster behind proxies, every workload at once, one fault
//! injected again and again, healing, final reads, then the checks.

use super::history::{Call, History, Outcome, Records, Ret};
use super::invariants;
use super::linearizable::{self, Counter, Register, Verdict};
use super::nemesis::{MemberEnv, Nemesis};
use super::net::Net;
use super::workloads::{self, COUNTER, Ctx, DESTROYED_LOCK, IDS, PERMITS, Path, REGISTER};
use super::{Rng, Scenario};
use crate::{TestCluster, Timings};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Configurations the linearizability search may visit per object.
const SEARCH_BUDGET: usize = 5_000_000;
/// Process numbers of the clients that are not workers.
const SETUP_PROCESS: usize = 90;
const FINAL_PROCESS: usize = 91;
/// The workload runs this long after the nemesis stops, on a healed cluster.
const CALM_AFTER: Duration = Duration::from_secs(4);

#[derive(Debug)]
pub struct RunReport {
    pub scenario: Scenario,
    pub seed: u64,
    pub operations: usize,
    /// Per workload, how much was checked.
    pub breakdown: String,
    pub violations: Vec<String>,
    pub nemesis_log: Vec<String>,
    /// Where the history and member logs were kept (failing runs only).
    pub kept: Option<PathBuf>,
}

pub fn timings() -> Timings {
    Timings {
        session_ttl_ms: 4_000,
        heartbeat_ms: 500,
        election_timeout_ms: 500,
        // Small, so snapshots are taken and installed under faults too.
        snapshot_every: 1_000,
    }
}

/// Runs `scenario` for `length` (faults during all but the last seconds).
/// `keep_failures`: keep the history and logs of a run with violations.
pub fn run(scenario: Scenario, seed: u64, length: Duration, keep_failures: bool) -> RunReport {
    let mut rng = Rng::new(seed);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let timings = timings();
    let mut cluster = TestCluster::prepare("jepsen", timings.clone());
    cluster.set_binary(crate::faults_binary());
    if scenario.fault.needs_power_volumes() {
        cluster.use_power_volumes();
    }
    let net = Arc::new(Net::start(runtime.handle(), &cluster.addrs));
    let env = MemberEnv {
        planted_bug: scenario.bug.map(|bug| bug.name()),
    };
    for id in cluster.addrs.keys().copied().collect::<Vec<_>>() {
        cluster.set_routes(id, net.routes_of(id));
        cluster.set_node_env(id, env.vars(0));
    }
    cluster.start_all();

    let ctx = Arc::new(Ctx {
        history: Arc::new(History::new()),
        net: net.clone(),
        stop: AtomicBool::new(false),
        session_ttl: Duration::from_millis(timings.session_ttl_ms),
        freeze: AtomicUsize::new(usize::MAX),
        store: Default::default(),
        destroyed_store: Default::default(),
        leased_store: Default::default(),
    });
    runtime.block_on(workloads::init_semaphore(&ctx, SETUP_PROCESS));
    let lock_workers: Vec<usize> = (11..14).collect();
    let mut workers = Vec::new();
    // One incrementer of each counter goes over HTTP without a session.
    for p in 0..3 {
        let path = if p == 2 {
            Path::SessionLess
        } else {
            Path::Session
        };
        let worker = workloads::incrementer(ctx.clone(), p, COUNTER, path, rng.fork());
        workers.push(runtime.spawn(worker));
    }
    for p in 3..6 {
        workers.push(runtime.spawn(workloads::counter_reader(ctx.clone(), p, rng.fork())));
    }
    for p in 6..8 {
        let path = if p == 7 {
            Path::SessionLess
        } else {
            Path::Session
        };
        let worker = workloads::incrementer(ctx.clone(), p, IDS, path, rng.fork());
        workers.push(runtime.spawn(worker));
    }
    for p in 8..11 {
        workers.push(runtime.spawn(workloads::register(ctx.clone(), p, rng.fork())));
    }
    for p in lock_workers.iter().copied() {
        workers.push(runtime.spawn(workloads::lock_worker(ctx.clone(), p, rng.fork())));
    }
    for p in 14..17 {
        workers.push(runtime.spawn(workloads::semaphore_worker(ctx.clone(), p, rng.fork())));
    }
    workers.push(runtime.spawn(workloads::latch_rounds(ctx.clone(), 17, rng.fork())));
    workers.push(runtime.spawn(workloads::timed_waiter(ctx.clone(), 23)));
    for p in 24..26 {
        let worker = workloads::destroyed_lock_worker(ctx.clone(), p, rng.fork());
        workers.push(runtime.spawn(worker));
    }
    workers.push(runtime.spawn(workloads::destroyer(ctx.clone(), 26, rng.fork())));
    // Leased holders of a lock, without a session, and one session holder.
    for p in 29..31 {
        workers.push(runtime.spawn(workloads::leased_lock_worker(ctx.clone(), p, rng.fork())));
    }
    let holder = workloads::session_holder_of_leased_lock(ctx.clone(), 31, rng.fork());
    workers.push(runtime.spawn(holder));
    // Watchers of both counters, through different members' proxies.
    workers.push(runtime.spawn(workloads::watcher(ctx.clone(), 27, COUNTER)));
    workers.push(runtime.spawn(workloads::watcher(ctx.clone(), 28, IDS)));

    let started = Instant::now();
    let faults_until = started + length.saturating_sub(CALM_AFTER);
    let mut nemesis = Nemesis::new(&mut cluster, &net, &ctx, rng.fork(), env);
    nemesis.lock_workers = lock_workers;
    nemesis.run(scenario.fault, faults_until);
    let nemesis_log = std::mem::take(&mut nemesis.log);
    let mut violations = std::mem::take(&mut nemesis.findings);
    drop(nemesis);

    if !leader_within(&cluster, Duration::from_secs(60)) {
        violations.push("no leader within 60 s of healing".to_owned());
    }
    std::thread::sleep((started + length).saturating_duration_since(Instant::now()));
    ctx.stop.store(true, Ordering::SeqCst);
    let finished = runtime.block_on(async {
        tokio::time::timeout(
            Duration::from_secs(30),
            futures_util::future::join_all(workers),
        )
        .await
    });
    if finished.is_err() {
        violations.push("workers still blocked 30 s after the cluster healed".to_owned());
    }
    runtime.block_on(workloads::final_reads(&ctx, FINAL_PROCESS));

    let records = std::mem::take(
        &mut *ctx
            .history
            .records
            .lock()
            .unwrap_or_else(|p| p.into_inner()),
    );
    let (operations, found) = check(
        &records,
        &[&ctx.store, &ctx.destroyed_store, &ctx.leased_store],
    );
    let count = |object: &str| records.ops.iter().filter(|op| op.object == object).count();
    let destroyed_holds: Vec<_> = (records.lock_holds.iter())
        .filter(|h| h.lock == DESTROYED_LOCK)
        .collect();
    let leased_holds: Vec<_> = (records.lock_holds.iter()).filter(|h| h.leased).collect();
    let breakdown = format!(
        "counter {}, ids {}, register {}, lock holds {} (leased {}, of them {} run out; of the destroyed lock {}, {} of them ended by a destroy), permit holds {}, latch rounds {}, timed waits {}, watched changes {} ({} jumps)",
        count(COUNTER),
        count(IDS),
        count(REGISTER),
        records.lock_holds.len(),
        leased_holds.len(),
        leased_holds.iter().filter(|h| !h.unlock_ok).count(),
        destroyed_holds.len(),
        destroyed_holds.iter().filter(|h| !h.unlock_ok).count(),
        records.permit_holds.len(),
        records.latch_rounds.len(),
        records.timed_out_waits.len(),
        records
            .watches
            .iter()
            .map(|w| w.changes.len())
            .sum::<usize>(),
        (records.watches.iter().flat_map(|w| &w.changes))
            .filter(|c| c.2)
            .count()
    );
    violations.extend(found);
    runtime.shutdown_timeout(Duration::from_secs(1));

    // A failure: violations against the real server, or none with a bug.
    let failed = violations.is_empty() == scenario.bug.is_some();
    let kept = (keep_failures && failed).then(|| {
        keep(
            &cluster,
            scenario,
            seed,
            &records,
            &nemesis_log,
            &violations,
        )
    });
    RunReport {
        scenario,
        seed,
        operations,
        breakdown,
        violations,
        nemesis_log,
        kept,
    }
}

fn leader_within(cluster: &TestCluster, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cluster.leader().is_some() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// Judges a run's records; returns the number of operations checked and the
/// violations found.
pub fn check(records: &Records, stores: &[&workloads::FencedStore]) -> (usize, Vec<String>) {
    let mut violations = Vec::new();
    let of = |object: &str| -> Vec<_> {
        records
            .ops
            .iter()
            .filter(|op| op.object == object)
            .cloned()
            .collect()
    };
    for object in [COUNTER, IDS] {
        let verdict = linearizable::check(Counter(0), &of(object), SEARCH_BUDGET);
        describe_verdict(object, verdict, &mut violations);
    }
    let verdict = linearizable::check(Register(None), &of(REGISTER), SEARCH_BUDGET);
    describe_verdict(REGISTER, verdict, &mut violations);

    let ids: Vec<(usize, i64)> = of(IDS)
        .iter()
        .filter_map(|op| match (&op.call, &op.outcome) {
            (Call::Add(_), Outcome::Ok(Ret::Long(id))) => Some((op.process, *id)),
            _ => None,
        })
        .collect();
    violations.extend(invariants::ids_are_unique(&ids));
    violations.extend(acknowledged_increments_survived(records));
    violations.extend(invariants::fences_increase(&records.lock_holds));
    violations.extend(invariants::holders_do_not_overlap(&records.lock_holds));
    for store in stores {
        violations.extend(store.lost_updates());
    }
    violations.extend(invariants::permits_within_bounds(
        &records.permit_holds,
        PERMITS as usize,
    ));
    violations.extend(invariants::latches_open_after_count_downs(
        &records.latch_rounds,
    ));
    violations.extend(invariants::live_sessions_survive(records));
    violations.extend(invariants::watch_streams_agree(&records.watches));
    violations.extend(invariants::waits_last_their_timeout(
        &records.timed_out_waits,
    ));

    let latch_ops: usize = records
        .latch_rounds
        .iter()
        .map(|r| r.count_down_invoked_us.len() + 2)
        .sum();
    let operations = records.ops.len()
        + records.timed_out_waits.len()
        + 2 * records.lock_holds.len()
        + 2 * records.permit_holds.len()
        + latch_ops;
    (operations, violations)
}

fn describe_verdict(object: &str, verdict: Verdict, violations: &mut Vec<String>) {
    match verdict {
        Verdict::Linearizable { .. } => {}
        Verdict::Violation { explored, stuck } => violations.push(format!(
            "{object}: not linearizable ({explored} configurations searched); {stuck}"
        )),
        Verdict::Exhausted { explored } => violations.push(format!(
            "{object}: search budget exhausted after {explored} configurations (not a pass)"
        )),
    }
}

/// After healing, the counters hold at least every acknowledged increment.
fn acknowledged_increments_survived(records: &Records) -> Vec<String> {
    let mut violations = Vec::new();
    for object in [COUNTER, IDS] {
        let acknowledged = records
            .ops
            .iter()
            .filter(|op| op.object == object && op.process != FINAL_PROCESS)
            .filter(|op| matches!((&op.call, &op.outcome), (Call::Add(_), Outcome::Ok(_))))
            .count() as i64;
        let last = records
            .ops
            .iter()
            .rev()
            .find(|op| op.object == object && op.process == FINAL_PROCESS);
        match last.map(|op| &op.outcome) {
            Some(Outcome::Ok(Ret::Long(value))) if *value >= acknowledged => {}
            Some(Outcome::Ok(Ret::Long(value))) => violations.push(format!(
                "{object}: {acknowledged} increments acknowledged, but {value} after healing"
            )),
            other => violations.push(format!(
                "{object}: the final read after healing failed: {other:?}"
            )),
        }
    }
    violations
}

/// Keeps the history, the nemesis log and the member logs of a failing run.
fn keep(
    cluster: &TestCluster,
    scenario: Scenario,
    seed: u64,
    records: &Records,
    nemesis_log: &[String],
    violations: &[String],
) -> PathBuf {
    let root = std::env::var_os("RAFTCP_JEPSEN_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/jepsen"));
    let dir = root.join(format!("{}-seed-{seed}", scenario.fault.name()));
    let _ = std::fs::create_dir_all(&dir);
    let history = serde_json::to_string_pretty(records).unwrap_or_default();
    let _ = std::fs::write(dir.join("history.json"), history);
    let _ = std::fs::write(dir.join("nemesis.log"), nemesis_log.join("\n"));
    let _ = std::fs::write(dir.join("violations.txt"), violations.join("\n"));
    for id in cluster.addrs.keys() {
        let _ = std::fs::copy(cluster.log_path(*id), dir.join(format!("node-{id}.log")));
    }
    dir
}
