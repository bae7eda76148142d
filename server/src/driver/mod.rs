//! The driver: what carries the machine's numbered steps (see
//! [`crate::machine`]) out on one member, in one place. Its cycle:
//!
//! 1. **Propose.** A client's command, checked by the gateway, joins the
//!    next batch ([`batcher`]): one Raft entry for many concurrent
//!    commands. [`route`] finds the leader, here or over a peer link,
//!    following hints and retrying through elections until the request
//!    timeout; the leader stamps the command with its clock
//!    ([`crate::clock::LeaderClock`]: machine time advanced by its monotonic clock).
//! 2. **Apply.** When the entry commits, openraft's state machine adapter
//!    (`raft::state_machine`) applies it to the machine exactly once, in
//!    log order, and sends the entry's effects here ([`Applied`]); its
//!    queue is bounded, so delivery that falls behind slows applying.
//!    While it applies, it shows each watched object's new state to that
//!    object's feed ([`crate::watch`]), under the replica's lock, so a
//!    watch registered under that lock misses nothing after its start.
//! 3. **Answer.** The proposer's answer returns along the path of step 1
//!    (a response leaves only after its entry is applied).
//! 4. **Deliver effects.** A waiter granted by someone else's command, or
//!    a session that ended, reaches the connection that holds the session
//!    on this member ([`delivery`]); every member delivers to its own
//!    clients, so followers share the fan-out.
//! 5. **Keep time.** The leader renews every session on taking office and
//!    proposes expiry when deadlines pass on its clock; every member
//!    heartbeats the sessions of its live connections ([`duties`] ticks,
//!    [`delivery`] knows the connections) and watches the state quota.
//! 6. **Step aside when cut off.** A member that hears no quorum closes
//!    its connections so its clients move on ([`cut_off`]); so does one
//!    whose state a snapshot replaced (its clients resend what they wait
//!    on, and resume their watches, each with a `jump`).
//! 7. **Read.** Reads that need no log entry go to the leader, which
//!    answers after a ReadIndex barrier ([`route`]).

mod batcher;
mod cut_off;
mod delivery;
mod duties;
mod route;

pub use crate::raft::state_machine::Applied;
pub use route::ForwardError;

use crate::cluster::Cluster;
use crate::machine::{CommandKind, CommandResponse};
use batcher::Batcher;
use delivery::Holder;
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// What a command the gateway makes up itself counts for in a batch's
/// bytes: the open, resume, cancel or close of one session (a handshake is
/// within the handshake limit).
const SMALL_COMMAND_BYTES: usize = raftcp_proto::limits::HANDSHAKE_BYTES_MAX;

/// One member's driver: its batches and the connections that hold the
/// sessions connected here.
#[derive(Debug)]
pub struct Driver {
    cluster: Arc<Cluster>,
    batcher: Batcher,
    holders: Mutex<HashMap<raftcp_proto::SessionId, Holder>>,
    next_connection: AtomicU64,
}

impl Driver {
    /// The driver of `cluster` and its tasks (which the caller owns):
    /// batching, delivery of what `applied` brings, the timed duties and
    /// the cut-off watch.
    pub fn start(
        cluster: Arc<Cluster>,
        applied: mpsc::Receiver<Applied>,
    ) -> (Arc<Self>, Vec<JoinHandle<()>>) {
        let (batcher, batching) = Batcher::start(cluster.clone());
        let driver = Arc::new(Self {
            cluster,
            batcher,
            holders: Mutex::default(),
            next_connection: AtomicU64::new(1),
        });
        let tasks = vec![
            batching,
            tokio::spawn(driver.clone().deliver_effects(applied)),
            tokio::spawn(duties::run_leader_duties(driver.clone())),
            tokio::spawn(duties::run_heartbeats(driver.clone())),
            tokio::spawn(duties::watch_state_quota(driver.clone())),
            tokio::spawn(cut_off::watch(driver.clone())),
        ];
        (driver, tasks)
    }

    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
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
}
