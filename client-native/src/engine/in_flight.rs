//! A request the engine has not had a final answer for.

use raftcp_proto::{GroupName, Op};

#[derive(Clone, Debug)]
pub struct InFlight {
    pub group: GroupName,
    pub op: Op,
    /// The caller cancelled it; a Cancel frame follows every resend.
    pub cancelled: bool,
}

impl InFlight {
    pub fn new(group: GroupName, op: Op) -> Self {
        InFlight {
            group,
            op,
            cancelled: false,
        }
    }
}
