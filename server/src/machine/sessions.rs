//! Client sessions: liveness by TTL, the exactly-once response cache, and
//! what each session holds (so expiry can release it without a scan).

use super::command::Outcome;
use super::usage::{SESSION_BYTES, outcome_bytes};
use raftcp_proto::limits::UNACKNOWLEDGED_RESPONSES_MAX;
use raftcp_proto::{RequestId, SessionId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub client_name: String,
    pub ttl_ms: u64,
    pub expires_at_ms: u64,
    /// Responses below this id were acknowledged by the client and forgotten.
    pub acked_below: RequestId,
    /// Outcomes of mutating requests not yet acknowledged, for retries.
    pub responses: Responses,
    /// Locks some handle of this session holds.
    pub locks: BTreeSet<String>,
    /// Semaphores some handle of this session holds permits of.
    pub semaphores: BTreeSet<String>,
}

/// A session's cached outcomes, with what they take in bytes (see
/// `usage`). Encoded as the map alone.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Responses {
    map: BTreeMap<RequestId, Outcome>,
    /// Derived from `map`; counted again on restore.
    #[serde(skip)]
    bytes: u64,
}

impl PartialEq for Responses {
    fn eq(&self, other: &Self) -> bool {
        self.map == other.map
    }
}

impl Responses {
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn get(&self, id: &RequestId) -> Option<&Outcome> {
        self.map.get(id)
    }

    #[cfg(test)]
    pub fn contains_key(&self, id: &RequestId) -> bool {
        self.map.contains_key(id)
    }

    #[cfg(test)]
    pub fn keys(&self) -> impl Iterator<Item = &RequestId> {
        self.map.keys()
    }

    pub fn range(
        &self,
        range: std::ops::RangeTo<RequestId>,
    ) -> impl Iterator<Item = (&RequestId, &Outcome)> {
        self.map.range(range)
    }

    /// Caches `outcome` for `id`, replacing what was there.
    pub fn insert(&mut self, id: RequestId, outcome: Outcome) {
        self.bytes += outcome_bytes(&outcome);
        if let Some(old) = self.map.insert(id, outcome) {
            self.bytes -= outcome_bytes(&old);
        }
    }

    /// Replaces the outcome cached for `id`, if there is one.
    pub fn update(&mut self, id: RequestId, outcome: Outcome) {
        if self.map.contains_key(&id) {
            self.insert(id, outcome);
        }
    }

    pub fn remove(&mut self, id: &RequestId) -> Option<Outcome> {
        let removed = self.map.remove(id)?;
        self.bytes -= outcome_bytes(&removed);
        Some(removed)
    }

    fn retain(&mut self, mut keep: impl FnMut(&RequestId) -> bool) {
        let mut freed = 0;
        self.map.retain(|id, outcome| {
            let kept = keep(id);
            if !kept {
                freed += outcome_bytes(outcome);
            }
            kept
        });
        self.bytes -= freed;
    }

    /// Splits off the outcomes from `at` on.
    fn split_off(&mut self, at: &RequestId) -> Responses {
        let map = self.map.split_off(at);
        let moved: u64 = map.values().map(outcome_bytes).sum();
        self.bytes -= moved;
        Responses { map, bytes: moved }
    }

    fn or_insert(&mut self, id: RequestId, outcome: Outcome) {
        if !self.map.contains_key(&id) {
            self.insert(id, outcome);
        }
    }

    /// Counts the bytes afresh (after decoding).
    fn recount(&mut self) {
        self.bytes = self.map.values().map(outcome_bytes).sum();
    }
}

/// All live sessions with an index by deadline.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Sessions {
    live: BTreeMap<SessionId, Session>,
    /// Derived from `live`; rebuilt on restore.
    #[serde(skip)]
    by_expiry: BTreeSet<(u64, SessionId)>,
    /// What the sessions take besides their cached outcomes (see
    /// `usage`); derived, rebuilt on restore.
    #[serde(skip)]
    bytes: u64,
}

/// What one session takes besides its cached outcomes.
fn session_bytes(session: &Session) -> u64 {
    SESSION_BYTES + session.client_name.len() as u64
}

impl PartialEq for Sessions {
    fn eq(&self, other: &Self) -> bool {
        self.live == other.live
    }
}

