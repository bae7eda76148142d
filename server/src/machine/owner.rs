//! Who holds a lock or permits: a handle inside a session.

use raftcp_proto::{HandleId, RequestId, SessionId};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Owner {
    pub session: SessionId,
    pub handle: HandleId,
}

/// A waiter granted in some apply: the machine turns it into a completion.
#[derive(Clone, Debug, PartialEq)]
pub struct Grant<R> {
    pub session: SessionId,
    pub request: RequestId,
    pub reply: R,
}
