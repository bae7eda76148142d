//! Checks that are not linearizability of one register: each returns the
//! violations it found, described for the report.

use super::history::{
    LatchRound, LockHold, PermitHold, Records, SessionLoss, TimedOutWait, WatchedCounter,
};
use std::collections::HashMap;

/// Violations described per check: a history that lost its state can
/// break a pairwise check millions of times over.
const DESCRIBED_PER_CHECK: usize = 20;

/// The first [`DESCRIBED_PER_CHECK`] violations found, described, and how
/// many more (counted, not described).
fn described<T>(mut found: impl Iterator<Item = T>, describe: impl Fn(T) -> String) -> Vec<String> {
    let first = found.by_ref().take(DESCRIBED_PER_CHECK);
    let mut described: Vec<String> = first.map(describe).collect();
    let more = found.count();
    if more > 0 {
        described.push(format!("... and {more} more like these"));
    }
    described
}

/// Every acknowledged id is handed out once.
pub fn ids_are_unique(ids: &[(usize, i64)]) -> Vec<String> {
    let mut seen: HashMap<i64, usize> = HashMap::new();
    let again = ids.iter().filter_map(move |(process, id)| {
        let first = seen.insert(*id, *process)?;
        Some((id, first, process))
    });
    described(again, |(id, first, process)| {
        format!("id {id} handed to process {first} and again to process {process}")
    })
}

/// Fences are unique, and a lock acquired after another was acquired (in
/// real time) has a larger fence.
pub fn fences_increase(holds: &[LockHold]) -> Vec<String> {
    let pairs = holds.iter().flat_map(|a| holds.iter().map(move |b| (a, b)));
    let out_of_order =
        pairs.filter(|(a, b)| a.acquired_us < b.lock_invoked_us && a.fence >= b.fence);
    described(out_of_order, |(a, b)| {
        format!(
            "process {} acquired fence {} at {} us, yet process {} invoked lock at {} us and got fence {}",
            a.process, a.fence, a.acquired_us, b.process, b.lock_invoked_us, b.fence
        )
    })
}

/// Two holds of one lock confirmed by a successful `unlock` never overlap:
/// the server saw each holder own the lock from before `lock` returned
/// until after `unlock` was invoked. (A hold whose lock was destroyed meanwhile
/// is not confirmed: its unlock fails with `OBJECT_DESTROYED`.)
pub fn holders_do_not_overlap(holds: &[LockHold]) -> Vec<String> {
    let confirmed: Vec<(u64, u64, &LockHold)> = holds
        .iter()
        .filter(|h| h.unlock_ok)
        .filter_map(|h| Some((h.acquired_us, h.unlock_invoked_us?, h)))
        .collect();
    let confirmed = &confirmed;
    let pairs = (0..confirmed.len())
        .flat_map(|i| confirmed[i + 1..].iter().map(move |b| (&confirmed[i], b)));
    let overlapping = pairs.filter(|((start_a, end_a, a), (start_b, end_b, b))| {
        a.lock == b.lock && start_a < end_b && start_b < end_a
    });
    described(overlapping, |((start_a, end_a, a), (start_b, end_b, b))| {
        format!(
            "process {} (fence {}, {start_a}..{end_a} us) and process {} (fence {}, {start_b}..{end_b} us) held the lock at once",
            a.process, a.fence, b.process, b.fence
        )
    })
}

/// Permits confirmed held (the release succeeded) never exceed `permits` at
/// any instant.
pub fn permits_within_bounds(holds: &[PermitHold], permits: usize) -> Vec<String> {
    // +1 at acquire, -1 at release; releases sort first at equal times.
    let mut edges: Vec<(u64, i32)> = holds
        .iter()
        .filter(|h| h.release_ok)
        .flat_map(|h| [(h.acquired_us, 1), (h.release_invoked_us, -1)])
        .collect();
    edges.sort();
    let mut in_use = 0i32;
    let over = edges.into_iter().filter_map(move |(at, delta)| {
        in_use += delta;
        (in_use > permits as i32).then_some((in_use, at))
    });
    described(over, |(in_use, at)| {
        format!("{in_use} permits of {permits} in use at {at} us")
    })
}

/// An await that saw the latch open finished after every count-down it
/// needed had at least been invoked.
pub fn latches_open_after_count_downs(rounds: &[LatchRound]) -> Vec<String> {
    let mut violations = Vec::new();
    for (n, round) in rounds.iter().enumerate() {
        let mut invoked = round.count_down_invoked_us.clone();
        invoked.sort();
        let needed = round.count as usize;
        let Some(last_needed) = invoked.get(needed.wrapping_sub(1)).copied() else {
            if !round.opened_us.is_empty() {
                violations.push(format!(
                    "round {n}: latch of {needed} opened after only {} count-downs",
                    invoked.len()
                ));
            }
            continue;
        };
        for opened in &round.opened_us {
            if *opened < last_needed {
                violations.push(format!(
                    "round {n}: an await returned open at {opened} us, before count-down {needed} was invoked at {last_needed} us"
                ));
            }
        }
    }
    violations
}

/// A wait that timed out lasted at least its timeout (the client saw it
/// start before the server did, so it cannot see it shorter).
pub fn waits_last_their_timeout(waits: &[TimedOutWait]) -> Vec<String> {
    waits
        .iter()
        .filter(|w| w.completed_us.saturating_sub(w.invoked_us) < w.timeout_ms * 1_000)
        .map(|w| {
            format!(
                "process {} waited {} ms with a {} ms timeout and timed out early (at {} us)",
                w.process,
                (w.completed_us - w.invoked_us) / 1_000,
                w.timeout_ms,
                w.completed_us
            )
        })
        .collect()
}

