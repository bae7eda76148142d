//! A reference model of the machine, written for obviousness rather than
//! speed: flat vectors, linear scans, one global list of waiters in arrival
//! order, and one rule for grants ("after every entry, settle every object")
//! instead of the machine's grant points. Model tests demand that the two
//! agree on every response and every completion.

#![allow(dead_code)]

use raftcp_proto::limits::{
    ACKED_EXCEPT_MAX, LEASE_MS_MAX, LEASE_MS_MIN, ONE_SHOT_KEY_TTL_MS,
    UNACKNOWLEDGED_RESPONSES_MAX, WAITING_REQUESTS_PER_SESSION_MAX,
};
use raftcp_proto::{
    Fence, HandleId, LatchOp, Lease, LeaseSecret, LockOp, LongOp, Op, OpError, RefOp, Reply,
    RequestId, SemaphoreOp, SessionId, Value,
};
use raftcp_server::machine::{
    CommandKind, CommandResponse, Effect, OneShotKey, OpFingerprint, Outcome, SessionOwner,
};
use std::collections::{BTreeMap, BTreeSet};

type Owner = (SessionId, HandleId);

struct ModelSession {
    id: SessionId,
    /// Who may resume it; none for sessions opened without an owner.
    owner: Option<SessionOwner>,
    ttl_ms: u64,
    expires_at_ms: u64,
    acked_below: RequestId,
    /// Requests below the watermark the client still waits for.
    excepted: BTreeSet<RequestId>,
    cache: BTreeMap<RequestId, Outcome>,
    /// Opened for a leased lock, not by a client.
    lease: bool,
}

#[derive(Clone, PartialEq)]
enum Target {
    Lock(String),
    Semaphore(String),
    Latch(String),
}

#[derive(Clone)]
struct Waiter {
    session: SessionId,
    request: RequestId,
    target: Target,
    handle: HandleId,
    /// Permits for semaphores, the reentrancy limit for locks.
    amount: u32,
    deadline_ms: Option<u64>,
}

#[derive(Default)]
struct ModelLock {
    holder: Option<(Owner, u32, u64)>,
}

#[derive(Default)]
struct ModelSemaphore {
    initialized: bool,
    available: u32,
    held: Vec<(Owner, u32)>,
}

