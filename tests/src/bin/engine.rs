//! `raftcp-engine`: the engine alone beside raftcp, in one run on one
//! machine (docs/benchmarks.md, "The engine alone").
//!
//! ```text
//! raftcp-engine --raftcp target/release/raftcp [--seconds 8] [--in-flight 1,64,256] [--rounds 1]
//! ```
//! For each concurrency and round it increments one counter through
//! openraft alone (`raftcp_tests::engine`), then through a fresh `raftcp
//! dev` driven by `raftcp bench`, and prints
//! `engine: in_flight=<n> raftcp=<ops/s> openraft=<ops/s> ratio=<r>` with
//! each side's p50 and p99. Run it from a release build: `scripts/engine`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use raftcp_tests::engine::{Engine, Measured};
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::Duration;

struct Args {
    raftcp: PathBuf,
    seconds: u64,
    in_flight: Vec<usize>,
    rounds: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        raftcp: PathBuf::from("target/release/raftcp"),
        seconds: 8,
        in_flight: vec![1, 64, 256],
        rounds: 1,
    };
    let mut given = std::env::args().skip(1);
    while let Some(flag) = given.next() {
        let value = given.next().ok_or(format!("{flag} needs a value"))?;
        let number = |v: &str| {
            v.parse::<u64>()
                .map_err(|_| format!("{flag}: not a number"))
        };
        match flag.as_str() {
            "--raftcp" => args.raftcp = PathBuf::from(value),
            "--seconds" => args.seconds = number(&value)?,
            "--rounds" => args.rounds = number(&value)? as usize,
            "--in-flight" => {
                let each = value.split(',').map(|v| number(v).map(|n| n as usize));
                args.in_flight = each.collect::<Result<_, _>>()?;
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if args.in_flight.contains(&0) || args.seconds == 0 {
        return Err("--in-flight and --seconds must be positive".into());
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("raftcp-engine: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let measured = Duration::from_secs(args.seconds);
    for round in 0..args.rounds {
        for &in_flight in &args.in_flight {
            let work = std::env::temp_dir().join(format!("raftcp-engine-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&work);
            let engine = runtime.block_on(async {
                let engine_dir = work.join("engine");
                let start = Engine::start(&engine_dir);
                let engine = within("start", PHASE_SLACK, start).await?;
                let load = engine.increments(in_flight, measured);
                let result = within("load", measured + PHASE_SLACK, load).await;
                let stopped = async {
                    engine.shutdown().await;
                    Ok(())
                };
                within("shutdown", PHASE_SLACK, stopped).await?;
                result
            });
            let raftcp = raftcp_increments(&args.raftcp, &work.join("raftcp"), in_flight, measured);
            let _ = std::fs::remove_dir_all(&work);
            match (raftcp, engine) {
                (Ok(r), Ok(e)) => println!(
                    "engine: in_flight={in_flight} raftcp={:.0} openraft={:.0} ratio={:.2} \
                     raftcp_p50={:.3}ms raftcp_p99={:.3}ms openraft_p50={:.3}ms \
                     openraft_p99={:.3}ms round={}",
                    r.ops_per_sec,
                    e.ops_per_sec,
                    r.ops_per_sec / e.ops_per_sec,
                    r.p50_ms,
                    r.p99_ms,
                    e.p50_ms,
                    e.p99_ms,
                    round + 1
                ),
                (r, e) => {
                    eprintln!("raftcp-engine: in_flight={in_flight}: raftcp {r:?}, openraft {e:?}");
                    return ExitCode::FAILURE;
                }
            }
        }
    }
    ExitCode::SUCCESS
}

/// How long each phase of an engine run (start, load, shutdown) may take
/// beyond its own length. One run in eight once hung without using CPU,
/// cause unknown: a phase that overruns is an error that names it.
const PHASE_SLACK: Duration = Duration::from_secs(60);

async fn within<T>(
    phase: &str,
    limit: Duration,
    work: impl Future<Output = Result<T, String>>,
) -> Result<T, String> {
    tokio::time::timeout(limit, work)
        .await
        .map_err(|_| format!("the engine's {phase} did not finish within {limit:?}"))?
}

/// A fresh `raftcp dev` (three members in one process, real WebSocket
/// between them) and `raftcp bench` incrementing one counter: the same
/// load as the engine's, through everything raftcp is.
fn raftcp_increments(
    raftcp: &Path,
    data: &Path,
    in_flight: usize,
    measured: Duration,
) -> Result<Measured, String> {
    const BASE_PORT: u16 = 7961;
    let mut dev = Command::new(raftcp)
        .args(["dev", "--base-port", &BASE_PORT.to_string(), "--data"])
        .arg(data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("{}: {e}", raftcp.display()))?;
    let result = wait_until_up(&mut dev).and_then(|()| {
        let endpoints = (0..3)
            .map(|i| format!("ws://127.0.0.1:{}", BASE_PORT + i))
            .collect::<Vec<_>>()
            .join(",");
        let connections = in_flight.min(4);
        let output = Command::new(raftcp)
            .args(["bench", "--endpoints", &endpoints, "--workload", "incr"])
            .args(["--connections", &connections.to_string()])
            .args(["--in-flight", &in_flight.to_string()])
            .args(["--seconds", &measured.as_secs().to_string()])
            .output()
            .map_err(|e| e.to_string())?;
        let line = String::from_utf8_lossy(&output.stdout).into_owned();
        parse_bench(&line).ok_or(format!("raftcp bench printed {line:?}"))
    });
    let _ = dev.kill();
    let _ = dev.wait();
    result
}

fn wait_until_up(dev: &mut Child) -> Result<(), String> {
    let stdout = dev.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        if line.map_err(|e| e.to_string())?.contains("cluster up") {
            // Keep draining, so the cluster never blocks on a full pipe.
            std::thread::spawn(move || lines.for_each(drop));
            return Ok(());
        }
    }
    Err("raftcp dev exited before the cluster was up".into())
}

/// `ops/s=`, `p50=` and `p99=` of a `raftcp bench` line.
fn parse_bench(line: &str) -> Option<Measured> {
    let field = |name: &str| -> Option<f64> {
        let at = line.find(&format!(" {name}="))? + name.len() + 2;
        let value = line[at..].split_whitespace().next()?;
        value.trim_end_matches("ms").parse().ok()
    };
    Some(Measured {
        ops_per_sec: field("ops/s")?,
        p50_ms: field("p50")?,
        p99_ms: field("p99")?,
    })
}
