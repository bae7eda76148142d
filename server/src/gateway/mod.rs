//! The client gateway on `/v1/client`. Each connection runs in
//! [`connection`]; this module keeps what outlives a connection on this
//! node: which connection currently holds each session (so completions
//! reach their client here, whichever member applied the grant first), and
//! the batched heartbeats of every live session connected here.

mod access;
mod admin;
mod batcher;
pub mod connection;
mod duties;
mod in_flight_budget;
pub mod outbox;
mod request;
mod rules;

use crate::cluster::{Cluster, ForwardError};
use crate::machine::{CommandKind, CommandResponse, Effect};
use crate::raft::state_machine::Applied;
use batcher::Batcher;
use outbox::Outbox;
use raftcp_proto::{
    Event, OpError, Reply, RequestId, Response, ServerFrame, SessionId,
    limits::HEARTBEAT_SESSIONS_MAX,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

pub use duties::{run_heartbeats, run_leader_duties, watch_state_quota};

/// What a command the gateway makes up itself counts for in a batch's
/// bytes: the open, resume, cancel or close of one session (a handshake is
/// within the handshake limit).
const SMALL_COMMAND_BYTES: usize = raftcp_proto::limits::HANDSHAKE_BYTES_MAX;

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
struct Holder {
    connection: u64,
    outbox: Outbox,
    /// Monotonic ms of the client's last frame; a silent client (paused
    /// process) stops being heartbeated, so its session can expire.
    last_seen_ms: Arc<AtomicU64>,
    waiting: HashMap<RequestId, Waiting>,
}

#[derive(Debug)]
pub struct Gateway {
    pub cluster: Arc<Cluster>,
    batcher: Batcher,
    holders: Mutex<HashMap<SessionId, Holder>>,
    next_connection: AtomicU64,
    /// Bytes of requests and replies on the way for all clients here.
    in_flight_budget: Arc<in_flight_budget::Budget>,
    /// Bytes queued in every client connection's outbox.
    outbox_bytes: Arc<std::sync::atomic::AtomicUsize>,
}

impl Gateway {
    /// The gateway and its batching task (which the caller owns).
    pub fn new(cluster: Arc<Cluster>) -> (Arc<Self>, tokio::task::JoinHandle<()>) {
        let (batcher, task) = Batcher::start(cluster.clone());
        let gateway = Arc::new(Self {
            cluster,
            batcher,
            holders: Mutex::default(),
            next_connection: AtomicU64::new(1),
            in_flight_budget: in_flight_budget::member_budget(),
            outbox_bytes: Arc::default(),
        });
        (gateway, task)
    }

    /// Proposes a small client-originated command (a session's handshake,
    /// heartbeat, cancel or close), batched with concurrent ones.
    pub async fn propose(&self, kind: CommandKind) -> Result<CommandResponse, ForwardError> {
        self.batcher.propose(kind, SMALL_COMMAND_BYTES).await
    }

    /// Proposes a client's request, `bytes` long on the wire, batched with
    /// concurrent ones up to [`crate::limits::ENTRY_BYTES_MAX`] per entry.
    pub async fn propose_sized(
        &self,
        kind: CommandKind,
        bytes: usize,
    ) -> Result<CommandResponse, ForwardError> {
        self.batcher.propose(kind, bytes).await
    }

    fn holders(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, Holder>> {
        crate::sync::lock(&self.holders)
    }

    fn attach(&self, session: SessionId, outbox: Outbox, last_seen_ms: Arc<AtomicU64>) -> u64 {
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
    fn holds(&self, session: SessionId, connection: u64) -> bool {
        self.holders().get(&session).map(|h| h.connection) == Some(connection)
    }

    fn detach(&self, session: SessionId, connection: u64) {
        let mut holders = self.holders();
        if holders.get(&session).map(|h| h.connection) == Some(connection) {
            holders.remove(&session);
        }
    }

    fn note_waiting(&self, session: SessionId, request: RequestId, kind: usize, since: Instant) {
        if let Some(holder) = self.holders().get_mut(&session) {
            holder.waiting.insert(request, Waiting { kind, since });
        }
    }

    /// Whether `request` of `session` is waiting (being proposed, or queued
    /// in the machine) on a connection of this member.
    fn is_waiting(&self, session: SessionId, request: RequestId) -> bool {
        self.holders()
            .get(&session)
            .is_some_and(|holder| holder.waiting.contains_key(&request))
    }

    fn forget_waiting(&self, session: SessionId, request: RequestId) {
        if let Some(holder) = self.holders().get_mut(&session) {
            holder.waiting.remove(&request);
        }
    }

    /// Delivers the effects of applied entries to the clients connected here.
    pub async fn deliver_effects(self: Arc<Self>, mut applied: mpsc::Receiver<Applied>) {
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
                        .metrics
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
    /// this member is cut off from a quorum (`reachability`).
    pub fn drop_all_connections(&self) {
        for (_, holder) in self.holders().drain() {
            holder.outbox.close(Message::Close(None));
        }
    }

    /// Heartbeats every session whose client was heard from recently, in as
    /// few commands as the limit allows.
    pub async fn heartbeat_live_sessions(&self) {
        let settings = &self.cluster.settings;
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

/// The answer a client sees when no leader could be reached in time. It is
/// retryable: the client resends with the same id.
pub fn unavailable(reason: impl std::fmt::Display) -> Result<Reply, OpError> {
    Err(OpError::Unavailable {
        reason: reason.to_string(),
    })
}
