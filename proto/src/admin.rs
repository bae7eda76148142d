//! Operating a cluster from a client: its members and their changes, its
//! sessions, its objects. Sent as [`crate::ClientFrame::Admin`] on a
//! session like any request, answered with [`crate::Reply::Admin`]; only
//! tokens with the `admin` rule may send them (anonymous clients of a
//! member that checks no tokens may). They are carried out by the leader
//! and never enter the log as such: a membership change is Raft's own
//! entry, closing a session is the same entry as the client's `close()`.
//!
//! Retries are safe: adding a learner that is already one (at the same
//! address), promoting a voter, removing a node that is gone and closing
//! a session that ended all succeed without changing anything.
//!
//! Variant order is wire format: append only.

use crate::ids::SessionId;
use crate::limits::{CLIENT_NAME_BYTES_MAX, FRAME_BYTES_MAX, NAME_BYTES_MAX};
use serde::{Deserialize, Serialize};

/// Most sessions in one page of [`AdminOp::Sessions`]: with a client name
/// and [`LISTED_PER_SESSION_MAX`] holds and waits each, a page fits a frame.
pub const SESSIONS_PAGE_MAX: u32 = 64;
/// Most objects in one page of [`AdminOp::Objects`].
pub const OBJECTS_PAGE_MAX: u32 = 500;
/// Most holds (and, apart, waits) listed per session; more are summed up
/// in one last item (`… and N more`).
pub const LISTED_PER_SESSION_MAX: usize = 8;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AdminOp {
    /// -> [`AdminReply::Members`].
    Members,
    /// Adds `node_id` at `addr` (`host:port`) as a learner: it receives the
    /// log (or a snapshot) but does not vote. -> `Done`.
    AddLearner { node_id: u64, addr: String },
    /// Makes a learner a voter. Refused while it lags behind the leader
    /// by more than [`PROMOTE_LAG_MAX`] entries unless `force`. -> `Done`.
    Promote { node_id: u64, force: bool },
    /// Removes a voter or learner. Refused, unless `force`, when fewer
    /// voters than a majority of those left would be reachable from the
    /// leader. -> `Done`.
    RemoveMember { node_id: u64, force: bool },
    /// Asks the leader to hand leadership to the voter `node_id`. -> `Done`.
    TransferLeader { node_id: u64 },
    /// Sessions in id order, from the first after `after`. -> `Sessions`.
    Sessions {
        after: Option<SessionId>,
        limit: u32,
    },
    /// Ends `session` as its `close()` would: what it holds is released, its
    /// waits fail. -> `Bool(whether it was open)`.
    CloseSession { session: SessionId },
    /// Objects whose name starts with `prefix`, ordered by name then kind,
    /// from the first after `after`. -> `Objects`.
    Objects {
        prefix: String,
        after: Option<ObjectKey>,
        limit: u32,
    },
}

/// How far (in log entries) a learner may lag when it is promoted.
pub const PROMOTE_LAG_MAX: u64 = 1_000;

/// The most members (voters and learners) a group may have: each costs the
/// leader a replication stream, and every `Welcome` lists them all.
pub const MEMBERS_MAX: usize = 16;
/// The longest member address (`host:port`).
pub const ADDR_BYTES_MAX: usize = 256;
/// The longest object kind name in an [`ObjectKey`].
pub const KIND_BYTES_MAX: usize = 16;

// Every reply fits a frame, with room for its envelope: a session's entry
// is its name and up to `LISTED_PER_SESSION_MAX` holds and as many waits
// (an object name each, with a few words), an object's its name, kind and
// summary, a member's its address.
const ENTRY_OVERHEAD: usize = 64;
const SESSION_BYTES_MAX: usize =
    CLIENT_NAME_BYTES_MAX + 2 * (LISTED_PER_SESSION_MAX + 1) * (NAME_BYTES_MAX + ENTRY_OVERHEAD);
const OBJECT_BYTES_MAX: usize =
    NAME_BYTES_MAX + KIND_BYTES_MAX + SUMMARY_BYTES_MAX + ENTRY_OVERHEAD;
const _: () = assert!((SESSIONS_PAGE_MAX as usize) * SESSION_BYTES_MAX < FRAME_BYTES_MAX / 2);
const _: () = assert!((OBJECTS_PAGE_MAX as usize) * OBJECT_BYTES_MAX < FRAME_BYTES_MAX / 2);
const _: () = assert!(MEMBERS_MAX * (ADDR_BYTES_MAX + ENTRY_OVERHEAD) < FRAME_BYTES_MAX / 2);

/// The longest object summary in an [`ObjectInfo`] (a reference's value
/// is cut there).
pub const SUMMARY_BYTES_MAX: usize = 120;

/// What an admin operation returns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AdminReply {
    Done,
    Bool(bool),
    Members(Members),
    Sessions(Vec<SessionInfo>),
    Objects(Vec<ObjectInfo>),
}

/// The group's members as the leader sees them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Members {
    pub leader: u64,
    pub term: u64,
    /// The leader's last log index, commit index and applied index.
    pub last_log_index: u64,
    pub committed: u64,
    pub applied: u64,
    /// A membership change is under way (joint consensus).
    pub changing: bool,
    pub members: Vec<MemberInfo>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberInfo {
    pub node_id: u64,
    pub addr: String,
    pub voter: bool,
    /// The last log index the leader knows this member holds (`None`:
    /// nothing yet); the leader's own is its last log index.
    pub matched: Option<u64>,
    /// Entries behind the leader's last log index.
    pub lag: u64,
    /// Milliseconds since the leader last heard from it (0 for itself).
    pub last_heard_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub session: SessionId,
    pub client_name: String,
    /// Milliseconds until it expires without a heartbeat.
    pub expires_in_ms: u64,
    /// Objects it holds: `lock "name"` or `semaphore "name" ×permits`.
    pub holds: Vec<String>,
    /// Objects it waits on, the same way.
    pub waits: Vec<String>,
}

/// An object's identity: its kind (`long`, `reference`, `lock`,
/// `semaphore`, `latch`) and name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ObjectKey {
    pub name: String,
    pub kind: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectInfo {
    pub key: ObjectKey,
    /// One line: a long's value, a lock's holder and fence, permits, counts.
    pub summary: String,
    pub waiters: u32,
}
