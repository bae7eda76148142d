//! Identifier newtypes. All are `u64` on the wire (postcard varints).

use core::fmt;
use serde::{Deserialize, Serialize};

/// A client session. Its value is the log position of the command that
/// opened it (as for [`Fence`]), so ids are unique for the life of a group
/// and never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SessionId(pub u64);

/// What a client must present to resume its session: 128 random bits,
/// chosen by the member that opened the session and sent only to its
/// client (replicas keep only a hash). A session id alone is no longer
/// enough to act in a session.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ResumeSecret(pub [u8; 16]);

/// Never shown: logs and debug output must not leak it.
impl fmt::Debug for ResumeSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResumeSecret(..)")
    }
}

/// A request within a session. Mutating requests are deduplicated by
/// `(SessionId, RequestId)`, so a retry reuses the id of the first attempt.
/// Ids grow by one per request; gaps are allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RequestId(pub u64);

/// An ownership handle inside a session: each `get_fenced_lock` or
/// `get_semaphore` call gets its own, so two handles in one process exclude
/// each other.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct HandleId(pub u64);

/// A fencing token: the log position of the command that granted a lock
/// (`raft index × 1024 + place in the entry's batch`, see the server's
/// `machine::POSITIONS_PER_ENTRY`). Strictly increasing across every grant
/// of a group, whatever the lock, including a lock destroyed and created
/// again under its name; [`Fence::INVALID`] is 0.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Fence(pub u64);

impl Fence {
    /// No lock is held (Hazelcast's `INVALID_FENCE`).
    pub const INVALID: Fence = Fence(0);
}

macro_rules! display_inner {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
    )*};
}
display_inner!(SessionId, RequestId, HandleId, Fence);