impl Sessions {
    pub fn len(&self) -> usize {
        self.live.len()
    }

    /// What the sessions take besides their cached outcomes.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn get(&self, id: SessionId) -> Option<&Session> {
        self.live.get(&id)
    }

    pub fn get_mut(&mut self, id: SessionId) -> Option<&mut Session> {
        self.live.get_mut(&id)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&SessionId, &Session)> {
        self.live.iter()
    }

    /// The sessions with ids in `range`, in id order.
    pub fn range(
        &self,
        range: (Bound<SessionId>, Bound<SessionId>),
    ) -> impl Iterator<Item = (&SessionId, &Session)> {
        self.live.range(range)
    }

    pub fn open(&mut self, id: SessionId, client_name: String, ttl_ms: u64, now_ms: u64) {
        let expires_at_ms = now_ms.saturating_add(ttl_ms);
        let session = Session {
            client_name,
            ttl_ms,
            expires_at_ms,
            acked_below: RequestId(0),
            responses: Responses::default(),
            locks: BTreeSet::new(),
            semaphores: BTreeSet::new(),
        };
        self.by_expiry.insert((expires_at_ms, id));
        self.bytes += session_bytes(&session);
        self.live.insert(id, session);
    }

    /// Gives the session a fresh TTL from `now_ms` and returns it; `None`
    /// if it does not exist.
    pub fn touch(&mut self, id: SessionId, now_ms: u64) -> Option<&mut Session> {
        let session = self.live.get_mut(&id)?;
        let renewed = now_ms.saturating_add(session.ttl_ms);
        if renewed != session.expires_at_ms {
            self.by_expiry.remove(&(session.expires_at_ms, id));
            self.by_expiry.insert((renewed, id));
            session.expires_at_ms = renewed;
        }
        Some(session)
    }

    /// A new leader took office: a fresh TTL for every session but leases: clients could not reach
    /// a leader during the election, while a lease's time runs whatever
    /// its holder does.
    pub fn renew_all(&mut self, now_ms: u64) {
        for (id, session) in &mut self.live {
            if session.client_name == super::leases::LEASE_CLIENT_NAME {
                continue;
            }
            self.by_expiry.remove(&(session.expires_at_ms, *id));
            session.expires_at_ms = now_ms.saturating_add(session.ttl_ms);
            self.by_expiry.insert((session.expires_at_ms, *id));
        }
    }

    pub fn remove(&mut self, id: SessionId) -> Option<Session> {
        let session = self.live.remove(&id)?;
        self.by_expiry.remove(&(session.expires_at_ms, id));
        self.bytes -= session_bytes(&session);
        Some(session)
    }

    /// Sessions whose deadline is at or before `now_ms`, oldest first.
    pub fn expired(&self, now_ms: u64) -> Vec<SessionId> {
        self.by_expiry
            .range(..=(now_ms, SessionId(u64::MAX)))
            .map(|(_, id)| *id)
            .collect()
    }

    pub fn next_expiry_ms(&self) -> Option<u64> {
        self.by_expiry.first().map(|(at, _)| *at)
    }

    /// Rebuilds what is derived from the sessions (after decoding).
    pub fn rebuild_index(&mut self) {
        self.by_expiry = self
            .live
            .iter()
            .map(|(id, session)| (session.expires_at_ms, *id))
            .collect();
        self.bytes = self.live.values().map(session_bytes).sum();
        for session in self.live.values_mut() {
            session.responses.recount();
        }
    }

    /// What `rebuild_index` would count (for the checks).
    pub fn count_bytes(&self) -> u64 {
        self.live.values().map(session_bytes).sum()
    }
}

/// What a request tells the machine its client has received: every answer
/// below `below` except those of `except` (ascending, below `below`, at most
/// `ACKED_EXCEPT_MAX`: see [`super::validate_acknowledged`]).
#[derive(Clone, Copy, Debug)]
pub struct Acknowledged<'a> {
    pub below: RequestId,
    pub except: &'a [RequestId],
}

