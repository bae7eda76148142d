//! Test-only fault switches for the fault-injection campaign
//! (`tests/src/jepsen`). Built only with the `fault-injection` feature,
//! which the test crate enables for workspace builds; a plain
//! `cargo build -p raftcp-server` has none of this, and every check below
//! is then a constant `false` or `0` that the compiler removes.
//!
//! Planted bugs are the campaign's negative controls: each breaks one
//! guarantee on purpose, and the campaign must catch every one. A member
//! reads `RAFTCP_PLANTED_BUG` and `RAFTCP_CLOCK_SKEW_MS` once, at start.

/// A known bug that a test can switch on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlantedBug {
    /// Resent requests execute again instead of returning the cached answer.
    NoRetryDedup,
    /// Reads answered from the local replica: no ReadIndex, no leader.
    StaleReads,
    /// A lock re-grant reuses the previous fence instead of a larger one.
    FenceNotAdvanced,
    /// Commands stamped with the member's skewable wall clock, and sessions
    /// not renewed on taking office: a member whose clock runs ahead
    /// expires live sessions once it leads.
    WallClockExpiry,
}

impl PlantedBug {
    pub const ALL: [PlantedBug; 4] = [
        PlantedBug::NoRetryDedup,
        PlantedBug::StaleReads,
        PlantedBug::FenceNotAdvanced,
        PlantedBug::WallClockExpiry,
    ];

    /// The value of `RAFTCP_PLANTED_BUG` that switches this bug on.
    pub fn name(self) -> &'static str {
        match self {
            PlantedBug::NoRetryDedup => "no-retry-dedup",
            PlantedBug::StaleReads => "stale-reads",
            PlantedBug::FenceNotAdvanced => "fence-not-advanced",
            PlantedBug::WallClockExpiry => "wall-clock-expiry",
        }
    }
}

/// Whether `bug` is switched on in this process.
#[cfg(feature = "fault-injection")]
pub fn planted(bug: PlantedBug) -> bool {
    static PLANTED: std::sync::OnceLock<Option<PlantedBug>> = std::sync::OnceLock::new();
    *PLANTED.get_or_init(|| {
        let name = std::env::var("RAFTCP_PLANTED_BUG").ok()?;
        let bug = PlantedBug::ALL.into_iter().find(|b| b.name() == name);
        match bug {
            Some(_) => eprintln!("raftcp: planted bug `{name}` is ON (test build)"),
            None => eprintln!("raftcp: unknown planted bug `{name}` ignored"),
        }
        bug
    }) == Some(bug)
}

#[cfg(not(feature = "fault-injection"))]
pub const fn planted(_bug: PlantedBug) -> bool {
    false
}

/// How far this member's wall clock is set ahead (or behind), in ms.
#[cfg(feature = "fault-injection")]
pub fn clock_skew_ms() -> i64 {
    static SKEW: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *SKEW.get_or_init(|| {
        std::env::var("RAFTCP_CLOCK_SKEW_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    })
}

#[cfg(not(feature = "fault-injection"))]
pub const fn clock_skew_ms() -> i64 {
    0
}
