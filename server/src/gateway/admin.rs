//! One admin operation of a client connection: checked against the
//! connection's access, carried out by the leader ([`crate::admin`]),
//! answered like a request.

use super::Gateway;
use super::outbox::Outbox;
use super::request::RequestTask;
use raftcp_proto::{AdminOp, OpError, Reply, RequestId, Response, ServerFrame};
use std::sync::Arc;

/// The task answering admin operation `id`; `allowed` is the access check.
pub fn task(
    gateway: Arc<Gateway>,
    outbox: Outbox,
    id: RequestId,
    op: AdminOp,
    allowed: Result<(), OpError>,
) -> RequestTask {
    Box::pin(async move {
        let result = match allowed {
            Ok(()) => gateway.cluster.admin(op).await,
            Err(refused) => Err(refused),
        };
        let result = result.map(|reply| Reply::Admin(Box::new(reply)));
        outbox.send_frame(&ServerFrame::Response(Response { id, result }));
    })
}
