//! `raftcp-jepsen`: the fault-injection campaign (docs/reliability.md).
//!
//! ```text
//! raftcp-jepsen campaign [--seed N]            every fault, then every planted bug
//! raftcp-jepsen soak --secs N [--seed N]       random faults until N seconds pass
//! raftcp-jepsen run --fault F [--bug B] [--seed N] [--length-secs N]
//! ```
//! Every run prints its seed; a failing run keeps its history and member
//! logs under `target/jepsen/` (or `$RAFTCP_JEPSEN_OUT`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use raftcp_tests::jepsen::run::{RunReport, run};
use raftcp_tests::jepsen::{Fault, PlantedBug, Rng, Scenario};
use std::process::ExitCode;
use std::time::{Duration, Instant};

const RUN_LENGTH: Duration = Duration::from_secs(16);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| -> Option<String> {
        let at = args.iter().position(|a| a == name)?;
        args.get(at + 1).cloned()
    };
    let number = |name: &str| -> Option<u64> {
        flag(name).map(|v| {
            v.parse()
                .unwrap_or_else(|_| fail(&format!("{name} wants a number")))
        })
    };
    let seed = number("--seed").unwrap_or_else(time_seed);
    let mut tally = Tally::default();
    match args.first().map(String::as_str) {
        Some("campaign") => {
            println!("campaign seed {seed}");
            let scenarios = Scenario::campaign();
            let total = scenarios.len();
            for (n, scenario) in scenarios.into_iter().enumerate() {
                let mut report = run(scenario, seed.wrapping_add(n as u64), RUN_LENGTH, true);
                // A planted bug shows only if the fault lands at the right
                // moment (wall-clock-expiry was missed once in about ten
                // campaigns): one more seed before calling it missed.
                if scenario.bug.is_some() && report.violations.is_empty() {
                    println!("run {}: planted bug not seen; one more seed", n + 1);
                    let retry_seed = seed.wrapping_add((total + n) as u64);
                    report = run(scenario, retry_seed, RUN_LENGTH, true);
                }
                tally.add(n + 1, total, &report);
            }
        }
        Some("soak") => {
            let secs = number("--secs").unwrap_or_else(|| fail("soak needs --secs N"));
            println!("soak seed {seed}, {secs} s");
            let until = Instant::now() + Duration::from_secs(secs);
            let mut rng = Rng::new(seed);
            let mut n = 0;
            while Instant::now() < until {
                let fault = Fault::ALL[rng.below(Fault::ALL.len() as u64) as usize];
                let scenario = Scenario { fault, bug: None };
                n += 1;
                let report = run(scenario, rng.next_u64(), RUN_LENGTH * 2, true);
                tally.add(n, 0, &report);
            }
        }
        Some("run") => {
            let fault = flag("--fault")
                .and_then(|f| Fault::parse(&f))
                .unwrap_or_else(|| fail("run needs --fault NAME (see --help)"));
            let bug = flag("--bug").map(|name| {
                PlantedBug::ALL
                    .into_iter()
                    .find(|b| b.name() == name)
                    .unwrap_or_else(|| fail(&format!("unknown bug {name}")))
            });
            let length = number("--length-secs").map_or(RUN_LENGTH, Duration::from_secs);
            let report = run(Scenario { fault, bug }, seed, length, true);
            for line in &report.nemesis_log {
                println!("  nemesis {line}");
            }
            tally.add(1, 1, &report);
        }
        _ => {
            let faults: Vec<&str> = Fault::ALL.iter().map(|f| f.name()).collect();
            let bugs: Vec<&str> = PlantedBug::ALL.iter().map(|b| b.name()).collect();
            println!(
                "usage: raftcp-jepsen campaign [--seed N]\n       raftcp-jepsen soak --secs N [--seed N]\n       raftcp-jepsen run --fault F [--bug B] [--seed N] [--length-secs N]\nfaults: {}\nbugs: {}",
                faults.join(", "),
                bugs.join(", ")
            );
            return ExitCode::from(2);
        }
    }
    tally.print()
}

#[derive(Default)]
struct Tally {
    runs: usize,
    operations: usize,
    violations: usize,
    bugs_planted: usize,
    bugs_caught: usize,
}

impl Tally {
    fn add(&mut self, n: usize, total: usize, report: &RunReport) {
        self.runs += 1;
        self.operations += report.operations;
        let of_total = if total > 0 {
            format!("/{total}")
        } else {
            String::new()
        };
        let verdict = match (report.scenario.bug, report.violations.len()) {
            (None, 0) => "0 violations".to_owned(),
            (None, v) => format!("{v} VIOLATIONS"),
            (Some(_), 0) => "planted bug NOT caught".to_owned(),
            (Some(_), v) => format!("planted bug caught ({v} violations)"),
        };
        println!(
            "run {n}{of_total}: {} (seed {}): {} operations, {verdict}",
            report.scenario.describe(),
            report.seed,
            report.operations
        );
        println!("  checked: {}", report.breakdown);
        match report.scenario.bug {
            None => {
                self.violations += report.violations.len();
                for violation in report.violations.iter().take(10) {
                    println!("  violation: {violation}");
                }
            }
            Some(_) => {
                self.bugs_planted += 1;
                if report.violations.is_empty() {
                    for line in &report.nemesis_log {
                        println!("  nemesis {line}");
                    }
                } else {
                    self.bugs_caught += 1;
                    for violation in report.violations.iter().take(10) {
                        println!("  found: {violation}");
                    }
                }
            }
        }
        if let Some(kept) = &report.kept {
            println!("  history and logs kept in {}", kept.display());
        }
    }

    fn print(&self) -> ExitCode {
        println!("runs: {}", self.runs);
        println!("operations checked: {}", self.operations);
        println!("violations: {}", self.violations);
        println!(
            "planted bugs caught: {} of {}",
            self.bugs_caught, self.bugs_planted
        );
        if self.violations == 0 && self.bugs_caught == self.bugs_planted {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }
}

fn time_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
}

fn fail(message: &str) -> ! {
    eprintln!("raftcp-jepsen: {message}");
    std::process::exit(2)
}
