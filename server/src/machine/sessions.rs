//! Client sessions: liveness by TTL, the exactly-once response cache, and
//! what each session holds (so expiry can release it without a scan).

use super::command::Outcome;
use raftcp_proto::{RequestId, SessionId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub client_name: String,
    pub ttl_ms: u64,
    pub expires_at_ms: u64,
    /// Responses below this id were acknowledged by the client and forgotten.
    pub acked_below: RequestId,
    /// Outcomes of mutating requests not yet acknowledged, for retries.
    pub responses: BTreeMap<RequestId, Outcome>,
    /// Locks some handle of this session holds.
    pub locks: BTreeSet<String>,
    /// Semaphores some handle of this session holds permits of.
    pub semaphores: BTreeSet<String>,
}

/// All live sessions with an index by deadline.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Sessions {
    live: BTreeMap<SessionId, Session>,
    /// Derived from `live`; rebuilt on restore.
    #[serde(skip)]
    by_expiry: BTreeSet<(u64, SessionId)>,
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

    pub fn get(&self, id: SessionId) -> Option<&Session> {
        self.live.get(&id)
    }

    pub fn get_mut(&mut self, id: SessionId) -> Option<&mut Session> {
        self.live.get_mut(&id)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&SessionId, &Session)> {
        self.live.iter()
    }

    pub fn open(&mut self, id: SessionId, client_name: String, ttl_ms: u64, now_ms: u64) {
        let expires_at_ms = now_ms.saturating_add(ttl_ms);
        let session = Session {
            client_name,
            ttl_ms,
            expires_at_ms,
            acked_below: RequestId(0),
            responses: BTreeMap::new(),
            locks: BTreeSet::new(),
            semaphores: BTreeSet::new(),
        };
        self.by_expiry.insert((expires_at_ms, id));
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

    /// Fresh TTL for every session (a new leader took office).
    pub fn renew_all(&mut self, now_ms: u64) {
        self.by_expiry.clear();
        for (id, session) in &mut self.live {
            session.expires_at_ms = now_ms.saturating_add(session.ttl_ms);
            self.by_expiry.insert((session.expires_at_ms, *id));
        }
    }

    pub fn remove(&mut self, id: SessionId) -> Option<Session> {
        let session = self.live.remove(&id)?;
        self.by_expiry.remove(&(session.expires_at_ms, id));
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

    pub fn rebuild_index(&mut self) {
        self.by_expiry = self
            .live
            .iter()
            .map(|(id, session)| (session.expires_at_ms, *id))
            .collect();
    }
}

impl Session {
    /// Forgets responses the client acknowledged (`acked_below` only grows).
    pub fn acknowledge(&mut self, acked_below: RequestId) {
        if acked_below > self.acked_below {
            self.acked_below = acked_below;
            self.responses = self.responses.split_off(&acked_below);
        }
    }
}
