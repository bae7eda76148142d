//! Applies per second of the state machine alone, on one core, then the
//! snapshot and restore of a machine holding a million objects:
//! `cargo bench -p raftcp-server --bench machine`.
//!
//! Commands are built before the clock starts (a driver decodes them from
//! the log anyway), then applied in a tight loop the way the Raft driver
//! does: one session, request ids increasing, each request acknowledging the
//! previous one so the response cache stays small.

use raftcp_proto::{HandleId, LockOp, LongOp, Op, RequestId, SessionId};
use raftcp_server::machine::{Command, CommandKind, CommandResponse, Machine};
use std::hint::black_box;
use std::time::Instant;

const APPLIES: u64 = 2_000_000;

fn client(session: SessionId, request: u64, op: Op) -> CommandKind {
    CommandKind::Client {
        session,
        request: RequestId(request),
        acked_below: RequestId(request),
        op,
    }
}

/// A machine with one open session; returns it and the session.
fn machine_with_session() -> (Machine, SessionId) {
    let mut machine = Machine::new();
    let opened = machine.apply(
        1,
        Command {
            time_ms: 1,
            kind: CommandKind::OpenSession {
                client_name: "bench".into(),
                ttl_ms: 60_000,
            },
        },
    );
    let CommandResponse::SessionOpened { session } = opened.response else {
        panic!("no session")
    };
    (machine, session)
}

fn run(label: &str, ops_per_iteration: u64, make: impl Fn(u64) -> Vec<Op>) {
    let (mut machine, session) = machine_with_session();
    let iterations = APPLIES / ops_per_iteration;
    let mut commands = Vec::with_capacity(APPLIES as usize);
    let mut request = 1;
    for i in 0..iterations {
        for op in make(i) {
            commands.push(client(session, request, op));
            request += 1;
        }
    }
    let applies = commands.len() as u64;
    let started = Instant::now();
    for (offset, kind) in commands.into_iter().enumerate() {
        let index = offset as u64 + 2;
        black_box(machine.apply(index, Command { time_ms: 2, kind }));
    }
    let elapsed = started.elapsed();
    let per_second = applies as f64 / elapsed.as_secs_f64();
    println!(
        "{label:<18} {applies:>9} applies in {:>7.1} ms: {:>10.0} applies/s ({:.0} ns/apply)",
        elapsed.as_secs_f64() * 1e3,
        per_second,
        elapsed.as_nanos() as f64 / applies as f64
    );
}

/// Snapshot (serialize + crash-atomic file write with fsync) and restore
/// (read + deserialize) of a machine holding `objects` AtomicLongs.
fn snapshot_and_restore(objects: u64) {
    let (mut machine, session) = machine_with_session();
    for i in 0..objects {
        let op = Op::AtomicLong {
            name: format!("object-{i}"),
            op: LongOp::Set(i as i64),
        };
        machine.apply(
            i + 2,
            Command {
                time_ms: 2,
                kind: client(session, i + 1, op),
            },
        );
    }
    let dir = std::env::temp_dir().join(format!("raftcp-snapshot-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let path = dir.join("snapshot");

    let started = Instant::now();
    let bytes = machine.snapshot();
    let serialized = started.elapsed();
    raftcp_server::storage::atomic_file::write_atomically(&path, &bytes).expect("write");
    let written = started.elapsed();

    let started = Instant::now();
    let read = std::fs::read(&path).expect("read");
    let restored = Machine::restore(&read).expect("restore");
    let restore = started.elapsed();
    black_box(restored);
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "snapshot of {objects} objects: {:.1} MB; serialize {:.0} ms, + write and fsync {:.0} ms; restore (read + decode) {:.0} ms",
        bytes.len() as f64 / 1e6,
        serialized.as_secs_f64() * 1e3,
        written.as_secs_f64() * 1e3,
        restore.as_secs_f64() * 1e3,
    );
}

fn main() {
    let long = |op| Op::AtomicLong {
        name: "sequence-generator".into(),
        op,
    };
    let lock = |op| Op::Lock {
        name: "resource-lock".into(),
        handle: HandleId(1),
        op,
    };
    run("increment_and_get", 1, |_| vec![long(LongOp::AddAndGet(1))]);
    run("compare_and_set", 1, |i| {
        vec![long(LongOp::CompareAndSet {
            expect: i as i64,
            update: i as i64 + 1,
        })]
    });
    run("lock+unlock", 2, |_| {
        vec![
            lock(LockOp::Lock {
                timeout_ms: None,
                reentrancy_limit: 0,
            }),
            lock(LockOp::Unlock),
        ]
    });
    snapshot_and_restore(1_000_000);
}