#[derive(Default)]
pub struct Model {
    now_ms: u64,
    index: u64,
    sessions: Vec<ModelSession>,
    longs: BTreeMap<String, i64>,
    references: BTreeMap<String, Value>,
    locks: BTreeMap<String, ModelLock>,
    semaphores: BTreeMap<String, ModelSemaphore>,
    latches: BTreeMap<String, u32>,
    waiters: Vec<Waiter>,
    /// Holds lost to a destroy, not yet told: (owner, kind, name).
    lost: BTreeSet<(Owner, &'static str, String)>,
    /// Answers to session-less mutations: key -> (expires at, fingerprint,
    /// answer).
    one_shots: BTreeMap<OneShotKey, (u64, OpFingerprint, Result<Reply, OpError>)>,
    effects: Vec<Effect>,
}

fn destroyed(kind: &str, name: &str) -> OpError {
    OpError::ObjectDestroyed {
        kind: kind.into(),
        name: name.into(),
    }
}

fn same(a: Option<&Value>, b: Option<&Value>) -> bool {
    a.map(Value::canonical_bytes) == b.map(Value::canonical_bytes)
}

impl Model {
    pub fn apply(
        &mut self,
        index: u64,
        time_ms: u64,
        kind: CommandKind,
    ) -> (CommandResponse, Vec<Effect>) {
        self.index = index;
        self.now_ms = self.now_ms.max(time_ms);
        let now = self.now_ms;
        self.one_shots
            .retain(|_, (expires_ms, _, _)| *expires_ms > now);
        let response = match kind {
            CommandKind::OpenSession { ttl_ms, .. } => self.open_session(index, ttl_ms, None),
            CommandKind::OpenOwnedSession { ttl_ms, owner, .. } => {
                self.open_session(index, ttl_ms, Some(owner))
            }
            CommandKind::ResumeSession { session, owner } => {
                let owned = self
                    .session(session)
                    .is_some_and(|s| s.owner.as_ref() == Some(&owner));
                if owned && self.touch(session) {
                    CommandResponse::Done
                } else {
                    CommandResponse::Refused(OpError::SessionExpired { session })
                }
            }
            CommandKind::Heartbeat { sessions } => {
                let unknown = sessions.into_iter().filter(|id| !self.touch(*id)).collect();
                CommandResponse::Heartbeat { unknown }
            }
            CommandKind::CloseSession { session } => {
                if self.session(session).is_none() {
                    CommandResponse::Refused(OpError::SessionExpired { session })
                } else {
                    self.end_sessions(vec![session]);
                    CommandResponse::Done
                }
            }
            CommandKind::ExpireSessions => {
                let now = self.now_ms;
                let expired = self
                    .sessions
                    .iter()
                    .filter(|s| s.expires_at_ms <= now)
                    .map(|s| s.id)
                    .collect();
                self.end_sessions(expired);
                CommandResponse::Done
            }
            CommandKind::ExpireWaits => {
                let now = self.now_ms;
                let due: Vec<Waiter> = self
                    .waiters
                    .iter()
                    .filter(|w| w.deadline_ms.is_some_and(|d| d <= now))
                    .cloned()
                    .collect();
                for waiter in due {
                    let reply = match waiter.target {
                        Target::Lock(_) => Reply::Fence(None),
                        _ => Reply::Bool(false),
                    };
                    self.finish(waiter.session, waiter.request, Ok(reply));
                }
                CommandResponse::Done
            }
            CommandKind::RenewAllSessions => {
                // Leases run on whatever happens.
                for s in self.sessions.iter_mut().filter(|s| !s.lease) {
                    s.expires_at_ms = self.now_ms + s.ttl_ms;
                }
                CommandResponse::Done
            }
            CommandKind::Client {
                session,
                request,
                acked_below,
                op,
            } => CommandResponse::Client(self.client(session, request, acked_below, &[], op)),
            CommandKind::Request {
                session,
                request,
                acked_below,
                acked_except,
                op,
            } => CommandResponse::Client(self.client(
                session,
                request,
                acked_below,
                &acked_except,
                op,
            )),
            CommandKind::OneShot {
                key,
                fingerprint,
                op,
            } => CommandResponse::Client(Outcome::Done(self.one_shot(key, fingerprint, op))),
            // The machine unpacks batches in `apply_entry`; `apply` refuses one.
            CommandKind::Batch(_) => CommandResponse::Refused(OpError::InvalidArgument {
                reason: "a batch cannot contain a batch".into(),
            }),
            CommandKind::Cancel { session, request } => {
                if self
                    .waiters
                    .iter()
                    .any(|w| w.session == session && w.request == request)
                {
                    self.finish(session, request, Err(OpError::Cancelled));
                }
                CommandResponse::Done
            }
        };
        self.settle();
        (response, std::mem::take(&mut self.effects))
    }

    fn session(&mut self, id: SessionId) -> Option<&mut ModelSession> {
        self.sessions.iter_mut().find(|s| s.id == id)
    }

    fn open_session(
        &mut self,
        index: u64,
        ttl_ms: u64,
        owner: Option<SessionOwner>,
    ) -> CommandResponse {
        let id = SessionId(index);
        let ttl_ms = ttl_ms.max(1);
        self.sessions.push(ModelSession {
            id,
            owner,
            ttl_ms,
            expires_at_ms: self.now_ms + ttl_ms,
            acked_below: RequestId(0),
            excepted: BTreeSet::new(),
            cache: BTreeMap::new(),
            lease: false,
        });
        CommandResponse::SessionOpened { session: id }
    }

    fn touch(&mut self, id: SessionId) -> bool {
        let now = self.now_ms;
        self.session(id)
            .map(|s| s.expires_at_ms = now + s.ttl_ms)
            .is_some()
    }

    /// Removes a waiter and records its result.
    fn finish(&mut self, session: SessionId, request: RequestId, result: Result<Reply, OpError>) {
        self.waiters
            .retain(|w| !(w.session == session && w.request == request));
        if let Some(cached) = self
            .session(session)
            .and_then(|s| s.cache.get_mut(&request))
        {
            *cached = Outcome::Done(result.clone());
        }
        self.effects
            .push(Effect::Completed(raftcp_server::machine::Completion {
                session,
                request,
                result,
            }));
    }

