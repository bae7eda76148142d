//! The workloads: client processes (one `raftcp::Client` and session each)
//! that run operations back to back until told to stop, recording each
//! invocation and completion in the run's [`History`].

use super::Rng;
use super::history::{
    Call, History, LatchRound, LockHold, Outcome, PermitHold, Ret, SessionLoss, TimedOutWait,
    WatchedCounter,
};
use super::net::Net;
use raftcp::{Client, Error, OpError};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const COUNTER: &str = "jepsen-counter";
pub const IDS: &str = "jepsen-ids";
pub const REGISTER: &str = "jepsen-register";
pub const LOCK: &str = "jepsen-lock";
/// A lock that a destroyer keeps destroying while workers use it.
pub const DESTROYED_LOCK: &str = "jepsen-destroyed-lock";
/// A lock taken mostly under leases, and by one session holder.
pub const LEASED_LOCK: &str = "jepsen-leased-lock";
/// How often the destroyer destroys [`DESTROYED_LOCK`], at most.
const DESTROY_EVERY_MS: u64 = 400;
pub const SEMAPHORE: &str = "jepsen-semaphore";
pub const PERMITS: u32 = 2;
pub const EMPTY_SEMAPHORE: &str = "jepsen-empty";
const WAIT_TIMEOUT_MS: u64 = 3_000;
const LATCH_COUNT: u32 = 3;

/// Long enough to ride out a failover; an operation still unanswered is
/// recorded with an unknown outcome.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What every worker of a run shares.
#[derive(Debug)]
pub struct Ctx {
    pub history: Arc<History>,
    pub net: Arc<Net>,
    pub stop: AtomicBool,
    pub session_ttl: Duration,
    /// A lock worker asked to freeze while holding the lock (`usize::MAX`:
    /// none). It cuts its own links and sleeps past its session TTL, like a
    /// client process stopped by SIGSTOP, then carries on with its fence.
    pub freeze: AtomicUsize,
    pub store: FencedStore,
    /// The store [`DESTROYED_LOCK`] guards.
    pub destroyed_store: FencedStore,
    /// The store [`LEASED_LOCK`] guards.
    pub leased_store: FencedStore,
}

impl Ctx {
    fn running(&self) -> bool {
        !self.stop.load(Ordering::SeqCst)
    }

    /// Notes a session that ended under the process (checked later against
    /// whether the nemesis cut it off).
    fn note_error(&self, process: usize, error: &Error) {
        if let Error::Server(OpError::SessionExpired { .. } | OpError::LockOwnershipLost { .. }) =
            error
        {
            let loss = SessionLoss {
                process,
                at_us: self.history.now_us(),
                error: error.to_string(),
            };
            self.history.with(|r| r.session_losses.push(loss));
        }
    }

    /// A mutation's outcome: any error leaves it unknown.
    fn mutation<T>(
        &self,
        process: usize,
        result: &Result<T, Error>,
        ok: impl Fn(&T) -> Ret,
    ) -> Outcome {
        self.outcome(process, result, ok, Outcome::Unknown)
    }

    /// A read's outcome: an error means it had no effect.
    fn read<T>(
        &self,
        process: usize,
        result: &Result<T, Error>,
        ok: impl Fn(&T) -> Ret,
    ) -> Outcome {
        self.outcome(process, result, ok, Outcome::Failed)
    }

    fn outcome<T>(
        &self,
        process: usize,
        result: &Result<T, Error>,
        ok: impl Fn(&T) -> Ret,
        on_error: fn(String) -> Outcome,
    ) -> Outcome {
        match result {
            Ok(value) => Outcome::Ok(ok(value)),
            Err(e) => {
                self.note_error(process, e);
                on_error(e.to_string())
            }
        }
    }

    /// Ends a worker's client, noting sessions that ended under it even
    /// when no call saw it (an idle client just gets a new session).
    async fn finish(&self, process: usize, client: Client) {
        let lost = client.sessions_lost();
        if lost > 0 {
            let loss = SessionLoss {
                process,
                at_us: self.history.now_us(),
                error: format!("{lost} session(s) ended under the client"),
            };
            self.history.with(|r| r.session_losses.push(loss));
        }
        client.close().await;
    }

    async fn think(&self, rng: &mut Rng) {
        tokio::time::sleep(Duration::from_micros(rng.below(4_000))).await;
    }
}

/// A client for `process`, through its proxies; retried until the cluster
/// answers (workers start before any fault).
pub async fn client(ctx: &Ctx, process: usize) -> Client {
    client_with(ctx, process, Path::Session).await
}

