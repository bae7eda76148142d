//! Admin operations ([`raftcp_proto::admin`]), carried out by the leader:
//! membership changes through openraft's joint consensus, views of the
//! members from the leader's replication state, of sessions and objects
//! after a ReadIndex barrier, and closing a session by the same log entry
//! as the client's own `close()`.
//!
//! Membership changes go one at a time (openraft refuses a change while
//! another is under way) and never leave the group unable to commit
//! unless the operator says `force`: a change is refused when fewer of the
//! voters it leaves could be reached from the leader than a majority of
//! them. Nothing removes a member on its own: an unreachable member may
//! only be partitioned.

use crate::cluster::Cluster;
use crate::machine::{CommandKind, CommandResponse};
use crate::raft::peer_frame::{ForwardError, PeerReply, PeerRpc};
use crate::raft::{LogId, NodeId, TypeConfig};
use openraft::async_runtime::WatchReceiver;
use openraft::error::{ClientWriteError, LinearizableReadError, RaftError};
use openraft::{BasicNode, ChangeMembers, RaftMetrics, ReadPolicy};
use raftcp_proto::admin::{
    ADDR_BYTES_MAX, AdminOp, AdminReply, KIND_BYTES_MAX, MEMBERS_MAX, MemberInfo, Members,
    PROMOTE_LAG_MAX,
};
use raftcp_proto::limits::NAME_BYTES_MAX;
use raftcp_proto::{OpError, SessionId};
use std::collections::BTreeSet;
use std::time::Duration;

type AdminResult = Result<AdminReply, OpError>;

fn refused(reason: impl Into<String>) -> OpError {
    OpError::AdminRefused {
        reason: reason.into(),
    }
}

/// Checks what depends on the operation alone, before it is forwarded.
pub fn validate(op: &AdminOp) -> Result<(), OpError> {
    let invalid = |reason: String| Err(OpError::InvalidArgument { reason });
    match op {
        AdminOp::AddLearner { node_id: 0, .. }
        | AdminOp::Promote { node_id: 0, .. }
        | AdminOp::RemoveMember { node_id: 0, .. }
        | AdminOp::TransferLeader { node_id: 0 } => invalid("node id 0 is reserved".into()),
        AdminOp::AddLearner { addr, .. } if addr.len() > ADDR_BYTES_MAX => {
            invalid(format!("an address is at most {ADDR_BYTES_MAX} bytes"))
        }
        AdminOp::AddLearner { addr, .. } => match addr.rsplit_once(':') {
            Some((host, port)) if is_host(host) && port.parse::<u16>().is_ok() => Ok(()),
            // The address ends up in every client's member list as a URL:
            // nothing but a host name or an IP address goes there.
            _ => invalid(format!(
                "\"{}\" is not host:port (a DNS name, an IPv4 address or [an IPv6 address])",
                addr.escape_debug()
            )),
        },
        AdminOp::Objects { prefix, after, .. } => {
            let after = after.as_ref();
            let after_name = after.map_or(0, |key| key.name.len());
            let after_kind = after.map_or(0, |key| key.kind.len());
            match prefix.len().max(after_name) > NAME_BYTES_MAX || after_kind > KIND_BYTES_MAX {
                true => invalid(format!(
                    "a prefix or name is at most {NAME_BYTES_MAX} bytes, a kind \
                     {KIND_BYTES_MAX}"
                )),
                false => Ok(()),
            }
        }
        _ => Ok(()),
    }
}

/// A DNS name, an IPv4 address or a bracketed IPv6 address.
fn is_host(host: &str) -> bool {
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return v6.parse::<std::net::Ipv6Addr>().is_ok();
    }
    !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
}

impl Cluster {
    /// Runs `op` on the leader, wherever it is.
    pub async fn admin(&self, op: AdminOp) -> AdminResult {
        validate(&op)?;
        match self.on_leader(PeerRpc::Admin(op)).await {
            Ok(PeerReply::Admin(Ok(result))) => result,
            Ok(other) => Err(OpError::Unavailable {
                reason: format!("mismatched reply {other:?}"),
            }),
            Err(e) => Err(OpError::Unavailable {
                reason: e.to_string(),
            }),
        }
    }