    fn end_sessions(&mut self, ended: Vec<SessionId>) {
        for &id in &ended {
            let theirs: Vec<Waiter> = self
                .waiters
                .iter()
                .filter(|w| w.session == id)
                .cloned()
                .collect();
            for w in theirs {
                self.finish(
                    w.session,
                    w.request,
                    Err(OpError::SessionExpired { session: id }),
                );
            }
        }
        for &id in &ended {
            self.sessions.retain(|s| s.id != id);
            self.lost.retain(|((s, _), _, _)| *s != id);
            for lock in self.locks.values_mut() {
                if lock.holder.is_some_and(|((s, _), _, _)| s == id) {
                    lock.holder = None;
                }
            }
            for semaphore in self.semaphores.values_mut() {
                let returned: u32 = semaphore
                    .held
                    .iter()
                    .filter(|((s, _), _)| *s == id)
                    .map(|(_, n)| n)
                    .sum();
                semaphore.available += returned;
                semaphore.held.retain(|((s, _), _)| *s != id);
            }
            self.effects.push(Effect::SessionEnded(id));
        }
    }

    fn client(
        &mut self,
        session: SessionId,
        request: RequestId,
        acked_below: RequestId,
        acked_except: &[RequestId],
        op: Op,
    ) -> Outcome {
        if acked_except.len() > ACKED_EXCEPT_MAX {
            return Outcome::Done(Err(OpError::InvalidArgument {
                reason: format!(
                    "acked_except lists {} requests: at most {ACKED_EXCEPT_MAX} allowed",
                    acked_except.len()
                ),
            }));
        }
        for pair in acked_except.windows(2) {
            if pair[0] >= pair[1] {
                return Outcome::Done(Err(OpError::InvalidArgument {
                    reason: format!(
                        "acked_except lists {} after {}: ids must ascend",
                        pair[1], pair[0]
                    ),
                }));
            }
        }
        if let Some(last) = acked_except.last().filter(|last| **last >= acked_below) {
            return Outcome::Done(Err(OpError::InvalidArgument {
                reason: format!("acked_except lists {last}, not below acked_below {acked_below}"),
            }));
        }
        if !self.touch(session) {
            return Outcome::Done(Err(OpError::SessionExpired { session }));
        }
        let s = self.session(session).expect("touched");
        // Requests may leave the excepted set, never join it once passed.
        if acked_below >= s.acked_below {
            let passed = s.acked_below;
            let still: BTreeSet<RequestId> = acked_except
                .iter()
                .filter(|id| {
                    s.excepted.contains(id) || (**id >= passed && s.cache.contains_key(id))
                })
                .copied()
                .collect();
            s.cache
                .retain(|r, _| *r >= acked_below || still.contains(r));
            s.excepted = still;
            // Newly passed requests not applied yet hold a place each, while
            // there is room.
            for id in acked_except.iter().filter(|id| **id >= passed) {
                let unseen = s
                    .excepted
                    .iter()
                    .filter(|r| !s.cache.contains_key(r))
                    .count();
                if s.excepted.contains(id) {
                    continue;
                }
                if s.cache.len() + unseen >= UNACKNOWLEDGED_RESPONSES_MAX {
                    break;
                }
                s.excepted.insert(*id);
            }
            s.acked_below = acked_below;
        }
        if let Some(cached) = s.cache.get(&request) {
            return cached.clone();
        }
        if request < s.acked_below && !s.excepted.contains(&request) {
            return Outcome::Done(Err(OpError::RequestAcknowledged {
                request,
                acked_below: s.acked_below,
            }));
        }
        if !op.is_mutating() {
            return Outcome::Done(self.read(session, &op));
        }
        // Excepted requests not applied yet hold a place in the cache too.
        let s = self.session(session).expect("touched");
        let unseen = s
            .excepted
            .iter()
            .filter(|r| **r < s.acked_below && !s.cache.contains_key(r))
            .count();
        let replaces_a_place = request < s.acked_below;
        if !replaces_a_place && s.cache.len() + unseen >= UNACKNOWLEDGED_RESPONSES_MAX {
            let max = UNACKNOWLEDGED_RESPONSES_MAX as u64;
            return Outcome::Done(Err(OpError::TooManyUnacknowledged { session, max }));
        }
        // Zero permits is refused as invalid first; any other request that
        // may wait is refused while the session has the most waiting.
        let zero_permits = matches!(
            op,
            Op::Semaphore {
                op: SemaphoreOp::Acquire { permits: 0, .. },
                ..
            }
        );
        let waiting = self.waiters.iter().filter(|w| w.session == session).count();
        let outcome =
            if op.may_wait() && !zero_permits && waiting >= WAITING_REQUESTS_PER_SESSION_MAX {
                Outcome::Done(Err(OpError::TooManyWaitingRequests {
                    session,
                    max: WAITING_REQUESTS_PER_SESSION_MAX as u64,
                }))
            } else {
                self.mutate(session, request, op)
            };
        self.session(session)
            .expect("live")
            .cache
            .insert(request, outcome.clone());
        outcome
    }