/// How a worker's calls travel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    /// Every call in the client's session, over its WebSocket.
    Session,
    /// Calls that need no session as `POST /v1/ops`, each under one
    /// idempotency key for all its attempts.
    SessionLess,
}

async fn client_with(ctx: &Ctx, process: usize, path: Path) -> Client {
    let urls = ctx.net.client_urls(process).await;
    loop {
        let connected = Client::builder()
            .endpoints(urls.clone())
            .follow_leader(false)
            .request_timeout(REQUEST_TIMEOUT)
            .client_name(format!("jepsen-{process}"))
            .session_less_over_http(path == Path::SessionLess)
            .connect()
            .await;
        match connected {
            Ok(client) => return client,
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// `add_and_get(1)` on the shared counter, or on the id generator, over
/// `path`: a session-less retry that ran twice shows as a lost or repeated
/// value.
pub async fn incrementer(
    ctx: Arc<Ctx>,
    process: usize,
    object: &'static str,
    path: Path,
    mut rng: Rng,
) {
    let client = client_with(&ctx, process, path).await;
    let counter = client.get_atomic_long(object);
    while ctx.running() {
        let invoked = ctx.history.now_us();
        let result = counter.add_and_get(1).await;
        let outcome = ctx.mutation(process, &result, |v| Ret::Long(*v));
        ctx.history
            .record(process, object, Call::Add(1), invoked, outcome);
        ctx.think(&mut rng).await;
    }
    ctx.finish(process, client).await;
}

/// How long a watcher may take, after the run, to reach its counter's
/// final value.
const WATCH_CATCH_UP: Duration = Duration::from_secs(30);

/// Watches `object` (a counter only `add_and_get(1)` changes) through the
/// faults, then until it shows the value a read finds after the run.
pub async fn watcher(ctx: Arc<Ctx>, process: usize, object: &'static str) {
    let client = client(&ctx, process).await;
    let counter = client.get_atomic_long(object);
    let mut watched = WatchedCounter {
        process,
        object,
        ..Default::default()
    };
    let mut changes = loop {
        match counter.watch().await {
            Ok(changes) => break changes,
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    // Through the run.
    while ctx.running() && watched.ended.is_none() {
        let quiet = tokio::time::Instant::now() + Duration::from_millis(200);
        next_change(&mut changes, &mut watched, quiet).await;
    }
    // After it: the stream must reach what a read finds now.
    if watched.ended.is_none() {
        watched.final_value = counter.get().await.ok();
        let deadline = tokio::time::Instant::now() + WATCH_CATCH_UP;
        while let Some(target) = watched.final_value
            && watched.changes.last().map(|c| c.1) < Some(target)
            && next_change(&mut changes, &mut watched, deadline).await
        {}
    }
    drop(changes);
    ctx.history.with(|r| r.watches.push(watched));
    ctx.finish(process, client).await;
}

/// Takes the next change into `watched` unless `until` comes first;
/// whether one came (an ended stream is noted in `watched`).
async fn next_change(
    changes: &mut raftcp::Changes<i64>,
    watched: &mut WatchedCounter,
    until: tokio::time::Instant,
) -> bool {
    use futures_util::StreamExt;
    match tokio::time::timeout_at(until, changes.next()).await {
        Ok(Some(Ok(change))) => {
            watched
                .changes
                .push((change.position, change.value, change.jump));
            true
        }
        Ok(Some(Err(e))) => {
            watched.ended = Some(e.to_string());
            false
        }
        Ok(None) => {
            watched.ended = Some("the stream ended".to_owned());
            false
        }
        Err(_) => false,
    }
}

/// Reads of the shared counter (through the member this process prefers).
pub async fn counter_reader(ctx: Arc<Ctx>, process: usize, mut rng: Rng) {
    let client = client(&ctx, process).await;
    let counter = client.get_atomic_long(COUNTER);
    while ctx.running() {
        let invoked = ctx.history.now_us();
        let result = counter.get().await;
        let outcome = ctx.read(process, &result, |v| Ret::Long(*v));
        ctx.history
            .record(process, COUNTER, Call::Get, invoked, outcome);
        ctx.think(&mut rng).await;
    }
    ctx.finish(process, client).await;
}

/// Gets, sets and compare-and-sets of a small-valued register.
pub async fn register(ctx: Arc<Ctx>, process: usize, mut rng: Rng) {
    let client = client(&ctx, process).await;
    let register = client.get_atomic_reference::<i64>(REGISTER);
    let value = |rng: &mut Rng| rng.below(5) as i64;
    while ctx.running() {
        let invoked = ctx.history.now_us();
        let (call, outcome) = match rng.below(3) {
            0 => {
                let result = register.get().await;
                (
                    Call::Get,
                    ctx.read(process, &result, |v| Ret::Reference(*v)),
                )
            }
            1 => {
                let v = value(&mut rng);
                let result = register.set(&v).await;
                (Call::Set(v), ctx.mutation(process, &result, |_| Ret::Unit))
            }
            _ => {
                let expect = Some(value(&mut rng)).filter(|_| rng.below(8) != 0);
                let update = Some(value(&mut rng));
                let result = register
                    .compare_and_set(expect.as_ref(), update.as_ref())
                    .await;
                let outcome = ctx.mutation(process, &result, |b| Ret::Bool(*b));
                (Call::Cas(expect, update), outcome)
            }
        };
        ctx.history
            .record(process, REGISTER, call, invoked, outcome);
        ctx.think(&mut rng).await;
    }
    ctx.finish(process, client).await;
}

/// Takes the lock, does a read-modify-write of the fenced store with its
/// fence, unlocks.
pub async fn lock_worker(ctx: Arc<Ctx>, process: usize, rng: Rng) {
    locking(ctx, process, LOCK, rng).await;
}

/// The session holder of [`LEASED_LOCK`], among leased holders.
pub async fn session_holder_of_leased_lock(ctx: Arc<Ctx>, process: usize, rng: Rng) {
    locking(ctx, process, LEASED_LOCK, rng).await;
}

/// Works under [`DESTROYED_LOCK`], which [`destroyer`] keeps destroying: a
/// holder whose lock was destroyed finds out at its unlock, and its fence
/// is older than the next holder's, so the store refuses its late writes.
pub async fn destroyed_lock_worker(ctx: Arc<Ctx>, process: usize, rng: Rng) {
    locking(ctx, process, DESTROYED_LOCK, rng).await;
}

/// Destroys [`DESTROYED_LOCK`] again and again, whoever holds it.
pub async fn destroyer(ctx: Arc<Ctx>, process: usize, mut rng: Rng) {
    let client = client(&ctx, process).await;
    let lock = client.get_fenced_lock(DESTROYED_LOCK);
    while ctx.running() {
        tokio::time::sleep(Duration::from_millis(rng.below(DESTROY_EVERY_MS) + 1)).await;
        if let Err(e) = lock.destroy().await {
            ctx.note_error(process, &e);
        }
    }
    ctx.finish(process, client).await;
}

async fn locking(ctx: Arc<Ctx>, process: usize, name: &'static str, mut rng: Rng) {
    let client = client(&ctx, process).await;
    let lock = client.get_fenced_lock(name);
    let store = match name {
        DESTROYED_LOCK => &ctx.destroyed_store,
        LEASED_LOCK => &ctx.leased_store,
        _ => &ctx.store,
    };
    while ctx.running() {
        let lock_invoked_us = ctx.history.now_us();
        let fence = match lock.lock().await {
            Ok(fence) => fence.0,
            Err(e) => {
                ctx.note_error(process, &e);
                continue;
            }
        };
        let acquired_us = ctx.history.now_us();
        if ctx
            .freeze
            .compare_exchange(process, usize::MAX, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            ctx.history.with(|r| r.frozen.push(process));
            ctx.net.isolate_client(process);
            tokio::time::sleep(ctx.session_ttl + Duration::from_secs(2)).await;
            ctx.net.heal_client(process);
        }
        fenced_update(&ctx, store, fence, &mut rng).await;
        let unlock_invoked_us = ctx.history.now_us();
        let unlocked = lock.unlock().await;
        if let Err(e) = &unlocked {
            ctx.note_error(process, e);
        }
        let hold = LockHold {
            lock: name,
            process,
            fence,
            lock_invoked_us,
            acquired_us,
            unlock_invoked_us: Some(unlock_invoked_us),
            unlock_ok: unlocked.is_ok(),
            leased: false,
        };
        ctx.history.with(|r| r.lock_holds.push(hold));
        ctx.think(&mut rng).await;
    }
    ctx.finish(process, client).await;
}

/// The protected work of a lock holder: read-modify-write of `store`,
/// each access fenced (a stale fence is refused, and nothing is written).
async fn fenced_update(ctx: &Ctx, store: &FencedStore, fence: u64, rng: &mut Rng) {
    if let Ok(basis) = store.read(fence) {
        ctx.think(rng).await;
        let _ = store.write(fence, basis, basis + 1);
    }
}

/// How long a leased lock worker's lease lasts: longer than its work, short
/// enough that faults make some run out under a holder.
const LEASE: Duration = Duration::from_secs(3);

/// The fenced-lock work on [`LEASED_LOCK`], beside a session holder, under
/// a lease taken without a session (`try_lock_leased` over HTTP, tried
/// again until it is free) and ended with `unlock_leased`. A lease that
/// ran out under its holder ends in `LockOwnershipLost`, so that hold is
/// not confirmed; the store refuses its older fence.
pub async fn leased_lock_worker(ctx: Arc<Ctx>, process: usize, mut rng: Rng) {
    let client = client_with(&ctx, process, Path::SessionLess).await;
    let lock = client.get_fenced_lock(LEASED_LOCK);
    let store = &ctx.leased_store;
    while ctx.running() {
        let lock_invoked_us = ctx.history.now_us();
        let lease = match lock.try_lock_leased(LEASE).await {
            Ok(Some(lease)) => lease,
            Ok(None) => {
                ctx.think(&mut rng).await;
                continue;
            }
            Err(e) => {
                ctx.note_error(process, &e);
                continue;
            }
        };
        let acquired_us = ctx.history.now_us();
        let fence = lease.fence.0;
        fenced_update(&ctx, store, fence, &mut rng).await;
        let unlock_invoked_us = ctx.history.now_us();
        let unlocked = lock.unlock_leased(&lease.token).await;
        let hold = LockHold {
            lock: LEASED_LOCK,
            process,
            fence,
            lock_invoked_us,
            acquired_us,
            unlock_invoked_us: Some(unlock_invoked_us),
            unlock_ok: unlocked.is_ok(),
            leased: true,
        };
        ctx.history.with(|r| r.lock_holds.push(hold));
        ctx.think(&mut rng).await;
    }
    ctx.finish(process, client).await;
}

/// Acquire one permit, hold it briefly, release it.
pub async fn semaphore_worker(ctx: Arc<Ctx>, process: usize, mut rng: Rng) {
    let client = client(&ctx, process).await;
    let semaphore = client.get_semaphore(SEMAPHORE);
    while ctx.running() {
        if let Err(e) = semaphore.acquire().await {
            ctx.note_error(process, &e);
            continue;
        }
        let acquired_us = ctx.history.now_us();
        ctx.think(&mut rng).await;
        let release_invoked_us = ctx.history.now_us();
        let released = semaphore.release().await;
        if let Err(e) = &released {
            ctx.note_error(process, e);
        }
        let hold = PermitHold {
            process,
            acquired_us,
            release_invoked_us,
            release_ok: released.is_ok(),
        };
        ctx.history.with(|r| r.permit_holds.push(hold));
    }
    ctx.finish(process, client).await;
}

/// Waits on a semaphore that never has a permit, with a timeout: every wait
/// must time out, and none sooner than asked (deadlines are machine time,
/// which must advance at real speed whatever the members' clocks say).
pub async fn timed_waiter(ctx: Arc<Ctx>, process: usize) {
    let client = client(&ctx, process).await;
    let empty = client.get_semaphore(EMPTY_SEMAPHORE);
    let timeout = Duration::from_millis(WAIT_TIMEOUT_MS);
    while ctx.running() {
        let invoked_us = ctx.history.now_us();
        match empty.try_acquire_many(1, timeout).await {
            Ok(false) => {
                let wait = TimedOutWait {
                    process,
                    timeout_ms: WAIT_TIMEOUT_MS,
                    invoked_us,
                    completed_us: ctx.history.now_us(),
                };
                ctx.history.with(|r| r.timed_out_waits.push(wait));
            }
            Ok(true) => {
                let loss = SessionLoss {
                    process,
                    at_us: ctx.history.now_us(),
                    error: format!("acquired a permit of {EMPTY_SEMAPHORE}, which has none"),
                };
                ctx.history.with(|r| r.session_losses.push(loss));
            }
            Err(e) => ctx.note_error(process, &e),
        }
    }
    ctx.finish(process, client).await;
}

/// Sets up the semaphore's pool before the workers start.
pub async fn init_semaphore(ctx: &Ctx, process: usize) {
    let client = client(ctx, process).await;
    client
        .get_semaphore(SEMAPHORE)
        .init(PERMITS)
        .await
        .expect("semaphore init");
    client.close().await;
}

/// Latch rounds: a fresh latch of three per round, three processes count
/// down at random moments, two processes await it.
pub async fn latch_rounds(ctx: Arc<Ctx>, first_process: usize, mut rng: Rng) {
    let mut clients = Vec::new();
    for k in 0..6 {
        clients.push(client(&ctx, first_process + k).await);
    }
    let mut round = 0u64;
    while ctx.running() {
        let name = format!("jepsen-latch-{round}");
        round += 1;
        match clients[0]
            .get_count_down_latch(&name)
            .try_set_count(LATCH_COUNT)
            .await
        {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                ctx.note_error(first_process, &e);
                continue;
            }
        }
        let record = Mutex::new(LatchRound {
            count: LATCH_COUNT,
            ..LatchRound::default()
        });
        let delays: Vec<u64> = (0..LATCH_COUNT).map(|_| rng.below(50_000)).collect();
        let count_downs = (0..LATCH_COUNT as usize).map(|k| {
            let latch = clients[1 + k].get_count_down_latch(&name);
            let (ctx, record, delay) = (&ctx, &record, delays[k]);
            async move {
                tokio::time::sleep(Duration::from_micros(delay)).await;
                let invoked = ctx.history.now_us();
                record
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .count_down_invoked_us
                    .push(invoked);
                if let Err(e) = latch.count_down().await {
                    ctx.note_error(first_process + 1 + k, &e);
                }
            }
        });
        let awaits = (4..6).map(|k| {
            let latch = clients[k].get_count_down_latch(&name);
            let (ctx, record) = (&ctx, &record);
            async move {
                match latch.await_latch_timeout(REQUEST_TIMEOUT).await {
                    Ok(true) => {
                        let at = ctx.history.now_us();
                        record
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .opened_us
                            .push(at);
                    }
                    Ok(false) => {}
                    Err(e) => ctx.note_error(first_process + k, &e),
                }
            }
        });
        futures_util::future::join(
            futures_util::future::join_all(count_downs),
            futures_util::future::join_all(awaits),
        )
        .await;
        let round = record.into_inner().unwrap_or_else(|p| p.into_inner());
        ctx.history.with(|r| r.latch_rounds.push(round));
    }
    for (k, client) in clients.into_iter().enumerate() {
        ctx.finish(first_process + k, client).await;
    }
}

/// Processes the cluster's state is read by after it healed.
pub async fn final_reads(ctx: &Ctx, process: usize) {
    let client = client(ctx, process).await;
    for object in [COUNTER, IDS] {
        let invoked = ctx.history.now_us();
        let result = client.get_atomic_long(object).get().await;
        let outcome = ctx.read(process, &result, |v| Ret::Long(*v));
        ctx.history
            .record(process, object, Call::Get, invoked, outcome);
    }
    let invoked = ctx.history.now_us();
    let result = client.get_atomic_reference::<i64>(REGISTER).get().await;
    let outcome = ctx.read(process, &result, |v| Ret::Reference(*v));
    ctx.history
        .record(process, REGISTER, Call::Get, invoked, outcome);
    client.close().await;
}

/// A store outside the cluster that the lock protects. Every access carries
/// the holder's fence; one older than the newest seen is refused, so a
/// holder that lost the lock cannot clobber its successor's work.
#[derive(Debug, Default)]
pub struct FencedStore {
    state: Mutex<StoreState>,
}

#[derive(Debug, Default)]
struct StoreState {
    newest_fence: u64,
    value: i64,
    pub accepted: u64,
    pub refused: u64,
    lost_updates: Vec<String>,
}

#[derive(Debug)]
pub struct StaleFence;

impl FencedStore {
    fn state(&self) -> std::sync::MutexGuard<'_, StoreState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn read(&self, fence: u64) -> Result<i64, StaleFence> {
        let mut state = self.state();
        if fence < state.newest_fence {
            state.refused += 1;
            return Err(StaleFence);
        }
        state.newest_fence = fence;
        Ok(state.value)
    }

    /// Writes `new` if the fence is current; an accepted write whose
    /// `basis` is not the stored value means two holders interleaved.
    pub fn write(&self, fence: u64, basis: i64, new: i64) -> Result<(), StaleFence> {
        let mut state = self.state();
        if fence < state.newest_fence {
            state.refused += 1;
            return Err(StaleFence);
        }
        state.newest_fence = fence;
        if state.value != basis {
            let lost = format!(
                "write with fence {fence} read {basis}, but the store held {} by then: an update was lost",
                state.value
            );
            state.lost_updates.push(lost);
        }
        state.value = new;
        state.accepted += 1;
        Ok(())
    }

    pub fn lost_updates(&self) -> Vec<String> {
        self.state().lost_updates.clone()
    }

    /// (accepted, refused) writes and reads.
    pub fn counts(&self) -> (u64, u64) {
        let state = self.state();
        (state.accepted, state.refused)
    }
}
