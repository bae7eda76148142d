//! Watch: a live, resumable stream of one object's changes (see
//! docs/semantics.md, "Watch"). Variant order is wire format: append only.

use crate::error::OpError;
use crate::ids::Fence;
use crate::name::GroupName;
use crate::value::Value;
use serde::{Deserialize, Serialize};

/// A watch, numbered by the client: unique among the client's watches,
/// kept across reconnects and sessions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct WatchId(pub u64);

/// The kind of a watched object: the same name in two kinds is two objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ObjectKind {
    AtomicLong,
    AtomicReference,
    FencedLock,
    Semaphore,
    CountDownLatch,
}

/// `ClientFrame::Watch`: start (or, after a reconnect, resume) watching.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WatchRequest {
    pub watch: WatchId,
    pub group: GroupName,
    pub kind: ObjectKind,
    pub name: String,
    /// The position of the last change the client delivered, when it
    /// resumes a watch: the server's first change says whether anything
    /// may have been skipped since (`jump`).
    pub after: Option<u64>,
}

/// What anyone may see of an object. Never another session's secrets: a
/// lock says whether it is held and the holder's fence, not who holds it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ObjectState {
    Long(i64),
    Reference(Option<Value>),
    /// `fence`: the holder's while held; `Fence::INVALID` while free.
    Lock {
        held: bool,
        fence: Fence,
    },
    Semaphore {
        available: u32,
    },
    Latch {
        count: u32,
        /// How many times `trySetCount` succeeded.
        round: u32,
    },
    /// The object was destroyed at this position; a later mutation
    /// creates it again (and the watch goes on).
    Destroyed,
}

/// One change of a watched object (in `Event::Changes`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub watch: WatchId,
    /// Where in the log the object reached `state`: `raft index × 1024 +
    /// place in the entry`, as fences are. Increases along a watch.
    pub position: u64,
    pub state: ObjectState,
    /// Changes may have been skipped before this one (a resumed watch, or
    /// a watcher that could not keep up): `state` is current as of
    /// `position`, but the steps to it are not all shown.
    pub jump: bool,
}

/// `Event::WatchEnded`: the server stopped a watch for good.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WatchEnded {
    pub watch: WatchId,
    pub error: OpError,
}
