//! A linearizability checker: the Wing–Gong search with Lowe's memoisation
//! (the algorithm behind Knossos and Porcupine), per object.
//!
//! The search linearizes operations one at a time: an operation may go next
//! only if no other pending operation returned before it was invoked. A
//! configuration (set of linearized operations, model state) is explored at
//! most once. Operations with unknown outcomes never return, so they may be
//! linearized at any point after their invocation — or never. The history
//! is linearizable when every operation that completed has been linearized.
//! The search has a budget of configurations; running out of it is reported
//! as [`Verdict::Exhausted`], which the campaign counts as a failure.

use super::history::{Call, Op, Outcome, Ret};
use std::collections::HashSet;
use std::fmt::Debug;
use std::hash::{Hash, Hasher};

/// A sequential specification.
pub trait Model: Clone + Debug + Hash {
    /// The state after `call`, if it may return `ret` (`None`: unknown, any
    /// return allowed) from `self`; `None` if it may not.
    fn step(&self, call: &Call, ret: Option<&Ret>) -> Option<Self>;
}

/// An AtomicLong: `add_and_get` and `get`.
#[derive(Clone, Copy, Debug, Default, Hash, PartialEq, Eq)]
pub struct Counter(pub i64);

impl Model for Counter {
    fn step(&self, call: &Call, ret: Option<&Ret>) -> Option<Self> {
        match (call, ret) {
            (Call::Add(delta), None) => Some(Counter(self.0.wrapping_add(*delta))),
            (Call::Add(delta), Some(Ret::Long(v))) => {
                let next = self.0.wrapping_add(*delta);
                (next == *v).then_some(Counter(next))
            }
            (Call::Get, Some(Ret::Long(v))) => (*v == self.0).then_some(*self),
            _ => None,
        }
    }
}

/// An AtomicReference holding an integer: `get`, `set` and
/// `compare_and_set`.
#[derive(Clone, Copy, Debug, Default, Hash, PartialEq, Eq)]
pub struct Register(pub Option<i64>);

impl Model for Register {
    fn step(&self, call: &Call, ret: Option<&Ret>) -> Option<Self> {
        match (call, ret) {
            (Call::Get, Some(Ret::Reference(v))) => (*v == self.0).then_some(*self),
            (Call::Set(v), None | Some(Ret::Unit)) => Some(Register(Some(*v))),
            (Call::Cas(expect, update), ret) => {
                let swapped = self.0 == *expect;
                let after = if swapped { Register(*update) } else { *self };
                match ret {
                    None => Some(after),
                    Some(Ret::Bool(reported)) if *reported == swapped => Some(after),
                    Some(_) => None,
                }
            }
            _ => None,
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Linearizable; `explored` configurations were visited.
    Linearizable { explored: usize },
    /// No linearization exists. `stuck` describes the completed operation
    /// that could not be placed at the deepest point the search reached.
    Violation { explored: usize, stuck: String },
    /// The budget ran out before an answer: not a pass.
    Exhausted { explored: usize },
}

impl Verdict {
    pub fn is_linearizable(&self) -> bool {
        matches!(self, Verdict::Linearizable { .. })
    }
}

struct Entry<'a> {
    op: &'a Op,
    invoked: u64,
    /// `u64::MAX` for unknown outcomes.
    returned: u64,
    ret: Option<&'a Ret>,
}

/// Checks one object's history against `init`. Failed operations had no
/// effect and are left out.
pub fn check<M: Model>(init: M, ops: &[Op], budget: usize) -> Verdict {
    let mut entries: Vec<Entry> = ops
        .iter()
        .filter_map(|op| {
            let ret = match &op.outcome {
                Outcome::Ok(ret) => Some(ret),
                Outcome::Unknown(_) => None,
                Outcome::Failed(_) => return None,
            };
            Some(Entry {
                op,
                invoked: op.invoked_us,
                returned: op.completed_us.unwrap_or(u64::MAX),
                ret,
            })
        })
        .collect();
    entries.sort_by_key(|e| (e.invoked, e.returned));
    Search::new(&entries, budget).run(init)
}

struct Search<'a, 'b> {
    entries: &'b [Entry<'a>],
    /// Random keys; a set of linearized entries hashes to the XOR of its keys.
    keys: Vec<u64>,
    /// Pending entries as a circular doubly linked list through the sentinel
    /// `entries.len()`, in invocation order. Linearizing unlinks an entry;
    /// backtracking relinks it (last out, first back, so links stay valid).
    next: Vec<usize>,
    prev: Vec<usize>,
    budget: usize,
}

