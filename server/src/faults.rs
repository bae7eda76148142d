//! Test-only faults for the fault-injection campaign (`tests/src/jepsen`).
//! A binary reads them from its environment only when built with the
//! `fault-injection` feature, which only the campaign's own build has
//! (`faults_binary` in `tests/src/lib.rs`, into `target/faults`); the
//! binary `cargo build --release` makes has no way to switch them on.
//!
//! Planted bugs are the campaign's negative controls: each breaks one
//! guarantee on purpose, and the campaign must catch every one.

/// A known bug that a test can switch on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlantedBug {
    /// Resent requests execute again instead of returning the cached answer.
    NoRetryDedup,
    /// A session-less retry executes again instead of returning the answer
    /// kept under its idempotency key.
    OneShotNoDedup,
    /// Reads answered from the local replica: no ReadIndex, no leader.
    StaleReads,
    /// A lock re-grant reuses the previous fence instead of a larger one.
    FenceNotAdvanced,
    /// Commands stamped with the member's skewable wall clock, and sessions
    /// not renewed on taking office: a member whose clock runs ahead
    /// expires live sessions once it leads.
    WallClockExpiry,
    /// Appended entries and votes acknowledged once queued for the log's
    /// writer thread, before they are written or fsynced: a power cut
    /// loses what the member promised to keep.
    AckBeforeFsync,
    /// A snapshot whose checksum does not match is loaded anyway: a member
    /// whose disk flipped a bit in it serves another state.
    SnapshotUnchecked,
    /// A member whose storage failed (a full disk) stays up instead of
    /// exiting, so no supervisor restarts it.
    StaysUpOnStorageFailure,
    /// A member whose Raft log lost a tail ignores its recovery mark: it
    /// votes and stands for election at once, with a log that may lack
    /// entries it acknowledged.
    VotesDespiteLostTail,
}

impl PlantedBug {
    pub const ALL: [PlantedBug; 9] = [
        PlantedBug::NoRetryDedup,
        PlantedBug::OneShotNoDedup,
        PlantedBug::StaleReads,
        PlantedBug::FenceNotAdvanced,
        PlantedBug::WallClockExpiry,
        PlantedBug::AckBeforeFsync,
        PlantedBug::SnapshotUnchecked,
        PlantedBug::StaysUpOnStorageFailure,
        PlantedBug::VotesDespiteLostTail,
    ];

    /// The value of `RAFTCP_PLANTED_BUG` that switches this bug on.
    pub fn name(self) -> &'static str {
        match self {
            PlantedBug::NoRetryDedup => "no-retry-dedup",
            PlantedBug::OneShotNoDedup => "one-shot-no-dedup",
            PlantedBug::StaleReads => "stale-reads",
            PlantedBug::FenceNotAdvanced => "fence-not-advanced",
            PlantedBug::WallClockExpiry => "wall-clock-expiry",
            PlantedBug::AckBeforeFsync => "ack-before-fsync",
            PlantedBug::SnapshotUnchecked => "snapshot-unchecked",
            PlantedBug::StaysUpOnStorageFailure => "stays-up-on-storage-failure",
            PlantedBug::VotesDespiteLostTail => "votes-despite-lost-tail",
        }
    }
}

/// The test faults one member runs with: none, except in a build with
/// the `fault-injection` feature started by the fault campaign. A value
/// handed to the member at start ([`crate::node::NodeConfig::faults`]),
/// and from there to the machine and the driver; nothing reads the
/// environment but [`Faults::from_env`], which the command line calls.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    pub planted: Option<PlantedBug>,
    /// How far this member's wall clock is set ahead (or behind), in ms.
    pub clock_skew_ms: i64,
}

impl Faults {
    pub fn planted(&self, bug: PlantedBug) -> bool {
        self.planted == Some(bug)
    }

    /// `RAFTCP_PLANTED_BUG` and `RAFTCP_CLOCK_SKEW_MS`, in a build with the
    /// `fault-injection` feature.
    #[cfg(feature = "fault-injection")]
    pub fn from_env() -> Faults {
        let planted = std::env::var("RAFTCP_PLANTED_BUG").ok().and_then(|name| {
            let bug = PlantedBug::ALL.into_iter().find(|b| b.name() == name);
            match bug {
                Some(_) => eprintln!("raftcp: planted bug `{name}` is ON (test build)"),
                None => eprintln!("raftcp: unknown planted bug `{name}` ignored"),
            }
            bug
        });
        let clock_skew_ms = std::env::var("RAFTCP_CLOCK_SKEW_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        Faults {
            planted,
            clock_skew_ms,
        }
    }

    /// None: this build has no fault switches.
    #[cfg(not(feature = "fault-injection"))]
    pub fn from_env() -> Faults {
        Faults::default()
    }
}
