//! [`Admin`]: a cluster's members, sessions and objects, for operators
//! and dashboards (`raftcp admin` uses it).

use crate::client::{Client, unexpected};
use crate::error::Result;
use raftcp_proto::admin::{
    AdminOp, AdminReply, Members, OBJECTS_PAGE_MAX, ObjectInfo, ObjectKey, SESSIONS_PAGE_MAX,
    SessionInfo,
};
use raftcp_proto::{Reply, SessionId};

/// Admin operations, run by the leader on behalf of a token with the
/// `admin` rule. Every one is safe to retry.
///
/// ```no_run
/// # async fn demo(client: raftcp::Client) -> Result<(), raftcp::Error> {
/// let admin = client.admin();
/// for member in admin.members().await?.members {
///     println!("{} {} lag {}", member.node_id, member.addr, member.lag);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Admin {
    client: Client,
}

impl Client {
    /// The cluster's admin operations (members, sessions, objects); the
    /// token needs the `admin` rule.
    pub fn admin(&self) -> Admin {
        Admin {
            client: self.clone(),
        }
    }
}

impl Admin {
    async fn call(&self, op: AdminOp) -> Result<AdminReply> {
        match self.client.admin_call(op).await? {
            Reply::Admin(reply) => Ok(*reply),
            other => Err(unexpected(other)),
        }
    }

    async fn done(&self, op: AdminOp) -> Result<()> {
        match self.call(op).await? {
            AdminReply::Done => Ok(()),
            other => Err(unexpected(Reply::Admin(Box::new(other)))),
        }
    }

    /// The members, as the leader sees them: voters and learners, how far
    /// each is behind, when each was last heard from.
    pub async fn members(&self) -> Result<Members> {
        match self.call(AdminOp::Members).await? {
            AdminReply::Members(members) => Ok(members),
            other => Err(unexpected(Reply::Admin(Box::new(other)))),
        }
    }

    /// Adds node `node_id`, listening at `addr` (`host:port`), as a learner.
    /// Start it first with `raftcp serve --join`.
    pub async fn add_learner(&self, node_id: u64, addr: &str) -> Result<()> {
        let addr = addr.to_owned();
        self.done(AdminOp::AddLearner { node_id, addr }).await
    }

    /// Makes the learner `node_id` a voter; `force` also when it lags.
    pub async fn promote(&self, node_id: u64, force: bool) -> Result<()> {
        self.done(AdminOp::Promote { node_id, force }).await
    }

    /// Removes node `node_id`; `force` also when the voters left that the
    /// leader can reach would not be a majority.
    pub async fn remove_member(&self, node_id: u64, force: bool) -> Result<()> {
        self.done(AdminOp::RemoveMember { node_id, force }).await
    }

    /// Asks the leader to hand leadership to the voter `node_id`.
    pub async fn transfer_leader(&self, node_id: u64) -> Result<()> {
        self.done(AdminOp::TransferLeader { node_id }).await
    }

    /// Every open session, in id order (fetched a page at a time).
    pub async fn sessions(&self) -> Result<Vec<SessionInfo>> {
        let mut all: Vec<SessionInfo> = Vec::new();
        loop {
            let after = all.last().map(|session| session.session);
            let op = AdminOp::Sessions {
                after,
                limit: SESSIONS_PAGE_MAX,
            };
            let page = match self.call(op).await? {
                AdminReply::Sessions(page) => page,
                other => return Err(unexpected(Reply::Admin(Box::new(other)))),
            };
            let last_page = page.len() < SESSIONS_PAGE_MAX as usize;
            all.extend(page);
            if last_page {
                return Ok(all);
            }
        }
    }

    /// Ends session `session` as its `close()` would; whether it was open.
    pub async fn close_session(&self, session: SessionId) -> Result<bool> {
        match self.call(AdminOp::CloseSession { session }).await? {
            AdminReply::Bool(was_open) => Ok(was_open),
            other => Err(unexpected(Reply::Admin(Box::new(other)))),
        }
    }

    /// One page of objects whose name starts with `prefix`, after `after`
    /// (ordered by name, then kind), at most `limit` (up to
    /// [`OBJECTS_PAGE_MAX`]).
    pub async fn objects_page(
        &self,
        prefix: &str,
        after: Option<ObjectKey>,
        limit: u32,
    ) -> Result<Vec<ObjectInfo>> {
        let op = AdminOp::Objects {
            prefix: prefix.to_owned(),
            after,
            limit,
        };
        match self.call(op).await? {
            AdminReply::Objects(page) => Ok(page),
            other => Err(unexpected(Reply::Admin(Box::new(other)))),
        }
    }

    /// Every object whose name starts with `prefix`.
    pub async fn objects(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        let mut all: Vec<ObjectInfo> = Vec::new();
        loop {
            let after = all.last().map(|object| object.key.clone());
            let page = self.objects_page(prefix, after, OBJECTS_PAGE_MAX).await?;
            let last_page = page.len() < OBJECTS_PAGE_MAX as usize;
            all.extend(page);
            if last_page {
                return Ok(all);
            }
        }
    }
}