    fn one_shot(
        &mut self,
        key: OneShotKey,
        fingerprint: OpFingerprint,
        op: Op,
    ) -> Result<Reply, OpError> {
        if let Some((_, first, answer)) = self.one_shots.get(&key) {
            return match *first == fingerprint {
                true => answer.clone(),
                false => Err(OpError::IdempotencyKeyReused),
            };
        }
        if op.needs_session() {
            let op = op.label().into();
            return Err(OpError::SessionRequired { op });
        }
        if !op.is_mutating() {
            return self.read(SessionId(0), &op);
        }
        let Outcome::Done(answer) = self.mutate(SessionId(0), RequestId(0), op) else {
            panic!("a session-less operation waits");
        };
        let expires_ms = self.now_ms + ONE_SHOT_KEY_TTL_MS;
        self.one_shots
            .insert(key, (expires_ms, fingerprint, answer.clone()));
        answer
    }

    fn lease_length(lease_ms: u64) -> Result<(), OpError> {
        match (LEASE_MS_MIN..=LEASE_MS_MAX).contains(&lease_ms) {
            true => Ok(()),
            false => Err(OpError::InvalidArgument {
                reason: format!(
                    "a lease of {lease_ms} ms: from {LEASE_MS_MIN} to {LEASE_MS_MAX} ms"
                ),
            }),
        }
    }

    /// A session for a lease at this entry.
    fn open_lease(&mut self, lease_ms: u64, secret: LeaseSecret) -> SessionId {
        let index = self.index;
        let owner = SessionOwner {
            secret_hash: secret.0,
            subject: None,
        };
        self.open_session(index, lease_ms, Some(owner));
        let lease = SessionId(index);
        if let Some(opened) = self.session(lease) {
            opened.lease = true;
        }
        lease
    }

    /// A lease: a session of its own, holding the lock if it is free.
    fn try_lock_leased(
        &mut self,
        name: &str,
        lease_ms: u64,
        secret: LeaseSecret,
    ) -> Result<Reply, OpError> {
        Self::lease_length(lease_ms)?;
        let index = self.index;
        let lease = SessionId(index);
        let lock = self.locks.entry(name.to_owned()).or_default();
        if lock.holder.is_some() {
            // Opened, and ended at once: it has nothing to hold.
            self.effects.push(Effect::SessionEnded(lease));
            return Ok(Reply::Lease(None));
        }
        lock.holder = Some(((lease, HandleId(0)), 1, index));
        self.open_lease(lease_ms, secret);
        Ok(Reply::Lease(Some(Lease {
            id: lease,
            fence: Fence(index),
        })))
    }

    /// A lease holding `permits` of semaphore `name`, if they are free.
    fn try_acquire_leased(
        &mut self,
        name: &str,
        permits: u32,
        lease_ms: u64,
        secret: LeaseSecret,
    ) -> Outcome {
        if permits == 0 {
            return Outcome::Done(Err(OpError::InvalidArgument {
                reason: "permits must be positive, got 0".into(),
            }));
        }
        if let Err(error) = Self::lease_length(lease_ms) {
            return Outcome::Done(Err(error));
        }
        let lease = self.open_lease(lease_ms, secret);
        let attempt = Op::Semaphore {
            name: name.to_owned(),
            handle: HandleId(0),
            op: SemaphoreOp::Acquire {
                permits,
                timeout_ms: Some(0),
            },
        };
        let result = match self.mutate(lease, RequestId(0), attempt) {
            Outcome::Done(Ok(Reply::Bool(true))) => {
                return Outcome::Done(Ok(Reply::PermitsLeased(Some(lease))));
            }
            Outcome::Done(Err(error)) => Err(error),
            _ => Ok(Reply::PermitsLeased(None)),
        };
        self.end_sessions(vec![lease]);
        Outcome::Done(result)
    }

