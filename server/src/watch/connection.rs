//! One client connection's watches: each registered at a linearizable
//! position, then its changes sent as the connection's outbox has room
//! (while it has not, its cursor waits: `registry`), and only while the
//! connection's access still allows reading the object (a token that
//! expired or was replaced by a narrower one ends them).

use super::feed::state_bytes;
use super::read_op;
use super::registry::Watcher;
use crate::cluster::Cluster;
use crate::driver::ForwardError;
use crate::gateway::access::Access;
use crate::gateway::outbox::Outbox;
use crate::limits::{WATCH_FRAME_BYTES_TARGET, WATCH_OUTBOX_BYTES_MAX, WATCH_SEND_RETRY};
use crate::machine::POSITIONS_PER_ENTRY;
use crate::sync::lock;
use raftcp_proto::limits::{CHANGES_PER_FRAME_MAX, WATCHES_PER_SESSION_MAX};
use raftcp_proto::{
    Change, Event, GroupName, ObjectKind, OpError, ServerFrame, WatchEnded, WatchId, WatchRequest,
};
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// What the connection and its writer share.
#[derive(Debug)]
struct Shared {
    cluster: Arc<Cluster>,
    outbox: Outbox,
    mine: Mutex<HashMap<WatchId, Arc<Watcher>>>,
    /// What the connection's token allows now.
    access: Mutex<Access>,
}

impl Shared {
    /// Ends `watcher`'s watch for `error`, unless a newer watch with its
    /// id replaced it meanwhile.
    fn end_watcher(&self, watcher: &Arc<Watcher>, error: OpError) {
        let current = lock(&self.mine)
            .get(&watcher.watch)
            .is_some_and(|current| Arc::ptr_eq(current, watcher));
        if current {
            self.end(watcher.watch, Some(error));
        }
    }

    /// Ends watch `watch` on the member; with `error`, tells the client.
    fn end(&self, watch: WatchId, error: Option<OpError>) {
        if let Some(old) = lock(&self.mine).remove(&watch) {
            self.cluster.watches().remove(&old);
        }
        if let Some(error) = error {
            let ended = Event::WatchEnded(WatchEnded { watch, error });
            self.outbox.send_frame(&ServerFrame::Event(ended));
        }
    }
}

/// The watches of one client connection; dropping it ends them.
#[derive(Debug)]
pub struct ConnectionWatches {
    shared: Arc<Shared>,
    /// This connection's number among the member's watching ones.
    id: u64,
    /// Wakes `writer` when a watcher has a change.
    wake: Arc<Notify>,
    /// Registrations under way (each a leader round trip).
    registering: Arc<AtomicUsize>,
    writer: Option<JoinHandle<()>>,
}

impl ConnectionWatches {
    pub fn new(cluster: Arc<Cluster>, outbox: Outbox, access: Access) -> Self {
        Self {
            id: cluster.watches().connection_id(),
            shared: Arc::new(Shared {
                cluster,
                outbox,
                mine: Mutex::default(),
                access: Mutex::new(access),
            }),
            wake: Arc::new(Notify::new()),
            registering: Arc::default(),
            writer: None,
        }
    }

    /// The connection's access changed (a fresh token): changes are sent
    /// under it from now on.
    pub fn set_access(&self, access: Access) {
        *lock(&self.shared.access) = access;
    }

    /// Starts (or, with the same id, restarts) the watch `request`, which
    /// the caller has checked; returns the task that registers it, or
    /// `None` when it is refused at once (the client is told).
    pub fn start(&mut self, request: WatchRequest) -> Option<impl Future<Output = ()> + use<>> {
        let watch = request.watch;
        let shared = &self.shared;
        shared.end(watch, None);
        let too_many = OpError::TooManyWatches {
            max: WATCHES_PER_SESSION_MAX as u64,
        };
        if self.registering.load(Ordering::Relaxed) >= WATCHES_PER_SESSION_MAX {
            shared.end(watch, Some(too_many));
            return None;
        }
        let target = (request.kind, request.name.as_str());
        let connection = (self.id, self.wake.clone());
        let watcher = shared.cluster.watches().watcher(watch, target, connection);
        {
            let mut mine = lock(&shared.mine);
            if mine.len() >= WATCHES_PER_SESSION_MAX {
                drop(mine);
                shared.end(watch, Some(too_many));
                return None;
            }
            mine.insert(watch, watcher.clone());
        }
        if self.writer.is_none() {
            let writer = write_changes(shared.clone(), self.wake.clone());
            self.writer = Some(tokio::spawn(writer));
        }
        let shared = shared.clone();
        let registering = Registering::start(&self.registering);
        Some(async move {
            let _registering = registering;
            if let Err(error) = register(&shared.cluster, &watcher, &request).await {
                shared.end_watcher(&watcher, error);
            }
        })
    }