impl Session {
    /// Forgets the responses the client acknowledged. The watermark only
    /// grows, and a request is acknowledged for good once it is below the
    /// watermark and not excepted: a request delayed in the network may
    /// carry an older `except`, and must not bring an answer back.
    pub fn acknowledge(&mut self, acknowledged: Acknowledged<'_>) {
        let Acknowledged { below, except } = acknowledged;
        if below < self.acked_below {
            return; // An older request applied late: it says nothing new.
        }
        let excepted = |id: &RequestId| except.binary_search(id).is_ok();
        if below == self.acked_below {
            // Only answers kept around the watermark can go now.
            if self.responses.range(..below).next().is_some() {
                self.responses.retain(|id| *id >= below || excepted(id));
            }
            return;
        }
        let passed = self.acked_below;
        let kept = self.responses.split_off(&below);
        let mut around = std::mem::replace(&mut self.responses, kept);
        // Waiting (or done, its answer not received yet): kept.
        for id in except {
            if let Some(outcome) = around.remove(id) {
                self.responses.insert(*id, outcome);
            }
        }
        // Passed just now, not applied yet: executed when it comes, if the
        // cache has room (an honest client never fills it; see
        // `REQUEST_SPAN_MAX`). One acknowledged earlier stays acknowledged.
        for id in except.iter().filter(|id| **id >= passed) {
            if self.responses.len() >= UNACKNOWLEDGED_RESPONSES_MAX {
                break;
            }
            self.responses.or_insert(*id, Outcome::Awaited);
        }
        self.acked_below = below;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use raftcp_proto::Reply;

    fn session_with(answered: &[u64]) -> Session {
        let mut sessions = Sessions::default();
        sessions.open(SessionId(1), "c".into(), 1_000, 0);
        let mut session = sessions.remove(SessionId(1)).expect("opened");
        for id in answered {
            let done = Outcome::Done(Ok(Reply::Unit));
            session.responses.insert(RequestId(*id), done);
        }
        session
    }

    fn acknowledge(session: &mut Session, below: u64, except: &[u64]) {
        let except: Vec<RequestId> = except.iter().copied().map(RequestId).collect();
        session.acknowledge(Acknowledged {
            below: RequestId(below),
            except: &except,
        });
    }

    fn kept(session: &Session) -> Vec<u64> {
        session.responses.keys().map(|id| id.0).collect()
    }

    #[test]
    fn a_waiting_request_is_kept_while_the_watermark_passes_it() {
        let mut session = session_with(&[1, 3, 4]);
        session.responses.insert(RequestId(2), Outcome::Pending);
        acknowledge(&mut session, 5, &[2]);
        assert_eq!(kept(&session), vec![2]);
        assert_eq!(session.acked_below, RequestId(5));
        // The wait completes and its answer is received: it goes.
        acknowledge(&mut session, 5, &[]);
        assert_eq!(kept(&session), Vec::<u64>::new());
    }

    #[test]
    fn an_excepted_request_not_applied_yet_is_awaited() {
        let mut session = session_with(&[1]);
        acknowledge(&mut session, 4, &[2]);
        assert_eq!(
            session.responses.get(&RequestId(2)),
            Some(&Outcome::Awaited)
        );
        assert_eq!(kept(&session), vec![2]);
    }

    #[test]
    fn awaited_places_never_overfill_the_cache() {
        // A full cache above a watermark that jumps past 256 unseen ids.
        let answered: Vec<u64> = (5_000..5_000 + UNACKNOWLEDGED_RESPONSES_MAX as u64).collect();
        let mut session = session_with(&answered);
        let except: Vec<u64> = (1..=256).collect();
        acknowledge(&mut session, 4_000, &except);
        assert_eq!(session.responses.len(), UNACKNOWLEDGED_RESPONSES_MAX);
        assert!(!session.responses.contains_key(&RequestId(1)));
    }

    #[test]
    fn a_request_acknowledged_once_is_never_excepted_again() {
        let mut session = session_with(&[]);
        session.responses.insert(RequestId(2), Outcome::Pending);
        acknowledge(&mut session, 5, &[2]);
        acknowledge(&mut session, 6, &[]);
        // A request sent earlier, applied late, still lists 2: nothing
        // comes back, neither at the same watermark nor a higher one.
        acknowledge(&mut session, 6, &[2]);
        acknowledge(&mut session, 7, &[2]);
        assert_eq!(kept(&session), Vec::<u64>::new());
        // An older watermark is ignored altogether.
        acknowledge(&mut session, 3, &[]);
        assert_eq!(session.acked_below, RequestId(7));
    }
}
