//! `raftcp bench --watchers N`: N watches on the `incr` workload's counter,
//! to measure what they cost the writers (the throughput beside a run
//! without) and how long a change takes to reach a watcher: from the
//! moment the increment that made it was acknowledged to its writer to
//! the moment a watcher has it (0 when the watcher was first).

use futures_util::StreamExt;
use raftcp::Client;
use raftcp::proto::limits::WATCHES_PER_SESSION_MAX;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// Writers note when they were answered every this many values, and
/// watchers when they saw them.
pub const SAMPLE_EVERY: i64 = 64;

/// The watchers of one run, each a task until `end`.
pub struct Watchers {
    clients: Vec<Client>,
    tasks: Vec<JoinHandle<Seen>>,
}

/// What one watcher saw in the measured window.
#[derive(Default)]
struct Seen {
    changes: u64,
    jumps: u64,
    /// Sampled values and when they arrived.
    samples: Vec<(i64, Instant)>,
}

/// Starts `count` watchers of `counter`, 64 to a connection, on clients
/// that `connect` makes; they watch until `end`, counting from `start`.
pub async fn start<F, Fut>(
    count: usize,
    counter: &str,
    connect: F,
    window: (Instant, Instant),
) -> Result<Watchers, String>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<Client, String>>,
{
    let mut clients = Vec::new();
    let mut tasks = Vec::new();
    for first in (0..count).step_by(WATCHES_PER_SESSION_MAX) {
        let client = connect().await?;
        for _ in first..count.min(first + WATCHES_PER_SESSION_MAX) {
            let handle = client.get_atomic_long(counter);
            let changes = handle.watch().await.map_err(|e| e.to_string())?;
            tasks.push(tokio::spawn(watch(changes, window)));
        }
        clients.push(client);
    }
    Ok(Watchers { clients, tasks })
}

async fn watch(mut changes: raftcp::Changes<i64>, (start, end): (Instant, Instant)) -> Seen {
    let mut seen = Seen::default();
    let until = tokio::time::Instant::from_std(end);
    while let Ok(Some(Ok(change))) = tokio::time::timeout_at(until, changes.next()).await {
        let now = Instant::now();
        if now < start {
            continue;
        }
        seen.changes += 1;
        seen.jumps += u64::from(change.jump);
        if change.value % SAMPLE_EVERY == 0 {
            seen.samples.push((change.value, now));
        }
    }
    seen
}

impl Watchers {
    /// Waits for the watchers and closes their clients; one line of
    /// figures: changes per second each watcher got, the share of them
    /// marked `jump`, and the delivery delay after the writer's answer.
    pub async fn finish(
        self,
        acknowledged: &HashMap<i64, Instant>,
        measured: Duration,
    ) -> Result<String, String> {
        let watchers = self.tasks.len();
        let (mut changes, mut jumps, mut delays_us) = (0u64, 0u64, Vec::new());
        for task in self.tasks {
            let seen = task.await.map_err(|e| e.to_string())?;
            changes += seen.changes;
            jumps += seen.jumps;
            for (value, at) in seen.samples {
                if let Some(answered) = acknowledged.get(&value) {
                    let delay = at.saturating_duration_since(*answered);
                    delays_us.push(u64::try_from(delay.as_micros()).unwrap_or(u64::MAX));
                }
            }
        }
        for client in &self.clients {
            client.close().await;
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