    /// Runs `op` here, which must lead. Membership changes run one at a
    /// time, each judged on the membership as the one before left it (so a
    /// retry arriving while its first attempt is under way finds it done).
    pub async fn admin_here(&self, op: AdminOp) -> Result<AdminResult, ForwardError> {
        // Also here: a forwarded operation was checked by the member that
        // forwarded it, which this one need not trust.
        if let Err(invalid) = validate(&op) {
            return Ok(Err(invalid));
        }
        let changes_membership = matches!(
            op,
            AdminOp::AddLearner { .. }
                | AdminOp::Promote { .. }
                | AdminOp::RemoveMember { .. }
                | AdminOp::TransferLeader { .. }
        );
        let _one_at_a_time = match changes_membership {
            true => Some(self.membership_changes().lock().await),
            false => None,
        };
        let metrics = self.raft_metrics();
        if !self.leads(&metrics) {
            let leader = metrics.current_leader.filter(|id| *id != self.id());
            return Err(ForwardError::NotLeader { leader });
        }
        match op {
            AdminOp::Members => Ok(Ok(AdminReply::Members(self.members_view(&metrics)))),
            AdminOp::AddLearner { node_id, addr } => {
                self.add_learner(&metrics, node_id, addr).await
            }
            AdminOp::Promote { node_id, force } => self.promote(&metrics, node_id, force).await,
            AdminOp::RemoveMember { node_id, force } => {
                self.remove_member(&metrics, node_id, force).await
            }
            AdminOp::TransferLeader { node_id } => self.transfer_leader(&metrics, node_id).await,
            AdminOp::Sessions { after, limit } => {
                self.after_read_index(|machine| {
                    AdminReply::Sessions(machine.sessions_page(after, limit))
                })
                .await
            }
            AdminOp::Objects {
                prefix,
                after,
                limit,
            } => {
                self.after_read_index(|machine| {
                    AdminReply::Objects(machine.objects_page(&prefix, after.as_ref(), limit))
                })
                .await
            }
            AdminOp::CloseSession { session } => self.close_session(session).await,
        }
    }

    fn members_view(&self, metrics: &RaftMetrics<TypeConfig>) -> Members {
        let membership = metrics.membership_config.membership();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let last_log_index = metrics.last_log_index.unwrap_or(0);
        let replication = metrics.replication.clone().unwrap_or_default();
        let members = membership
            .nodes()
            .map(|(id, node)| {
                let matched = match *id == self.id() {
                    true => metrics.last_log_index,
                    false => replication.get(id).copied().flatten().map(|log| log.index),
                };
                MemberInfo {
                    node_id: *id,
                    addr: node.addr.clone(),
                    voter: voters.contains(id),
                    matched,
                    lag: last_log_index.saturating_sub(matched.unwrap_or(0)),
                    last_heard_ms: match *id == self.id() {
                        true => 0,
                        false => self.peers().silent_for(*id).map_or(u64::MAX, |silent| {
                            u64::try_from(silent.as_millis()).unwrap_or(u64::MAX)
                        }),
                    },
                }
            })
            .collect();
        let index = |log: Option<&LogId>| log.map_or(0, |log| log.index);
        Members {
            leader: self.id(),
            term: metrics.current_term,
            last_log_index,
            committed: index(metrics.local_committed.as_ref()),
            applied: index(metrics.last_applied.as_ref()),
            changing: membership.get_joint_config().len() > 1,
            members,
        }
    }

    async fn add_learner(
        &self,
        metrics: &RaftMetrics<TypeConfig>,
        node_id: NodeId,
        addr: String,
    ) -> Result<AdminResult, ForwardError> {
        let membership = metrics.membership_config.membership();
        if let Some(node) = membership.get_node(&node_id) {
            return Ok(match node.addr == addr {
                true => Ok(AdminReply::Done), // A retry.
                false => Err(refused(format!(
                    "node {node_id} is already a member, at {}; remove it first",
                    node.addr
                ))),
            });
        }
        if let Some((other, _)) = membership.nodes().find(|(_, node)| node.addr == addr) {
            return Ok(Err(refused(format!("node {other} is at {addr} already"))));
        }
        if membership.nodes().count() >= MEMBERS_MAX {
            let reason = format!("a group has at most {MEMBERS_MAX} members; remove one first");
            return Ok(Err(refused(reason)));
        }
        // Not blocking: a learner far behind catches up (by snapshot) while
        // the caller watches its lag in `members`.
        let added = self
            .raft()
            .add_learner(node_id, BasicNode { addr }, false)
            .await;
        self.changed(added)
    }