struct Frame<M> {
    candidates: Vec<usize>,
    tried: usize,
    /// The entry this frame linearized, and the state before it.
    chosen: Option<(usize, M)>,
}

impl<'a, 'b> Search<'a, 'b> {
    fn new(entries: &'b [Entry<'a>], budget: usize) -> Self {
        let n = entries.len();
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let keys = (0..n)
            .map(|_| {
                // splitmix64: well-spread keys without a dependency.
                seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = seed;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                z ^ (z >> 31)
            })
            .collect();
        Search {
            entries,
            keys,
            next: (0..=n).map(|i| (i + 1) % (n + 1)).collect(),
            prev: (0..=n).map(|i| (i + n) % (n + 1)).collect(),
            budget,
        }
    }

    fn sentinel(&self) -> usize {
        self.entries.len()
    }

    fn unlink(&mut self, i: usize) {
        let (prev, next) = (self.prev[i], self.next[i]);
        self.next[prev] = next;
        self.prev[next] = prev;
    }

    fn relink(&mut self, i: usize) {
        let (prev, next) = (self.prev[i], self.next[i]);
        self.next[prev] = i;
        self.prev[next] = i;
    }

    /// Entries that may be linearized next: pending, and invoked before
    /// every pending entry's return. The list is in invocation order, so the
    /// scan stops at the first entry invoked after the earliest return.
    fn candidates(&self) -> Vec<usize> {
        let mut earliest_return = u64::MAX;
        let mut out = Vec::new();
        let mut i = self.next[self.sentinel()];
        while i != self.sentinel() {
            let entry = &self.entries[i];
            if entry.invoked > earliest_return {
                break;
            }
            earliest_return = earliest_return.min(entry.returned);
            out.push(i);
            i = self.next[i];
        }
        out.retain(|i| self.entries[*i].invoked <= earliest_return);
        out
    }

    fn run<M: Model>(mut self, init: M) -> Verdict {
        let completed_total = self.entries.iter().filter(|e| e.ret.is_some()).count();
        let mut completed_done = 0;
        let mut state = init;
        let mut set_hash = 0u64;
        let mut seen: HashSet<(u64, u64)> = HashSet::new();
        let mut explored = 0usize;
        let mut deepest = (0usize, self.describe_stuck(&state));
        let mut stack = vec![Frame {
            candidates: self.candidates(),
            tried: 0,
            chosen: None,
        }];
        loop {
            if completed_done == completed_total {
                return Verdict::Linearizable { explored };
            }
            let Some(frame) = stack.last_mut() else {
                return Verdict::Violation {
                    explored,
                    stuck: deepest.1,
                };
            };
            if frame.tried == frame.candidates.len() {
                let frame = stack.pop().expect("non-empty");
                if let Some((i, before)) = frame.chosen {
                    self.relink(i);
                    set_hash ^= self.keys[i];
                    state = before;
                    if self.entries[i].ret.is_some() {
                        completed_done -= 1;
                    }
                }
                continue;
            }
            let i = frame.candidates[frame.tried];
            frame.tried += 1;
            let entry = &self.entries[i];
            let Some(next) = state.step(&entry.op.call, entry.ret) else {
                continue;
            };
            let next_hash = set_hash ^ self.keys[i];
            if !seen.insert((next_hash, hash_of(&next))) {
                continue;
            }
            explored += 1;
            if explored > self.budget {
                return Verdict::Exhausted { explored };
            }
            self.unlink(i);
            set_hash = next_hash;
            let before = std::mem::replace(&mut state, next);
            if entry.ret.is_some() {
                completed_done += 1;
                if completed_done > deepest.0 {
                    deepest = (completed_done, self.describe_stuck(&state));
                }
            }
            stack.push(Frame {
                candidates: self.candidates(),
                tried: 0,
                chosen: Some((i, before)),
            });
        }
    }

    /// The first completed entry still pending, for the report.
    fn describe_stuck<M: Model>(&self, state: &M) -> String {
        let mut i = self.next[self.sentinel()];
        while i != self.sentinel() && self.entries[i].ret.is_none() {
            i = self.next[i];
        }
        if i == self.sentinel() {
            return format!("state {state:?}");
        }
        let op = self.entries[i].op;
        format!(
            "from state {state:?} no pending operation fits; the first is process {} {:?} -> {:?} (invoked {} us, completed {:?} us)",
            op.process, op.call, op.outcome, op.invoked_us, op.completed_us
        )
    }
}