    /// Tells the client that watch `watch` was refused.
    pub fn refuse(&self, watch: WatchId, error: OpError) {
        self.shared.end(watch, Some(error));
    }

    /// Ends watch `watch`; its changes not yet sent are dropped.
    pub fn stop(&self, watch: WatchId) {
        self.shared.end(watch, None);
    }
}

impl Drop for ConnectionWatches {
    fn drop(&mut self) {
        let watches = self.shared.cluster.watches();
        for (_, old) in lock(&self.shared.mine).drain() {
            watches.remove(&old);
        }
        if let Some(writer) = &self.writer {
            writer.abort();
        }
    }
}

/// Counts a registration under way until dropped.
#[derive(Debug)]
struct Registering(Arc<AtomicUsize>);

impl Registering {
    fn start(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Registering(count.clone())
    }
}

impl Drop for Registering {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Registers `watcher` once this member has applied everything the leader
/// had committed when asked (a linearizable read, on this member): the
/// object's state then is the watch's first change, and changes applied
/// after it reach the watcher from the apply loop, in order.
async fn register(
    cluster: &Cluster,
    watcher: &Arc<Watcher>,
    request: &WatchRequest,
) -> Result<(), OpError> {
    let unavailable = |e: ForwardError| OpError::Unavailable {
        reason: format!("the watch could not start: {e}"),
    };
    let read_index = cluster.read_index().await.map_err(unavailable)?;
    cluster
        .raft()
        .wait(Some(cluster.settings().request_timeout))
        .applied_index_at_least(Some(read_index), "watch")
        .await
        .map_err(|e| unavailable(ForwardError::Unavailable(e.to_string())))?;
    let replica = cluster.replica().lock();
    let applied = replica.applied.map_or(0, |log_id| log_id.index);
    // After every place of the entry applied last.
    let position = applied
        .saturating_mul(POSITIONS_PER_ENTRY)
        .saturating_add(POSITIONS_PER_ENTRY - 1);
    cluster
        .watches()
        .add(&replica.machine, watcher, position, request.after)
}

/// Sends the watchers' changes as the outbox has room, oldest first per
/// watch, each while the connection may still read its object: as many
/// as are ready in each frame, up to a bound.
async fn write_changes(shared: Arc<Shared>, wake: Arc<Notify>) {
    let outbox = &shared.outbox;
    // Which watcher goes first in the next frame, so none waits behind
    // another that always has changes ready.
    let mut turn = 0usize;
    loop {
        wake.notified().await;
        loop {
            if outbox.queued_bytes() > WATCH_OUTBOX_BYTES_MAX {
                tokio::time::sleep(WATCH_SEND_RETRY).await;
                continue;
            }
            let mut watchers: Vec<Arc<Watcher>> = lock(&shared.mine).values().cloned().collect();
            let first = turn % watchers.len().max(1);
            watchers.rotate_left(first);
            turn = turn.wrapping_add(1);
            let batch = gather(&shared, &watchers);
            if batch.is_empty() {
                break;
            }
            outbox.send_frame(&ServerFrame::Event(Event::Changes(batch)));
        }
    }
}

/// The changes for the next frame: each watcher's ready ones in turn,
/// until the frame is full.
fn gather(shared: &Shared, watchers: &[Arc<Watcher>]) -> Vec<Change> {
    let mut batch = Vec::new();
    let mut bytes = 0;
    for watcher in watchers {
        let mut checked = false;
        while batch.len() < CHANGES_PER_FRAME_MAX && bytes < WATCH_FRAME_BYTES_TARGET {
            let Some(change) = watcher.take() else {
                break;
            };
            if !checked {
                if let Err(refused) = allowed(shared, watcher.kind(), watcher.name()) {
                    shared.end_watcher(watcher, refused);
                    break;
                }
                checked = true;
            }
            bytes += state_bytes(&change.state);
            batch.push(change);
        }
    }
    batch
}

/// Whether the connection's access still lets it read the object.
fn allowed(shared: &Shared, kind: ObjectKind, name: &str) -> Result<(), OpError> {
    let access = lock(&shared.access);
    match &*access {
        Access::Anonymous => Ok(()),
        access => access.check(&read_op(kind, name), &GroupName::default_group()),
    }
}
