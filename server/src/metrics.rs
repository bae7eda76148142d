//! Counters and latency histograms for `/metrics` (Prometheus text format).
//! Lock-free: the request path only increments atomics.

use raftcp_proto::Op;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Operation kinds as labelled in metrics: primitive × read/write.
const KINDS: [&str; 10] = [
    "atomic_long_read",
    "atomic_long_write",
    "atomic_reference_read",
    "atomic_reference_write",
    "lock_read",
    "lock_write",
    "semaphore_read",
    "semaphore_write",
    "latch_read",
    "latch_write",
];

/// Upper bounds of the latency buckets, in milliseconds.
const BUCKETS_MS: [f64; 12] = [
    0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 1000.0, 5000.0,
];

#[derive(Debug, Default)]
struct KindStats {
    ok: AtomicU64,
    failed: AtomicU64,
    buckets: [AtomicU64; BUCKETS_MS.len()],
    sum_micros: AtomicU64,
}

#[derive(Debug, Default)]
pub struct Metrics {
    kinds: [KindStats; KINDS.len()],
    pub connections_open: AtomicU64,
    pub protocol_errors: AtomicU64,
}

pub fn kind_index(op: &Op) -> usize {
    let primitive = match op {
        Op::AtomicLong { .. } => 0,
        Op::AtomicReference { .. } => 1,
        Op::Lock { .. } => 2,
        Op::Semaphore { .. } => 3,
        Op::Latch { .. } => 4,
    };
    primitive * 2 + usize::from(op.is_mutating())
}

impl Metrics {
    /// Records one finished operation. Waiting operations count the time
    /// until their final answer.
    pub fn record(&self, kind: usize, ok: bool, elapsed: Duration) {
        let Some(stats) = self.kinds.get(kind) else {
            return;
        };
        let counter = if ok { &stats.ok } else { &stats.failed };
        counter.fetch_add(1, Ordering::Relaxed);
        let ms = elapsed.as_secs_f64() * 1000.0;
        for (bound, bucket) in BUCKETS_MS.iter().zip(&stats.buckets) {
            if ms <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        stats.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// The operation families in Prometheus text format.
    pub fn render_operations(&self, out: &mut String) {
        out.push_str("# TYPE raftcp_operations_total counter\n");
        for (name, stats) in KINDS.iter().zip(&self.kinds) {
            let ok = stats.ok.load(Ordering::Relaxed);
            let failed = stats.failed.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "raftcp_operations_total{{kind=\"{name}\",result=\"ok\"}} {ok}"
            );
            let _ = writeln!(
                out,
                "raftcp_operations_total{{kind=\"{name}\",result=\"error\"}} {failed}"
            );
        }
        out.push_str("# TYPE raftcp_operation_seconds histogram\n");
        for (name, stats) in KINDS.iter().zip(&self.kinds) {
            for (bound, bucket) in BUCKETS_MS.iter().zip(&stats.buckets) {
                let le = bound / 1000.0;
                let count = bucket.load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "raftcp_operation_seconds_bucket{{kind=\"{name}\",le=\"{le}\"}} {count}"
                );
            }
            let total = stats.ok.load(Ordering::Relaxed) + stats.failed.load(Ordering::Relaxed);
            let sum = stats.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
            let _ = writeln!(
                out,
                "raftcp_operation_seconds_bucket{{kind=\"{name}\",le=\"+Inf\"}} {total}"
            );
            let _ = writeln!(out, "raftcp_operation_seconds_sum{{kind=\"{name}\"}} {sum}");
            let _ = writeln!(
                out,
                "raftcp_operation_seconds_count{{kind=\"{name}\"}} {total}"
            );
        }
    }
}