fn hash_of<T: Hash>(value: &T) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(
        process: usize,
        call: Call,
        invoked: u64,
        completed: Option<u64>,
        ret: Option<Ret>,
    ) -> Op {
        Op {
            process,
            object: "x".into(),
            call,
            invoked_us: invoked,
            completed_us: completed,
            outcome: match ret {
                Some(ret) => Outcome::Ok(ret),
                None => Outcome::Unknown("timeout".into()),
            },
        }
    }

    #[test]
    fn concurrent_increments_may_return_in_either_order() {
        let ops = [
            op(1, Call::Add(1), 0, Some(10), Some(Ret::Long(2))),
            op(2, Call::Add(1), 1, Some(9), Some(Ret::Long(1))),
            op(3, Call::Get, 11, Some(12), Some(Ret::Long(2))),
        ];
        assert!(check(Counter(0), &ops, 1000).is_linearizable());
    }

    #[test]
    fn a_stale_read_after_a_completed_write_is_a_violation() {
        let ops = [
            op(1, Call::Add(1), 0, Some(5), Some(Ret::Long(1))),
            op(2, Call::Get, 6, Some(7), Some(Ret::Long(0))),
        ];
        assert!(matches!(
            check(Counter(0), &ops, 1000),
            Verdict::Violation { .. }
        ));
    }

    #[test]
    fn a_duplicated_increment_is_a_violation_unless_an_unknown_op_explains_it() {
        let doubled = [
            op(1, Call::Add(1), 0, Some(5), Some(Ret::Long(2))),
            op(2, Call::Get, 6, Some(7), Some(Ret::Long(2))),
        ];
        assert!(!check(Counter(0), &doubled, 1000).is_linearizable());
        let explained = [
            op(1, Call::Add(1), 0, Some(5), Some(Ret::Long(2))),
            op(3, Call::Add(1), 1, None, None),
            op(2, Call::Get, 6, Some(7), Some(Ret::Long(2))),
        ];
        assert!(check(Counter(0), &explained, 1000).is_linearizable());
    }

    #[test]
    fn an_unknown_op_may_also_never_happen() {
        let ops = [
            op(1, Call::Set(1), 0, None, None),
            op(2, Call::Get, 5, Some(6), Some(Ret::Reference(None))),
        ];
        assert!(check(Register(None), &ops, 1000).is_linearizable());
    }

    #[test]
    fn compare_and_set_must_agree_with_the_value() {
        let ok = [
            op(1, Call::Set(3), 0, Some(1), Some(Ret::Unit)),
            op(
                2,
                Call::Cas(Some(3), Some(4)),
                2,
                Some(3),
                Some(Ret::Bool(true)),
            ),
            op(1, Call::Get, 4, Some(5), Some(Ret::Reference(Some(4)))),
        ];
        assert!(check(Register(None), &ok, 1000).is_linearizable());
        let wrong = [
            op(1, Call::Set(3), 0, Some(1), Some(Ret::Unit)),
            op(
                2,
                Call::Cas(Some(3), Some(4)),
                2,
                Some(3),
                Some(Ret::Bool(false)),
            ),
        ];
        assert!(!check(Register(None), &wrong, 1000).is_linearizable());
    }

    #[test]
    fn running_out_of_budget_is_not_a_pass() {
        // Many concurrent unknown writes and a read nobody wrote.
        let mut ops: Vec<Op> = (0..14)
            .map(|p| op(p, Call::Set(p as i64), 0, None, None))
            .collect();
        ops.push(op(
            99,
            Call::Get,
            10,
            Some(11),
            Some(Ret::Reference(Some(1000))),
        ));
        assert!(matches!(
            check(Register(None), &ops, 50),
            Verdict::Exhausted { .. }
        ));
    }
}
