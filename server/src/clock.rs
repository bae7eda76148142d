//! Clocks. Deadlines (session expiry, wait timeouts) are decided by the
//! leader on a monotonic clock, so setting a member's wall clock — by an
//! operator, NTP, or a skewed host — cannot expire a live session.

use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Milliseconds on this process's monotonic clock.
pub fn monotonic_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64
}

/// Wall-clock milliseconds since the Unix epoch, set `skew_ms` off (a
/// test fault), for nothing that decides an outcome, except under the
/// planted bug `wall-clock-expiry`.
pub fn wall_clock_ms(skew_ms: i64) -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    now.saturating_add_signed(skew_ms)
}

/// The time a leader stamps on commands: the machine time it found on
/// taking office, advanced by its monotonic clock since. Machine time thus
/// runs at real speed, never backwards, and on no member's wall clock.
#[derive(Debug, Default)]
pub struct LeaderClock {
    office: Option<Office>,
}

#[derive(Debug)]
struct Office {
    term: u64,
    base_ms: u64,
    since: Instant,
}

impl LeaderClock {
    /// Now, for a leader in `term`. A new term starts from the replica's
    /// machine time, which `machine_now_ms` reads (only then).
    pub fn now_ms(&mut self, term: u64, machine_now_ms: impl FnOnce() -> u64) -> u64 {
        let office = match &mut self.office {
            Some(office) if office.term == term => office,
            slot => slot.insert(Office {
                term,
                base_ms: machine_now_ms(),
                since: Instant::now(),
            }),
        };
        office
            .base_ms
            .saturating_add(office.since.elapsed().as_millis() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_term_starts_from_machine_time_and_time_never_jumps_back() {
        let mut clock = LeaderClock::default();
        let first = clock.now_ms(1, || 5_000);
        assert!((5_000..5_100).contains(&first));
        // The same term ignores the replica's later machine time.
        assert!(clock.now_ms(1, || 1) >= first);
        let next_term = clock.now_ms(2, || 90_000);
        assert!(next_term >= 90_000);
    }
}
