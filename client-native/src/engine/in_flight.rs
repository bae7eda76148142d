//! A request the engine has not had a final answer for.

use raftcp_proto::{ClientFrame, GroupName, Op, Request, RequestId};

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

    /// The request frame that sends it as `id`, with the engine's current
    /// acknowledgement.
    pub fn frame(
        &self,
        id: RequestId,
        acked_below: RequestId,
        acked_except: Vec<RequestId>,
    ) -> ClientFrame {
        ClientFrame::Request(Request {
            id,
            group: self.group.clone(),
            acked_below,
            acked_except,
            op: self.op.clone(),
        })
    }
}