    /// The lease is live, shown with its secret, and holds lock (or
    /// semaphore) `name`.
    fn check_lease(
        &self,
        name: &str,
        semaphore: bool,
        lease: SessionId,
        secret: LeaseSecret,
    ) -> Result<(), OpError> {
        let owner = SessionOwner {
            secret_hash: secret.0,
            subject: None,
        };
        let live = (self.sessions.iter())
            .any(|s| s.id == lease && s.lease && s.owner.as_ref() == Some(&owner));
        let holds = match semaphore {
            false => (self.locks.get(name))
                .is_some_and(|l| l.holder.is_some_and(|((s, _), _, _)| s == lease)),
            true => (self.semaphores.get(name))
                .is_some_and(|sem| sem.held.iter().any(|((s, _), _)| *s == lease)),
        };
        match live && holds {
            true => Ok(()),
            false => Err(OpError::LockOwnershipLost {
                name: name.to_owned(),
            }),
        }
    }

    fn read(&self, session: SessionId, op: &Op) -> Result<Reply, OpError> {
        Ok(match op {
            Op::AtomicLong { name, .. } => Reply::Long(self.longs.get(name).copied().unwrap_or(0)),
            Op::AtomicReference { name, op } => {
                let current = self.references.get(name);
                match op {
                    RefOp::IsNull => Reply::Bool(current.is_none()),
                    RefOp::Contains(v) => Reply::Bool(same(current, v.as_ref())),
                    _ => Reply::Value(current.cloned()),
                }
            }
            Op::Lock { name, handle, op } => {
                let holder = self.locks.get(name).and_then(|l| l.holder);
                let mine = holder.filter(|(owner, _, _)| *owner == (session, *handle));
                match op {
                    LockOp::IsLocked => Reply::Bool(holder.is_some()),
                    LockOp::IsLockedByMe => Reply::Bool(mine.is_some()),
                    LockOp::LockCount => Reply::Count(holder.map_or(0, |h| h.1)),
                    _ => match mine {
                        Some((_, _, fence)) => Reply::Fence(Some(Fence(fence))),
                        None if self
                            .lost
                            .contains(&((session, *handle), "lock", name.clone())) =>
                        {
                            return Err(destroyed("lock", name));
                        }
                        None => {
                            return Err(OpError::NotOwner {
                                kind: "lock".into(),
                                name: name.clone(),
                            });
                        }
                    },
                }
            }
            Op::Semaphore { name, .. } => {
                Reply::Count(self.semaphores.get(name).map_or(0, |s| s.available))
            }
            Op::Latch { name, .. } => Reply::Count(self.latches.get(name).copied().unwrap_or(0)),
        })
    }

    fn queued_on(&self, target: &Target) -> bool {
        self.waiters.iter().any(|w| &w.target == target)
    }

    fn wait(
        &mut self,
        session: SessionId,
        request: RequestId,
        target: Target,
        handle: HandleId,
        amount: u32,
        timeout_ms: Option<u64>,
    ) -> Outcome {
        let deadline_ms = timeout_ms.map(|t| self.now_ms.saturating_add(t));
        self.waiters.push(Waiter {
            session,
            request,
            target,
            handle,
            amount,
            deadline_ms,
        });
        Outcome::Pending
    }

    /// Removes an object: its waiters fail, its holders other than the
    /// destroying handle lose it.
    fn destroy(&mut self, session: SessionId, op: &Op) -> Outcome {
        let name = op.name().to_owned();
        let (kind, target, holders): (&'static str, Option<Target>, Vec<Owner>) = match op {
            Op::AtomicLong { .. } => {
                self.longs.remove(&name);
                ("atomic long", None, vec![])
            }
            Op::AtomicReference { .. } => {
                self.references.remove(&name);
                ("atomic reference", None, vec![])
            }
            Op::Lock { .. } => {
                let lock = self.locks.remove(&name).unwrap_or_default();
                let holders = lock.holder.map(|(owner, _, _)| owner).into_iter().collect();
                ("lock", Some(Target::Lock(name.clone())), holders)
            }
            Op::Semaphore { .. } => {
                let sem = self.semaphores.remove(&name).unwrap_or_default();
                let holders = sem.held.iter().map(|(owner, _)| *owner).collect();
                ("semaphore", Some(Target::Semaphore(name.clone())), holders)
            }
            Op::Latch { .. } => {
                self.latches.remove(&name);
                ("latch", Some(Target::Latch(name.clone())), vec![])
            }
        };
        let by = match op {
            Op::Lock { handle, .. } | Op::Semaphore { handle, .. } => Some((session, *handle)),
            _ => None,
        };
        let leases: Vec<SessionId> = (holders.iter())
            .map(|(session, _)| *session)
            .filter(|id| self.sessions.iter().any(|s| s.id == *id && s.lease))
            .collect();
        for owner in holders.into_iter().filter(|owner| Some(*owner) != by) {
            self.lost.insert((owner, kind, name.clone()));
        }
        let waiting: Vec<Waiter> = self
            .waiters
            .iter()
            .filter(|w| Some(&w.target) == target.as_ref())
            .cloned()
            .collect();
        for w in waiting {
            self.finish(w.session, w.request, Err(destroyed(kind, &name)));
        }
        // A lease that lost what it held ends.
        self.end_sessions(leases);
        Outcome::Done(Ok(Reply::Unit))
    }

