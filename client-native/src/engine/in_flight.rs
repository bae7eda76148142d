//! A request the engine has not had a final answer for.

use raftcp_proto::{AdminOp, ClientFrame, GroupName, Op, Request, RequestId};

#[derive(Clone, Debug)]
pub struct InFlight {
    pub payload: Payload,
    /// The caller cancelled it; a Cancel frame follows every resend.
    pub cancelled: bool,
}

/// What a request asks.
#[derive(Clone, Debug)]
pub enum Payload {
    /// An operation on an object of a group.
    Op {
        /// The object's group.
        group: GroupName,
        /// What to do to it.
        op: Op,
    },
    /// An admin operation.
    Admin(AdminOp),
}

impl InFlight {
    pub fn new(payload: Payload) -> Self {
        InFlight {
            payload,
            cancelled: false,
        }
    }

    /// Whether it may wait in the machine (and so stay unanswered while
    /// later requests are answered).
    pub fn may_wait(&self) -> bool {
        match &self.payload {
            Payload::Op { op, .. } => op.may_wait(),
            Payload::Admin(_) => false,
        }
    }

    /// The frame that sends it as `id`, with the engine's current
    /// acknowledgement (which admin operations, never cached by the
    /// server, do not carry).
    pub fn frame(
        &self,
        id: RequestId,
        acked_below: RequestId,
        acked_except: Vec<RequestId>,
    ) -> ClientFrame {
        match &self.payload {
            Payload::Op { group, op } => ClientFrame::Request(Request {
                id,
                group: group.clone(),
                acked_below,
                acked_except,
                op: op.clone(),
            }),
            Payload::Admin(op) => ClientFrame::Admin { id, op: op.clone() },
        }
    }
}