/// A client that kept talking to the cluster never loses its session.
pub fn live_sessions_survive(records: &Records) -> Vec<String> {
    records
        .session_losses
        .iter()
        .filter(|loss| !records.frozen.contains(&loss.process))
        .map(
            |SessionLoss {
                 process,
                 at_us,
                 error,
             }| {
                format!("process {process} was never cut off, yet at {at_us} us: {error}")
            },
        )
        .collect()
}

/// Each watcher's stream of a counter that only `add_and_get(1)` changes
/// is in log order with no repeats, steps by one except where it says it
/// skipped (`jump`), so every increment applied while it watched shows
/// or lies inside a marked jump, and it reaches the value read after the
/// run.
pub fn watch_streams_agree(watches: &[WatchedCounter]) -> Vec<String> {
    let mut violations = Vec::new();
    for watched in watches {
        let who = format!("watcher {} of {}", watched.process, watched.object);
        if let Some(ended) = &watched.ended {
            violations.push(format!("{who}: its stream ended: {ended}"));
        }
        for pair in watched.changes.windows(2) {
            let ((p0, v0, _), (p1, v1, jump)) = (pair[0], pair[1]);
            if p1 <= p0 {
                violations.push(format!("{who}: position {p1} after {p0}"));
            }
            let stepped = match jump {
                true => v1 >= v0,
                false => v1 == v0 + 1,
            };
            if !stepped {
                let marked = if jump { " (jump)" } else { "" };
                violations.push(format!("{who}: {v1}{marked} after {v0} at position {p1}"));
            }
        }
        let reached = watched.changes.last().map(|c| c.1);
        match watched.final_value {
            Some(last) if reached >= Some(last) => {}
            Some(last) => violations.push(format!(
                "{who}: reached {reached:?}, not the value {last} read after the run"
            )),
            None => violations.push(format!("{who}: the read after the run failed")),
        }
    }
    violations
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hold(process: usize, fence: u64, span: (u64, u64, u64), unlock_ok: bool) -> LockHold {
        LockHold {
            lock: "l",
            process,
            fence,
            lock_invoked_us: span.0,
            acquired_us: span.1,
            unlock_invoked_us: Some(span.2),
            unlock_ok,
            leased: false,
        }
    }

    #[test]
    fn equal_fences_in_sequence_are_caught() {
        let holds = [hold(1, 5, (0, 1, 2), true), hold(2, 5, (3, 4, 5), true)];
        assert_eq!(fences_increase(&holds).len(), 1);
        let good = [hold(1, 5, (0, 1, 2), true), hold(2, 9, (3, 4, 5), true)];
        assert!(fences_increase(&good).is_empty());
    }

    #[test]
    fn overlapping_confirmed_holds_are_caught_and_lost_ones_ignored() {
        let overlapping = [hold(1, 5, (0, 1, 10), true), hold(2, 9, (3, 4, 12), true)];
        assert_eq!(holders_do_not_overlap(&overlapping).len(), 1);
        let lost = [hold(1, 5, (0, 1, 10), false), hold(2, 9, (3, 4, 12), true)];
        assert!(holders_do_not_overlap(&lost).is_empty());
    }

    #[test]
    fn permits_over_the_pool_are_caught() {
        let held = |a, r| PermitHold {
            process: 0,
            acquired_us: a,
            release_invoked_us: r,
            release_ok: true,
        };
        assert!(permits_within_bounds(&[held(0, 10), held(5, 15)], 2).is_empty());
        assert_eq!(
            permits_within_bounds(&[held(0, 10), held(5, 15), held(6, 7)], 2).len(),
            1
        );
    }

    #[test]
    fn a_latch_opening_early_is_caught() {
        let round = LatchRound {
            count: 2,
            count_down_invoked_us: vec![1, 20],
            opened_us: vec![10],
        };
        assert_eq!(latches_open_after_count_downs(&[round]).len(), 1);
    }

    #[test]
    fn a_wait_ending_before_its_timeout_is_caught() {
        let wait = |ms: u64| TimedOutWait {
            process: 1,
            timeout_ms: 3_000,
            invoked_us: 0,
            completed_us: ms * 1_000,
        };
        assert!(waits_last_their_timeout(&[wait(3_020)]).is_empty());
        assert_eq!(waits_last_their_timeout(&[wait(40)]).len(), 1);
    }

    #[test]
    fn repeated_ids_are_caught() {
        assert_eq!(ids_are_unique(&[(1, 4), (2, 5), (3, 4)]).len(), 1);
    }

    #[test]
    fn a_watch_stream_that_skips_or_repeats_unmarked_is_caught() {
        let stream = |changes: Vec<(u64, i64, bool)>| WatchedCounter {
            process: 1,
            object: "c",
            changes,
            final_value: Some(3),
            ended: None,
        };
        let fine = stream(vec![(10, 0, false), (11, 1, false), (20, 3, true)]);
        assert!(watch_streams_agree(&[fine]).is_empty());
        let skipped = stream(vec![(10, 0, false), (11, 1, false), (20, 3, false)]);
        assert_eq!(watch_streams_agree(&[skipped]).len(), 1);
        let repeated = stream(vec![(10, 0, false), (10, 1, false), (20, 3, true)]);
        assert_eq!(watch_streams_agree(&[repeated]).len(), 1);
        let behind = stream(vec![(10, 0, false), (11, 1, false)]);
        assert_eq!(watch_streams_agree(&[behind]).len(), 1);
    }
}
