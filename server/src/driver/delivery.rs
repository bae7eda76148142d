//! Step 4 of the driver: which connection on this member holds each
//! session, so that the effects of applied entries (a waiter granted by
//! another client's command, a session that ended) reach their client here,
//! whichever member applied them first; and the sessions whose clients
//! were heard from lately, which this member heartbeats.

use super::{Applied, Driver};
use crate::gateway::outbox::Outbox;
use crate::machine::{CommandKind, CommandResponse, Effect};
use raftcp_proto::limits::HEARTBEAT_SESSIONS_MAX;
use raftcp_proto::{Event, RequestId, Response, ServerFrame, SessionId};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// A session id is a postcard varint of at most ten bytes.
const SESSION_ID_BYTES_MAX: usize = 10;

/// A request that is waiting in the machine, kept for metrics.
#[derive(Debug)]
struct Waiting {
    kind: usize,
    since: Instant,
}

/// The connection currently holding a session.
#[derive(Debug)]
pub(super) struct Holder {
    connection: u64,
    outbox: Outbox,
    /// Monotonic ms of the client's last frame; a silent client (paused
    /// process) stops being heartbeated, so its session can expire.
    last_seen_ms: Arc<AtomicU64>,
    waiting: HashMap<RequestId, Waiting>,
}

impl Driver {
    fn holders(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, Holder>> {
        crate::sync::lock(&self.holders)
    }

    /// Makes a new connection the holder of `session` (replacing an older
    /// one) and returns the connection's number.
    pub fn attach(&self, session: SessionId, outbox: Outbox, last_seen_ms: Arc<AtomicU64>) -> u64 {
        let connection = self.next_connection.fetch_add(1, Ordering::Relaxed);
        let holder = Holder {
            connection,
            outbox,
            last_seen_ms,
            waiting: HashMap::new(),
        };
        // A newer connection for the same session replaces an older one.
        self.holders().insert(session, holder);
        connection
    }

    /// Whether `connection` still holds `session` (it stops when the session
    /// ends or another connection resumes it).
    pub fn holds(&self, session: SessionId, connection: u64) -> bool {
        self.holders().get(&session).map(|h| h.connection) == Some(connection)
    }

    pub fn detach(&self, session: SessionId, connection: u64) {
        let mut holders = self.holders();
        if holders.get(&session).map(|h| h.connection) == Some(connection) {
            holders.remove(&session);
        }
    }

    pub fn note_waiting(
        &self,
        session: SessionId,
        request: RequestId,
        kind: usize,
        since: Instant,
    ) {
        if let Some(holder) = self.holders().get_mut(&session) {
            holder.waiting.insert(request, Waiting { kind, since });
        }
    }

    /// Whether `request` of `session` is waiting (being proposed, or queued
    /// in the machine) on a connection of this member.
    pub fn is_waiting(&self, session: SessionId, request: RequestId) -> bool {
        self.holders()
            .get(&session)
            .is_some_and(|holder| holder.waiting.contains_key(&request))
    }

    pub fn forget_waiting(&self, session: SessionId, request: RequestId) {
        if let Some(holder) = self.holders().get_mut(&session) {
            holder.waiting.remove(&request);
        }
    }

    /// Delivers the effects of applied entries to the clients connected here.
    pub(super) async fn deliver_effects(self: Arc<Self>, mut applied: mpsc::Receiver<Applied>) {
        while let Some(applied) = applied.recv().await {
            match applied {
                Applied::Effects(effects) => {
                    for effect in effects {
                        self.deliver(effect);
                    }
                }
                Applied::Replaced => self.drop_all_connections(),
            }
        }
    }

    fn deliver(&self, effect: Effect) {
        let mut holders = self.holders();
        match effect {
            Effect::Completed(done) => {
                let Some(holder) = holders.get_mut(&done.session) else {
                    return; // Not connected here; a resend will fetch the cached answer.
                };
                if let Some(waiting) = holder.waiting.remove(&done.request) {
                    let ok = done.result.is_ok();
                    self.cluster
                        .metrics()
                        .record(waiting.kind, ok, waiting.since.elapsed());
                }
                let frame = ServerFrame::Response(Response {
                    id: done.request,
                    result: done.result,
                });
                holder.outbox.send_frame(&frame);
            }
            Effect::SessionEnded(session) => {
                if let Some(holder) = holders.remove(&session) {
                    holder
                        .outbox
                        .send_frame(&ServerFrame::Event(Event::SessionExpired { session }));
                }
            }
        }
    }

    /// Closes every client connection: each client reconnects and resends
    /// what it waits on, and the machine answers resends from its cache or
    /// keeps them waiting. Done when a snapshot replaced this replica (the
    /// completions of the entries it skipped were never seen here) and when
    /// this member is cut off from a quorum (`cut_off`).
    pub fn drop_all_connections(&self) {
        for (_, holder) in self.holders().drain() {
            holder.outbox.close(Message::Close(None));
        }
    }

    /// Heartbeats every session whose client was heard from recently, in as
    /// few commands as the limit allows.
    pub(super) async fn heartbeat_live_sessions(&self) {
        let settings = self.cluster.settings();
        let cutoff = crate::clock::monotonic_ms().saturating_sub(2 * settings.heartbeat_ms);
        let live: Vec<SessionId> = self
            .holders()
            .iter()
            .filter(|(_, h)| h.last_seen_ms.load(Ordering::Relaxed) >= cutoff)
            .map(|(session, _)| *session)
            .collect();
        for batch in live.chunks(HEARTBEAT_SESSIONS_MAX) {
            let kind = CommandKind::Heartbeat {
                sessions: batch.to_vec(),
            };
            let bytes = batch.len() * SESSION_ID_BYTES_MAX;
            if let Ok(CommandResponse::Heartbeat { unknown }) =
                self.propose_sized(kind, bytes).await
            {
                for session in unknown {
                    self.deliver(Effect::SessionEnded(session));
                }
            }
        }
    }
}