    async fn promote(
        &self,
        metrics: &RaftMetrics<TypeConfig>,
        node_id: NodeId,
        force: bool,
    ) -> Result<AdminResult, ForwardError> {
        let membership = metrics.membership_config.membership();
        let mut voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        if voters.contains(&node_id) {
            return Ok(Ok(AdminReply::Done)); // A retry.
        }
        if membership.get_node(&node_id).is_none() {
            let reason = format!("node {node_id} is not a member; add it as a learner first");
            return Ok(Err(refused(reason)));
        }
        let view = self.members_view(metrics);
        if !force && let Err(reason) = caught_up(&view, node_id) {
            return Ok(Err(refused(format!("{reason}: wait for it, or force"))));
        }
        voters.insert(node_id);
        if let Err(reason) = self.keeps_majority(&view, &voters, force) {
            return Ok(Err(refused(reason)));
        }
        let ids = BTreeSet::from([node_id]);
        let changed = self
            .raft()
            .change_membership(ChangeMembers::AddVoterIds(ids), false)
            .await;
        self.changed(changed)
    }

    async fn remove_member(
        &self,
        metrics: &RaftMetrics<TypeConfig>,
        node_id: NodeId,
        force: bool,
    ) -> Result<AdminResult, ForwardError> {
        let membership = metrics.membership_config.membership();
        if membership.get_node(&node_id).is_none() {
            return Ok(Ok(AdminReply::Done)); // Gone already: a retry.
        }
        let mut voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let ids = BTreeSet::from([node_id]);
        let change = match voters.remove(&node_id) {
            false => ChangeMembers::RemoveNodes(ids),
            true if voters.is_empty() => {
                return Ok(Err(refused(format!(
                    "node {node_id} is the last voter; a group needs one"
                ))));
            }
            true => {
                let view = self.members_view(metrics);
                if let Err(reason) = self.keeps_majority(&view, &voters, force) {
                    return Ok(Err(refused(reason)));
                }
                ChangeMembers::RemoveVoters(ids)
            }
        };
        // `retain: false`: a removed voter does not stay on as a learner.
        let changed = self.raft().change_membership(change, false).await;
        self.changed(changed)
    }

    /// Whether the leader reaches a majority of `voters` (itself included)
    /// that can help it commit now: heard from lately and caught up. The
    /// reason it does not, unless `force`.
    fn keeps_majority(
        &self,
        view: &Members,
        voters: &BTreeSet<NodeId>,
        force: bool,
    ) -> Result<(), String> {
        let limit = self.settings().cut_off_after;
        let reachable = voters
            .iter()
            .filter(|id| {
                **id == self.id()
                    || (self.peers().heard_within(**id, limit) && caught_up(view, **id).is_ok())
            })
            .count();
        let majority = voters.len() / 2 + 1;
        if reachable >= majority || force {
            return Ok(());
        }
        Err(format!(
            "after this change {reachable} of the {} voters would be reachable from the \
             leader, fewer than the {majority} needed to commit: the group would stop \
             serving until more come back. Force it only if the others are gone for good",
            voters.len()
        ))
    }

