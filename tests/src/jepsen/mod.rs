//! A Jepsen-style fault campaign: real `raftcp serve` processes behind
//! fault-injecting proxies, concurrent client workloads that record every
//! operation, a nemesis that crashes, pauses, partitions and skews, and
//! checkers that judge the recorded history: linearizability per object
//! ([`linearizable`]) and invariants for locks, permits, latches and
//! sessions ([`invariants`]).
//!
//! Negative controls: the same runs against members with a planted bug
//! (`raftcp-server`'s `fault-injection` feature) must report violations.
//!
//! Entry point: `cargo run -p raftcp-tests --bin raftcp-jepsen -- campaign`
//! (see docs/reliability.md).

pub mod damage;
pub mod history;
pub mod invariants;
pub mod linearizable;
pub mod nemesis;
pub mod net;
pub mod run;
pub mod workloads;

pub use nemesis::Fault;
pub use raftcp_server::faults::PlantedBug;

/// A small deterministic generator (splitmix64), so a run's choices follow
/// from its seed.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// An independent generator for a worker.
    pub fn fork(&mut self) -> Rng {
        Rng(self.next_u64())
    }
}

/// One run's fault and, for a negative control, the bug planted in every
/// member.
#[derive(Clone, Copy, Debug)]
pub struct Scenario {
    pub fault: Fault,
    pub bug: Option<PlantedBug>,
}

impl Scenario {
    /// The CI campaign: every fault against the real server, then each
    /// planted bug under the fault that exposes it.
    pub fn campaign() -> Vec<Scenario> {
        let mut scenarios: Vec<Scenario> = Fault::ALL
            .into_iter()
            .map(|fault| Scenario { fault, bug: None })
            .collect();
        for bug in PlantedBug::ALL {
            scenarios.push(Scenario {
                fault: Scenario::exposing(bug),
                bug: Some(bug),
            });
        }
        scenarios
    }

    /// The fault under which `bug` shows.
    pub fn exposing(bug: PlantedBug) -> Fault {
        match bug {
            PlantedBug::NoRetryDedup | PlantedBug::OneShotNoDedup => Fault::LostReplies,
            PlantedBug::StaleReads => Fault::IsolateFollower,
            PlantedBug::FenceNotAdvanced => Fault::KillMember,
            PlantedBug::WallClockExpiry => Fault::ClockSkew,
            PlantedBug::AckBeforeFsync => Fault::PowerCut,
            PlantedBug::SnapshotUnchecked => Fault::DamagedDisk,
            PlantedBug::StaysUpOnStorageFailure => Fault::DiskFull,
            PlantedBug::VotesDespiteLostTail => Fault::LogTail,
        }
    }

    pub fn describe(&self) -> String {
        match self.bug {
            Some(bug) => format!("{} with planted bug {}", self.fault.name(), bug.name()),
            None => self.fault.name().to_owned(),
        }
    }
}
