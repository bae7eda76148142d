//! One client request, from its frame to its response: checked here (so
//! nothing invalid is replicated), then proposed (mutations) or read
//! through a ReadIndex barrier (queries). A request that waits in the
//! machine ends its task; its completion reaches the client through
//! the driver's delivery (`crate::driver`).

use super::in_flight_budget::Reserved;
use super::outbox::Outbox;
use super::{Gateway, unavailable};
use crate::cluster::Cluster;
use crate::faults::PlantedBug;
use crate::machine::{
    Acknowledged, CommandKind, CommandResponse, Outcome, validate_acknowledged, validate_op,
};
use crate::metrics::kind_index;
use crate::sync::lock;
use raftcp_proto::name::{DEFAULT_GROUP, validate_name};
use raftcp_proto::{
    GroupName, Op, OpError, Reply, Request, RequestId, Response, ServerFrame, SessionId,
};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Requests of a connection whose proposal has not returned yet, with
/// whether the client asked to cancel them meanwhile. A cancel must be
/// applied after its request, or it would find no waiter and the request
/// would then wait (or hold a lock) for a caller that is gone.
pub type Proposing = Arc<Mutex<HashMap<RequestId, bool>>>;

/// A request being answered, polled by its connection's task.
pub type RequestTask = Pin<Box<dyn Future<Output = ()> + Send>>;

/// What a request needs from its connection.
#[derive(Debug)]
pub struct RequestContext {
    pub gateway: Arc<Gateway>,
    pub outbox: Outbox,
    pub proposing: Proposing,
    pub session: SessionId,
    /// The request frame's size on the wire.
    pub bytes: usize,
    /// Its share of the in-flight budgets, released with the response
    /// (when the task ends).
    pub _reserved: Reserved,
}

/// Everything a request must satisfy that depends on nothing but itself.
pub fn validate_request(request: &Request) -> Result<(), OpError> {
    validate_target(&request.group, &request.op)?;
    validate_acknowledged(Acknowledged {
        below: request.acked_below,
        except: &request.acked_except,
    })
}

/// `op` in `group`: a valid name in a group that exists (a watch is
/// checked as the read of its object).
pub fn validate_target(group: &GroupName, op: &Op) -> Result<(), OpError> {
    // The group name is checked before UNKNOWN_GROUP echoes it back.
    validate_name(group.as_str())?;
    if group.as_str() != DEFAULT_GROUP {
        return Err(OpError::UnknownGroup {
            group: group.0.clone(),
        });
    }
    validate_op(op)
}

/// The task answering `request`.
pub fn task(context: RequestContext, request: Request) -> RequestTask {
    // Only a request that may wait can be cancelled meaningfully (a cancel
    // of any other is a no-op), so only those are tracked.
    let may_wait = request.op.may_wait();
    if may_wait {
        // Before the task runs: a Cancel frame right behind this request
        // must find it here.
        lock(&context.proposing).insert(request.id, false);
    }
    Box::pin(async move {
        let since = Instant::now();
        let kind = kind_index(&request.op);
        let id = request.id;
        let result = match validate_request(&request) {
            Err(error) => Some(Err(error)),
            Ok(())
                if request.op.may_grow_state()
                    && let Err(full) = check_quota(&context.gateway.cluster) =>
            {
                Some(Err(full))
            }
            Ok(()) if request.op.is_mutating() => propose(&context, request, kind, since).await,
            Ok(()) => Some(read(&context, request).await),
        };
        let gateway = &context.gateway;
        if may_wait {
            lock(&context.proposing).remove(&id);
        }
        // `None`: the request waits in the machine; its completion answers.
        let Some(result) = result else {
            return;
        };
        if may_wait {
            gateway.driver.forget_waiting(context.session, id);
        }
        let metrics = &gateway.cluster.metrics();
        metrics.record(kind, result.is_ok(), since.elapsed());
        let response = ServerFrame::Response(Response { id, result });
        context.outbox.send_frame(&response);
    })
}

/// Refuses an operation that could grow the group while its state is at
/// the quota. Checked against this member's replica before proposing, so
/// nothing refused reaches the log; requests already on their way may take
/// the state a little past it (at most the members' in-flight budgets).
pub(super) fn check_quota(cluster: &Cluster) -> Result<(), OpError> {
    let used = cluster.replica().state_bytes();
    let max = cluster.settings().max_state_bytes;
    match used >= max {
        true => Err(OpError::QuotaExceeded { used, max }),
        false => Ok(()),
    }
}

/// Proposes a mutation; `None` when it waits in the machine.
async fn propose(
    context: &RequestContext,
    request: Request,
    kind: usize,
    since: Instant,
) -> Option<Result<Reply, OpError>> {
    let (gateway, session, id) = (&context.gateway, context.session, request.id);
    let may_wait = request.op.may_wait();
    if may_wait {
        // Registered before proposing: the completion may be applied here
        // before the leader's answer comes back.
        gateway.driver.note_waiting(session, id, kind, since);
    }
    let command = CommandKind::Request {
        session,
        request: id,
        acked_below: request.acked_below,
        acked_except: request.acked_except.into_boxed_slice(),
        op: request.op,
    };
    let proposed = gateway.driver.propose_sized(command, context.bytes).await;
    let cancel_requested = may_wait && lock(&context.proposing).remove(&id).unwrap_or(false);
    Some(match proposed {
        Ok(CommandResponse::Client(Outcome::Pending)) => {
            if cancel_requested {
                spawn_cancel(gateway, session, id);
            }
            return None;
        }
        Ok(CommandResponse::Client(Outcome::Done(result))) => result,
        Ok(CommandResponse::Refused(e)) => Err(e),
        Ok(other) => unavailable(format!("unexpected answer {other:?}")),
        Err(e) => unavailable(e),
    })
}

/// Answers a query after a ReadIndex barrier on the leader.
async fn read(context: &RequestContext, request: Request) -> Result<Reply, OpError> {
    let cluster = &context.gateway.cluster;
    let read = if cluster.faults().planted(PlantedBug::StaleReads) {
        let replica = cluster.replica().lock();
        Ok(replica.machine.query(context.session, &request.op))
    } else {
        // Boxed: the read future is large; keep the request's small.
        Box::pin(cluster.read(context.session, request.op)).await
    };
    read.unwrap_or_else(unavailable)
}

fn spawn_cancel(gateway: &Arc<Gateway>, session: SessionId, request: RequestId) {
    let gateway = gateway.clone();
    tokio::spawn(async move {
        // The waiter's final answer (CANCELLED) arrives as a completion.
        let _ = gateway
            .driver
            .propose(CommandKind::Cancel { session, request })
            .await;
    });
}
