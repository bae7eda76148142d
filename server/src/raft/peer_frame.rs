//! Frames on the peer link `/v1/raft`. The dialing node sends `Hello`, the
//! two prove membership to each other (see `peer_auth`), and then the dialer
//! sends requests; the accepting node answers each request by id, in any
//! order, so many RPCs share one connection. Variant order is wire format.

use super::peer_auth::{Nonce, Proof};
use super::snapshot_transfer::SnapshotChunk;
use super::{LogId, NodeId, TypeConfig};
use crate::machine::{CommandKind, CommandResponse};
use openraft::raft::{AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse};
use openraft::raft::{VoteRequest, VoteResponse};
use raftcp_proto::{AdminOp, AdminReply, Op, OpError, Reply, SessionId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

#[derive(Debug, Serialize, Deserialize)]
pub enum PeerFrame {
    /// First frame from the dialer: the member it claims to be, the member
    /// it dials and a fresh nonce. The acceptor answers with a `Challenge`,
    /// and with nothing about itself until the dialer has proved membership.
    Hello {
        from: u64,
        to: u64,
        nonce: Nonce,
    },
    /// The acceptor's fresh nonce.
    Challenge {
        nonce: Nonce,
    },
    /// Proof of membership over the whole exchange (see `peer_auth`), with
    /// the prover's data-directory incarnation (see
    /// `storage::known_peers`): the dialer's first, then the acceptor's,
    /// after which the link carries requests.
    Proof {
        incarnation: u64,
        proof: Proof,
    },
    Request {
        id: u64,
        rpc: PeerRpc,
    },
    Response {
        id: u64,
        reply: PeerReply,
    },
}

impl PeerFrame {
    /// The variant, for logs and errors: never the contents.
    pub fn kind(&self) -> &'static str {
        match self {
            PeerFrame::Hello { .. } => "a Hello",
            PeerFrame::Challenge { .. } => "a Challenge",
            PeerFrame::Proof { .. } => "a Proof",
            PeerFrame::Request { .. } => "a Request",
            PeerFrame::Response { .. } => "a Response",
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum PeerRpc {
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<TypeConfig>),
    PreVote(VoteRequest<TypeConfig>),
    /// The next piece of a snapshot (see `snapshot_transfer`).
    Snapshot(SnapshotChunk),
    /// A follower's gateway hands a command to the leader, which stamps the
    /// time and proposes it.
    Propose(CommandKind),
    /// A linearizable read, answered by the leader after a ReadIndex barrier.
    Read {
        session: SessionId,
        op: Op,
    },
    /// An admin operation, carried out by the leader (`crate::admin`).
    Admin(AdminOp),
    /// The leader's read index: every entry committed when the call
    /// began is at or below it (for a follower's local linearizable
    /// read: a watch's first state).
    ReadIndex,
    /// Where this member's log ends, and its voters: what a member
    /// recovering from a lost log tail measures a candidate against
    /// (`crate::recovery`).
    LogEnd,
    /// Where the leader's log ends, once it has confirmed with a quorum
    /// that it still leads: what a recovering member catches up to.
    LeaderLogEnd,
}

#[derive(Debug, Serialize, Deserialize)]
pub enum PeerReply {
    AppendEntries(Result<AppendEntriesResponse<TypeConfig>, String>),
    Vote(Result<VoteResponse<TypeConfig>, String>),
    /// To a snapshot's last chunk, the follower's response; to the others,
    /// `None`.
    Snapshot(Result<Option<SnapshotResponse<TypeConfig>>, String>),
    Proposed(Result<CommandResponse, ForwardError>),
    Read(Result<Result<Reply, OpError>, ForwardError>),
    Admin(Result<Result<AdminReply, OpError>, ForwardError>),
    ReadIndex(Result<u64, ForwardError>),
    LogEnd(LogEnd),
    LeaderLogEnd(Result<Option<LogId>, ForwardError>),
}

/// A member's answer to [`PeerRpc::LogEnd`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogEnd {
    pub last_log_id: Option<LogId>,
    /// The voters of the membership its log holds.
    pub voters: BTreeSet<NodeId>,
}

/// Why a forwarded command or read was not handled.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, thiserror::Error)]
pub enum ForwardError {
    /// This node is not the leader; try `leader` (when known).
    #[error("not the leader (leader: {leader:?})")]
    NotLeader { leader: Option<u64> },
    /// The command may or may not have been applied (leader lost mid-write,
    /// storage failure); callers retry, and deduplication makes that safe.
    #[error("unavailable: {0}")]
    Unavailable(String),
}
