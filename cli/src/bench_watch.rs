//! `raftcp bench --watchers N`: N watches on the `incr` workload's counter,
//! to measure what they cost the writers (the throughput beside a run
//! without) and how long a change takes to reach a watcher: from the
//! moment the increment that made it was acknowledged to its writer to
//! the moment a watcher has it (0 when the watcher was first).

use futures_util::StreamExt;
use raftcp::Client;
use raftcp::proto::limits::WATCHES_PER_SESSION_MAX;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// Writers note when they were answered every this many values, and
/// watchers when they saw them.
pub const SAMPLE_EVERY: i64 = 64;

/// The watchers of one run: tasks on a thread of their own (so that they
/// and the writers each have a thread, as they would have separate
/// machines), each watching until `end`.
pub struct Watchers {
    count: usize,
    window: Window,
    seen: tokio::sync::oneshot::Receiver<Result<Vec<Seen>, String>>,
}

/// The measured window, set once the writers' clock starts.
type Window = Arc<OnceLock<(Instant, Instant)>>;

/// What one watcher saw in the measured window.
#[derive(Default)]
struct Seen {
    changes: u64,
    jumps: u64,
    /// Sampled values and when they arrived.
    samples: Vec<(i64, Instant)>,
}

/// Where the watchers connect: 64 watches to a connection, the connections
/// taking `endpoints` in turn and staying there (each member delivers to
/// the watchers connected to it).
pub struct Target {
    pub endpoints: Vec<String>,
    pub ca_pem: Option<std::path::PathBuf>,
    pub token: Option<String>,
    pub counter: String,
}

/// Starts `count` watchers of the target's counter; returns once each has
/// its first change. They count what arrives in the window
/// [`Watchers::measure`] sets, and stop at its end.
pub async fn start(count: usize, target: Target) -> Result<Watchers, String> {
    let window = Window::default();
    let shared = window.clone();
    let (ready_tx, ready) = tokio::sync::oneshot::channel();
    let (seen_tx, seen) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
        let runtime = match runtime {
            Ok(runtime) => runtime,
            Err(e) => return drop(ready_tx.send(Err(e.to_string()))),
        };
        runtime.block_on(async move {
            let (clients, tasks) = match open(count, &target, &shared).await {
                Ok(opened) => opened,
                Err(e) => return drop(ready_tx.send(Err(e))),
            };
            let _ = ready_tx.send(Ok(()));
            let mut seen = Vec::new();
            for task in tasks {
                match task.await {
                    Ok(one) => seen.push(one),
                    Err(e) => return drop(seen_tx.send(Err(e.to_string()))),
                }
            }
            for client in &clients {
                client.close().await;
            }
            let _ = seen_tx.send(Ok(seen));
        });
    });
    ready.await.map_err(|e| e.to_string())??;
    Ok(Watchers {
        count,
        window,
        seen,
    })
}

async fn open(
    count: usize,
    target: &Target,
    window: &Window,
) -> Result<(Vec<Client>, Vec<JoinHandle<Seen>>), String> {
    let mut clients = Vec::new();
    let mut tasks = Vec::new();
    for (turn, first) in (0..count).step_by(WATCHES_PER_SESSION_MAX).enumerate() {
        let mut endpoints = target.endpoints.clone();
        let len = endpoints.len().max(1);
        endpoints.rotate_left(turn % len);
        let (ca_pem, token) = (target.ca_pem.as_deref(), target.token.as_deref());
        let builder = crate::client_builder(&endpoints, None, ca_pem, token)?;
        let client = builder.follow_leader(false).connect().await;
        let client = client.map_err(|e| e.to_string())?;
        for _ in first..count.min(first + WATCHES_PER_SESSION_MAX) {
            let handle = client.get_atomic_long(&target.counter);
            let changes = handle.watch().await.map_err(|e| e.to_string())?;
            tasks.push(tokio::spawn(watch(changes, window.clone())));
        }
        clients.push(client);
    }
    Ok((clients, tasks))
}

async fn watch(mut changes: raftcp::Changes<i64>, window: Window) -> Seen {
    let mut seen = Seen::default();
    loop {
        let until = match window.get() {
            Some((_, end)) => *end,
            None => Instant::now() + WINDOW_CHECK,
        };
        let next = tokio::time::timeout_at(until.into(), changes.next()).await;
        let now = Instant::now();
        match (next, window.get()) {
            (Ok(Some(Ok(change))), Some((start, end))) if now >= *start && now <= *end => {
                seen.changes += 1;
                seen.jumps += u64::from(change.jump);
                if change.value % SAMPLE_EVERY == 0 {
                    seen.samples.push((change.value, now));
                }
            }
            (Ok(Some(Ok(_))), _) => {}
            (Ok(_), _) => break, // The stream ended.
            (Err(_), Some((_, end))) if now >= *end => break,
            (Err(_), _) => {}
        }
    }
    seen
}

/// How often a watcher looks whether the window was set.
const WINDOW_CHECK: Duration = Duration::from_millis(100);

impl Watchers {
    /// The writers' measured window: watchers count changes in it and
    /// stop at its end.
    pub fn measure(&self, start: Instant, end: Instant) {
        let _ = self.window.set((start, end));
    }

    /// Waits for the watchers and closes their clients; one line of
    /// figures: changes per second each watcher got, the share of them
    /// marked `jump`, and the delivery delay after the writer's answer.
    pub async fn finish(
        self,
        acknowledged: &HashMap<i64, Instant>,
        measured: Duration,
    ) -> Result<String, String> {
        let watchers = self.count;
        let (mut changes, mut jumps, mut delays_us) = (0u64, 0u64, Vec::new());
        for seen in self.seen.await.map_err(|e| e.to_string())?? {
            changes += seen.changes;
            jumps += seen.jumps;
            for (value, at) in seen.samples {
                if let Some(answered) = acknowledged.get(&value) {
                    let delay = at.saturating_duration_since(*answered);
                    delays_us.push(u64::try_from(delay.as_micros()).unwrap_or(u64::MAX));
                }
            }
        }
        delays_us.sort_unstable();
        let pct = |p: f64| match delays_us.is_empty() {
            true => 0.0,
            false => delays_us[((delays_us.len() - 1) as f64 * p).round() as usize] as f64 / 1e3,
        };
        let per_watcher = changes as f64 / watchers.max(1) as f64 / measured.as_secs_f64();
        let jump_percent = jumps as f64 * 100.0 / changes.max(1) as f64;
        Ok(format!(
            "watchers={watchers} changes/s/watcher={per_watcher:.0} jumps={jump_percent:.1}% \
             delivery_p50={:.3}ms delivery_p99={:.3}ms samples={}",
            pct(0.5),
            pct(0.99),
            delays_us.len()
        ))
    }
}
