//! One client connection's watches: each registered at a linearizable
//! position, then its changes sent as the connection's outbox has room
//! (while it has not, they wait, and coalesce past a bound: `registry`).

use super::registry::Watcher;
use crate::cluster::Cluster;
use crate::driver::ForwardError;
use crate::gateway::outbox::Outbox;
use crate::limits::{WATCH_OUTBOX_BYTES_MAX, WATCH_SEND_RETRY};
use crate::machine::POSITIONS_PER_ENTRY;
use crate::sync::lock;
use raftcp_proto::limits::WATCHES_PER_SESSION_MAX;
use raftcp_proto::{
    Change, Event, ObjectKind, OpError, ServerFrame, WatchEnded, WatchId, WatchRequest,
};
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// One watch of this connection.
#[derive(Debug)]
struct Mine {
    kind: ObjectKind,
    name: String,
    watcher: Arc<Watcher>,
}

type MineById = Arc<Mutex<HashMap<WatchId, Mine>>>;

/// The watches of one client connection; dropping it ends them.
#[derive(Debug)]
pub struct ConnectionWatches {
    cluster: Arc<Cluster>,
    outbox: Outbox,
    mine: MineById,
    /// Wakes `writer` when a watcher has a change.
    wake: Arc<Notify>,
    /// Bytes of changes queued by this connection's watchers.
    queued_bytes: Arc<AtomicUsize>,
    writer: Option<JoinHandle<()>>,
}

impl ConnectionWatches {
    pub fn new(cluster: Arc<Cluster>, outbox: Outbox) -> Self {
        Self {
            cluster,
            outbox,
            mine: MineById::default(),
            wake: Arc::new(Notify::new()),
            queued_bytes: Arc::default(),
            writer: None,
        }
    }

    /// Starts (or, with the same id, restarts) the watch `request`, which
    /// the caller has checked; returns the task that registers it, or
    /// `None` when it is refused at once (the client is told).
    pub fn start(&mut self, request: WatchRequest) -> Option<impl Future<Output = ()> + use<>> {
        let watch = request.watch;
        let watcher = Watcher::new(watch, self.wake.clone(), self.queued_bytes.clone());
        {
            let mut mine = lock(&self.mine);
            if let Some(old) = mine.remove(&watch) {
                self.cluster
                    .watches()
                    .remove(old.kind, &old.name, &old.watcher);
            }
            if mine.len() >= WATCHES_PER_SESSION_MAX {
                let error = OpError::TooManyWatches {
                    max: WATCHES_PER_SESSION_MAX as u64,
                };
                self.outbox.send_frame(&ended(watch, error));
                return None;
            }
            mine.insert(
                watch,
                Mine {
                    kind: request.kind,
                    name: request.name.clone(),
                    watcher: watcher.clone(),
                },
            );
        }
        if self.writer.is_none() {
            let (mine, wake, outbox) = (self.mine.clone(), self.wake.clone(), self.outbox.clone());
            self.writer = Some(tokio::spawn(write_changes(mine, wake, outbox)));
        }
        let (cluster, outbox, mine) =
            (self.cluster.clone(), self.outbox.clone(), self.mine.clone());
        Some(async move {
            if let Err(e) = register(&cluster, &watcher, &request).await {
                let mut mine = lock(&mine);
                if mine
                    .get(&watch)
                    .is_some_and(|m| Arc::ptr_eq(&m.watcher, &watcher))
                {
                    mine.remove(&watch);
                }
                let reason = format!("the watch could not start: {e}");
                outbox.send_frame(&ended(watch, OpError::Unavailable { reason }));
            }
        })
    }

    /// Tells the client that watch `watch` was refused.
    pub fn refuse(&self, watch: WatchId, error: OpError) {
        self.outbox.send_frame(&ended(watch, error));
    }

    /// Ends watch `watch`; changes already queued may still go out.
    pub fn stop(&mut self, watch: WatchId) {
        if let Some(old) = lock(&self.mine).remove(&watch) {
            self.cluster
                .watches()
                .remove(old.kind, &old.name, &old.watcher);
        }
    }
}

impl Drop for ConnectionWatches {
    fn drop(&mut self) {
        for (_, old) in lock(&self.mine).drain() {
            self.cluster
                .watches()
                .remove(old.kind, &old.name, &old.watcher);
        }
        if let Some(writer) = &self.writer {
            writer.abort();
        }
    }
}

fn ended(watch: WatchId, error: OpError) -> ServerFrame {
    ServerFrame::Event(Event::WatchEnded(WatchEnded { watch, error }))
}

/// Registers `watcher` once this member has applied everything the leader
/// had committed when asked (a linearizable read, on this member), and
/// queues the object's state then as the watch's first change. Changes
/// applied after it reach the watcher from the apply loop, in order.
async fn register(
    cluster: &Cluster,
    watcher: &Arc<Watcher>,
    request: &WatchRequest,
) -> Result<(), ForwardError> {
    let read_index = cluster.read_index().await?;
    cluster
        .raft()
        .wait(Some(cluster.settings().request_timeout))
        .applied_index_at_least(Some(read_index), "watch")
        .await
        .map_err(|e| ForwardError::Unavailable(e.to_string()))?;
    let replica = cluster.replica().lock();
    let applied = replica.applied.map_or(0, |log_id| log_id.index);
    // After every place of the entry applied last.
    let position = applied
        .saturating_mul(POSITIONS_PER_ENTRY)
        .saturating_add(POSITIONS_PER_ENTRY - 1);
    let watches = cluster.watches();
    let Some(state) = watches.add(&replica.machine, request.kind, &request.name, watcher) else {
        return Ok(()); // Stopped meanwhile.
    };
    match request.after {
        // The client has seen this position already: nothing since.
        Some(after) if after >= position => {}
        after => watcher.push(Change {
            watch: request.watch,
            position,
            state,
            // A resumed watch cannot tell what happened since `after`.
            jump: after.is_some(),
        }),
    }
    Ok(())
}

/// Sends the watchers' changes as the outbox has room, oldest first per
/// watch.
async fn write_changes(mine: MineById, wake: Arc<Notify>, outbox: Outbox) {
    loop {
        wake.notified().await;
        loop {
            if outbox.queued_bytes() > WATCH_OUTBOX_BYTES_MAX {
                tokio::time::sleep(WATCH_SEND_RETRY).await;
                continue;
            }
            let watchers: Vec<Arc<Watcher>> =
                lock(&mine).values().map(|m| m.watcher.clone()).collect();
            let mut sent = false;
            for watcher in &watchers {
                while outbox.queued_bytes() <= WATCH_OUTBOX_BYTES_MAX {
                    let Some(change) = watcher.take() else {
                        break;
                    };
                    outbox.send_frame(&ServerFrame::Event(Event::Changed(change)));
                    sent = true;
                }
            }
            if !sent {
                break;
            }
        }
    }
}