    async fn transfer_leader(
        &self,
        metrics: &RaftMetrics<TypeConfig>,
        node_id: NodeId,
    ) -> Result<AdminResult, ForwardError> {
        if node_id == self.id() {
            return Ok(Ok(AdminReply::Done));
        }
        let membership = metrics.membership_config.membership();
        if !membership.voter_ids().any(|id| id == node_id) {
            return Ok(Err(refused(format!("node {node_id} is not a voter"))));
        }
        // This leader stops taking writes as soon as it hands over: a
        // successor that cannot take office would leave the group without
        // a leader until an election.
        let view = self.members_view(metrics);
        let heard = self
            .peers()
            .heard_within(node_id, self.settings().cut_off_after);
        let ready = caught_up(&view, node_id).and_then(|()| match heard {
            true => Ok(()),
            false => Err(format!("node {node_id} was not heard from lately")),
        });
        if let Err(reason) = ready {
            return Ok(Err(refused(reason)));
        }
        self.raft()
            .trigger()
            .transfer_leader(node_id)
            .await
            .map_err(|e| ForwardError::Unavailable(e.to_string()))?;
        // Answered once it took office, so the caller sees the outcome.
        let took_office = async {
            let mut server = self.raft().server_metrics();
            while server.borrow_and_update().current_leader != Some(node_id) {
                if server.changed().await.is_err() {
                    return false; // Raft stopped.
                }
            }
            true
        };
        match tokio::time::timeout(TRANSFER_WAIT, took_office).await {
            Ok(true) => Ok(Ok(AdminReply::Done)),
            _ => Ok(Err(refused(format!(
                "node {node_id} did not take office within {TRANSFER_WAIT:?}"
            )))),
        }
    }

    async fn close_session(&self, session: SessionId) -> Result<AdminResult, ForwardError> {
        Ok(
            match self
                .propose_here(CommandKind::CloseSession { session })
                .await?
            {
                CommandResponse::Done => Ok(AdminReply::Bool(true)),
                CommandResponse::Refused(OpError::SessionExpired { .. }) => {
                    Ok(AdminReply::Bool(false))
                }
                CommandResponse::Refused(e) => Err(e),
                other => Err(OpError::Unavailable {
                    reason: format!("unexpected answer {other:?}"),
                }),
            },
        )
    }

    /// `view` of the machine once it has applied everything committed when
    /// the call began (ReadIndex on this leader).
    async fn after_read_index(
        &self,
        view: impl FnOnce(&crate::machine::Machine) -> AdminReply,
    ) -> Result<AdminResult, ForwardError> {
        match self.raft().ensure_linearizable(ReadPolicy::ReadIndex).await {
            Ok(_) => Ok(Ok(view(&self.replica().lock().machine))),
            Err(RaftError::APIError(LinearizableReadError::ForwardToLeader(forward))) => {
                Err(ForwardError::NotLeader {
                    leader: forward.leader_id.filter(|id| *id != self.id()),
                })
            }
            Err(e) => Err(ForwardError::Unavailable(e.to_string())),
        }
    }

    /// The outcome of a membership change.
    fn changed<T>(
        &self,
        result: Result<T, RaftError<TypeConfig, ClientWriteError<TypeConfig>>>,
    ) -> Result<AdminResult, ForwardError> {
        match result {
            Ok(_) => Ok(Ok(AdminReply::Done)),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(forward))) => {
                Err(ForwardError::NotLeader {
                    leader: forward.leader_id.filter(|id| *id != self.id()),
                })
            }
            Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(e))) => {
                Ok(Err(refused(e.to_string())))
            }
            Err(e) => Err(ForwardError::Unavailable(e.to_string())),
        }
    }
}

/// Whether the leader holds that `node` has (nearly) all of its log.
fn caught_up(view: &Members, node: NodeId) -> Result<(), String> {
    let member = view.members.iter().find(|member| member.node_id == node);
    match member {
        Some(MemberInfo {
            matched: Some(_),
            lag,
            ..
        }) if *lag <= PROMOTE_LAG_MAX => Ok(()),
        Some(MemberInfo {
            matched: Some(_),
            lag,
            ..
        }) => Err(format!(
            "node {node} is {lag} entries behind the leader (at most {PROMOTE_LAG_MAX})"
        )),
        Some(_) => Err(format!("node {node} has not received the log yet")),
        None => Err(format!("node {node} is not a member")),
    }
}

/// How long `transfer-leader` waits for the new leader to take office.
const TRANSFER_WAIT: Duration = Duration::from_secs(5);