    /// If `owner` lost `name` to a destroy, tells it (once).
    fn tell_lost(&mut self, owner: Owner, kind: &'static str, name: &str) -> Option<Outcome> {
        let key = (owner, kind, name.to_owned());
        self.lost
            .remove(&key)
            .then(|| Outcome::Done(Err(destroyed(kind, name))))
    }

    fn mutate(&mut self, session: SessionId, request: RequestId, op: Op) -> Outcome {
        if op.is_destroy() {
            return self.destroy(session, &op);
        }
        let invalid = |what: &str| {
            Outcome::Done(Err(OpError::InvalidArgument {
                reason: format!("{what} must be positive, got 0"),
            }))
        };
        let done = |reply| Outcome::Done(Ok(reply));
        match op {
            Op::AtomicLong { name, op } => {
                let v = self.longs.entry(name).or_insert(0);
                done(match op {
                    LongOp::Get => Reply::Long(*v),
                    LongOp::Set(n) => {
                        *v = n;
                        Reply::Unit
                    }
                    LongOp::AddAndGet(d) => {
                        *v = v.wrapping_add(d);
                        Reply::Long(*v)
                    }
                    LongOp::GetAndAdd(d) => {
                        let old = *v;
                        *v = old.wrapping_add(d);
                        Reply::Long(old)
                    }
                    LongOp::CompareAndSet { expect, update } => {
                        if *v == expect {
                            *v = update;
                            Reply::Bool(true)
                        } else {
                            Reply::Bool(false)
                        }
                    }
                    LongOp::GetAndSet(n) => {
                        let old = *v;
                        *v = n;
                        Reply::Long(old)
                    }
                    LongOp::Destroy => unreachable!("destroy is handled above"),
                })
            }
            Op::AtomicReference { name, op } => {
                let current = self.references.get(&name).cloned();
                let (reply, update) = match op {
                    RefOp::Set(v) => (Reply::Unit, v),
                    RefOp::GetAndSet(v) => (Reply::Value(current), v),
                    RefOp::CompareAndSet { expect, update } => {
                        if !same(current.as_ref(), expect.as_ref()) {
                            return done(Reply::Bool(false));
                        }
                        (Reply::Bool(true), update)
                    }
                    _ => unreachable!("reads are not mutations"),
                };
                match update {
                    Some(v) => {
                        self.references.insert(name, v.canonical());
                    }
                    None => {
                        self.references.remove(&name);
                    }
                }
                done(reply)
            }
            Op::Lock { name, handle, op } => {
                match op {
                    LockOp::TryLockLeased { lease_ms, secret } => {
                        return Outcome::Done(self.try_lock_leased(&name, lease_ms, secret));
                    }
                    LockOp::RenewLease { lease, secret } => {
                        let result = self.check_lease(&name, false, lease, secret);
                        return Outcome::Done(result.map(|()| {
                            self.touch(lease);
                            Reply::Unit
                        }));
                    }
                    LockOp::UnlockLeased { lease, secret } => {
                        let result = self.check_lease(&name, false, lease, secret);
                        if result.is_ok() {
                            self.end_sessions(vec![lease]);
                        }
                        return Outcome::Done(result.map(|()| Reply::Unit));
                    }
                    _ => {}
                }
                let owner = (session, handle);
                if matches!(op, LockOp::Lock { .. } | LockOp::Unlock)
                    && let Some(told) = self.tell_lost(owner, "lock", &name)
                {
                    return told;
                }
                let index = self.index;
                let lock = self.locks.entry(name.clone()).or_default();
                match op {
                    LockOp::Lock {
                        timeout_ms,
                        reentrancy_limit,
                    } => {
                        let waits = timeout_ms != Some(0);
                        match &mut lock.holder {
                            Some((o, count, fence)) if *o == owner => {
                                if reentrancy_limit != 0 && *count >= reentrancy_limit {
                                    if waits {
                                        return Outcome::Done(Err(
                                            OpError::LockAcquireLimitReached {
                                                name,
                                                limit: reentrancy_limit,
                                            },
                                        ));
                                    }
                                    return done(Reply::Fence(None));
                                }
                                *count += 1;
                                done(Reply::Fence(Some(Fence(*fence))))
                            }
                            Some(_) if !waits => done(Reply::Fence(None)),
                            Some(_) => self.wait(
                                session,
                                request,
                                Target::Lock(name),
                                handle,
                                reentrancy_limit,
                                timeout_ms,
                            ),
                            None => {
                                lock.holder = Some((owner, 1, index));
                                done(Reply::Fence(Some(Fence(index))))
                            }
                        }
                    }
                    LockOp::Unlock => match &mut lock.holder {
                        Some((o, count, _)) if *o == owner => {
                            *count -= 1;
                            if *count == 0 {
                                lock.holder = None;
                            }
                            done(Reply::Unit)
                        }
                        _ => Outcome::Done(Err(OpError::NotOwner {
                            kind: "lock".into(),
                            name,
                        })),
                    },
                    _ => unreachable!("reads are not mutations"),
                }
            }
            Op::Semaphore { name, handle, op } => {
                match op {
                    SemaphoreOp::TryAcquireLeased {
                        permits,
                        lease_ms,
                        secret,
                    } => return self.try_acquire_leased(&name, permits, lease_ms, secret),
                    SemaphoreOp::RenewLease { lease, secret } => {
                        let result = self.check_lease(&name, true, lease, secret);
                        return Outcome::Done(result.map(|()| {
                            self.touch(lease);
                            Reply::Unit
                        }));
                    }
                    SemaphoreOp::ReleaseLeased { lease, secret } => {
                        let result = self.check_lease(&name, true, lease, secret);
                        if result.is_ok() {
                            self.end_sessions(vec![lease]);
                        }
                        return Outcome::Done(result.map(|()| Reply::Unit));
                    }
                    _ => {}
                }
                let owner = (session, handle);
                let owns = matches!(
                    op,
                    SemaphoreOp::Acquire { permits: 1.., .. }
                        | SemaphoreOp::Release { permits: 1.. }
                        | SemaphoreOp::Drain
                );
                if owns && let Some(told) = self.tell_lost(owner, "semaphore", &name) {
                    return told;
                }
                let queued = self.queued_on(&Target::Semaphore(name.clone()));
                let sem = self.semaphores.entry(name.clone()).or_default();
                let held = sem
                    .held
                    .iter()
                    .find(|(o, _)| *o == owner)
                    .map_or(0, |(_, n)| *n);
                match op {
                    SemaphoreOp::Init { permits } => {
                        if sem.initialized {
                            return done(Reply::Bool(false));
                        }
                        sem.initialized = true;
                        sem.available = permits;
                        done(Reply::Bool(true))
                    }
                    SemaphoreOp::Acquire { permits: 0, .. }
                    | SemaphoreOp::Release { permits: 0 } => invalid("permits"),
                    SemaphoreOp::Acquire {
                        permits,
                        timeout_ms,
                    } => {
                        if !queued && sem.available >= permits {
                            sem.available -= permits;
                            add_held(&mut sem.held, owner, permits);
                            done(Reply::Bool(true))
                        } else if timeout_ms == Some(0) {
                            done(Reply::Bool(false))
                        } else {
                            self.wait(
                                session,
                                request,
                                Target::Semaphore(name),
                                handle,
                                permits,
                                timeout_ms,
                            )
                        }
                    }
                    SemaphoreOp::Release { permits } => {
                        if held == 0 {
                            return Outcome::Done(Err(OpError::NotOwner {
                                kind: "semaphore".into(),
                                name,
                            }));
                        }
                        if held < permits {
                            return Outcome::Done(Err(OpError::NotEnoughPermits {
                                name,
                                held,
                                requested: permits,
                            }));
                        }
                        for (o, n) in &mut sem.held {
                            if *o == owner {
                                *n -= permits;
                            }
                        }
                        sem.held.retain(|(_, n)| *n > 0);
                        sem.available += permits;
                        done(Reply::Unit)
                    }
                    SemaphoreOp::Drain => {
                        let n = sem.available;
                        if n > 0 {
                            sem.available = 0;
                            add_held(&mut sem.held, owner, n);
                        }
                        done(Reply::Count(n))
                    }
                    SemaphoreOp::Reduce { permits } => {
                        sem.initialized = true;
                        sem.available = sem.available.saturating_sub(permits);
                        done(Reply::Unit)
                    }
                    SemaphoreOp::Increase { permits } => {
                        let held: u64 = sem.held.iter().map(|(_, n)| u64::from(*n)).sum();
                        let total = u64::from(sem.available) + held + u64::from(permits);
                        if total > u64::from(u32::MAX) {
                            return Outcome::Done(Err(OpError::InvalidArgument {
                                reason: format!(
                                    "semaphore \"{name}\" would have {total} permits: at most {} allowed",
                                    u32::MAX
                                ),
                            }));
                        }
                        sem.initialized = true;
                        sem.available += permits;
                        done(Reply::Unit)
                    }
                    SemaphoreOp::AvailablePermits => unreachable!("reads are not mutations"),
                    SemaphoreOp::Destroy
                    | SemaphoreOp::TryAcquireLeased { .. }
                    | SemaphoreOp::RenewLease { .. }
                    | SemaphoreOp::ReleaseLeased { .. } => unreachable!("handled above"),
                }
            }
            Op::Latch { name, op } => {
                let count = self.latches.entry(name.clone()).or_insert(0);
                match op {
                    LatchOp::TrySetCount { count: 0 } => invalid("count"),
                    LatchOp::TrySetCount { count: new } => {
                        if *count != 0 {
                            return done(Reply::Bool(false));
                        }
                        *count = new;
                        done(Reply::Bool(true))
                    }
                    LatchOp::CountDown => {
                        *count = count.saturating_sub(1);
                        done(Reply::Unit)
                    }
                    LatchOp::Await { timeout_ms } => {
                        if *count == 0 {
                            done(Reply::Bool(true))
                        } else if timeout_ms == Some(0) {
                            done(Reply::Bool(false))
                        } else {
                            self.wait(
                                session,
                                request,
                                Target::Latch(name),
                                HandleId(0),
                                0,
                                timeout_ms,
                            )
                        }
                    }
                    LatchOp::GetCount => unreachable!("reads are not mutations"),
                    LatchOp::Destroy => unreachable!("destroy is handled above"),
                }
            }
        }
    }

    /// The one grant rule: free locks go to their first waiter (and that
    /// owner's other waiters re-enter), semaphores grant waiters in order
    /// while the first fits, open latches release everyone.
    fn settle(&mut self) {
        let index = self.index;
        let waiters = self.waiters.clone();
        for w in waiters {
            match &w.target {
                Target::Lock(name) => {
                    let lock = self.locks.entry(name.clone()).or_default();
                    let owner = (w.session, w.handle);
                    match lock.holder {
                        None => {
                            lock.holder = Some((owner, 1, index));
                            self.finish(w.session, w.request, Ok(Reply::Fence(Some(Fence(index)))));
                        }
                        Some((o, count, fence))
                            if o == owner
                                && fence == index
                                && (w.amount == 0 || count < w.amount) =>
                        {
                            lock.holder = Some((o, count + 1, fence));
                            self.finish(w.session, w.request, Ok(Reply::Fence(Some(Fence(fence)))));
                        }
                        _ => {}
                    }
                }
                Target::Semaphore(name) => {
                    let head = self
                        .waiters
                        .iter()
                        .find(|o| o.target == w.target)
                        .map(|o| (o.session, o.request));
                    let sem = self.semaphores.entry(name.clone()).or_default();
                    if head == Some((w.session, w.request)) && sem.available >= w.amount {
                        sem.available -= w.amount;
                        add_held(&mut sem.held, (w.session, w.handle), w.amount);
                        self.finish(w.session, w.request, Ok(Reply::Bool(true)));
                    }
                }
                Target::Latch(name) => {
                    if self.latches.get(name).copied().unwrap_or(0) == 0 {
                        self.finish(w.session, w.request, Ok(Reply::Bool(true)));
                    }
                }
            }
        }
    }
}

fn add_held(held: &mut Vec<(Owner, u32)>, owner: Owner, permits: u32) {
    match held.iter_mut().find(|(o, _)| *o == owner) {
        Some((_, n)) => *n += permits,
        None if permits > 0 => held.push((owner, permits)),
        None => {}
    }
}
