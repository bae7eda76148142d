//! The accepting side of `/v1/raft`: checks the dialer's identity, then
//! serves each request in its own task so a slow snapshot or a forwarded
//! write never holds up heartbeats behind it.

use super::NodeId;
use super::network::{check_incarnation, decode_peer_frame, write_frames};
use super::peer_frame::{PeerFrame, PeerReply, PeerRpc};
use crate::cluster::Cluster;
use crate::limits::{PEER_FRAME_BYTES_MAX, PEER_HELLO_TIMEOUT, PEER_REQUESTS_MAX};
use crate::ws::{self, Socket};
use futures_util::StreamExt;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use tokio::sync::{Semaphore, mpsc};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::Role;

pub async fn serve(mut socket: Socket, cluster: Arc<Cluster>, incarnation: u64) {
    let first = tokio::time::timeout(PEER_HELLO_TIMEOUT, socket.next()).await;
    let Ok(Some(Ok(Message::Binary(bytes)))) = first else {
        return;
    };
    let Some(peer) = check_hello(&bytes, &cluster) else {
        return;
    };
    // The dialer waits for our answer before it sends more, so nothing is
    // buffered past its Hello: the link restarts on the same connection
    // with the full peer frame size.
    let config = Some(ws::config(PEER_FRAME_BYTES_MAX));
    let stream = socket.into_inner();
    let socket = Socket::from_raw_socket(stream, Role::Server, config).await;
    let (sink, mut stream) = socket.split();
    let (outbox, inbox) = mpsc::unbounded_channel();
    tokio::spawn(write_frames(sink, inbox, Arc::new(AtomicBool::new(true))));
    let hello = PeerFrame::Hello {
        cluster_id: cluster.cluster_id.clone(),
        from: cluster.id,
        to: peer,
        incarnation,
    };
    if send(&outbox, &hello).is_err() {
        return;
    }
    // Each request from the peer counts as hearing from it (`reachability`);
    // looked up once, not per request.
    let link_to_peer = cluster.peers.get(peer);
    let slots = Arc::new(Semaphore::new(PEER_REQUESTS_MAX));
    while let Some(Ok(message)) = stream.next().await {
        let bytes = match message {
            Message::Binary(bytes) => bytes,
            Message::Close(_) => break,
            _ => continue,
        };
        match decode_peer_frame(&bytes) {
            Ok(PeerFrame::Request { id, rpc }) => {
                if let Some(link) = &link_to_peer {
                    link.heard();
                }
                // At the cap, the link is not read until a request is done.
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    break;
                };
                let cluster = cluster.clone();
                let outbox = outbox.clone();
                tokio::spawn(async move {
                    let reply = Box::pin(handle(&cluster, rpc)).await;
                    let _ = send(&outbox, &PeerFrame::Response { id, reply });
                    drop(slot);
                });
            }
            other => {
                tracing::warn!(
                    "peer {peer} sent {} on its link; closing it",
                    describe(&other)
                );
                break;
            }
        }
    }
}

/// The dialer's id, if its `Hello` names this cluster and node, comes from
/// another member, and carries the incarnation that member is known by.
/// Logs say what was wrong, never what was sent.
fn check_hello(bytes: &[u8], cluster: &Cluster) -> Option<NodeId> {
    let frame = decode_peer_frame(bytes);
    let Ok(PeerFrame::Hello {
        cluster_id,
        from,
        to,
        incarnation,
    }) = frame
    else {
        tracing::warn!(
            "refused peer link: expected Hello, got {}",
            describe(&frame)
        );
        return None;
    };
    if cluster_id != cluster.cluster_id || to != cluster.id {
        tracing::warn!("refused peer: its Hello names another cluster or node");
        return None;
    }
    if from == cluster.id || !cluster.members.contains_key(&from) {
        tracing::warn!("refused peer claiming to be node {from}: not another member");
        return None;
    }
    check_incarnation(&cluster.known_peers, from, incarnation).ok()?;
    Some(from)
}

/// What a frame was, for logs: the variant, or why it did not decode.
fn describe(frame: &Result<PeerFrame, String>) -> String {
    match frame {
        Ok(PeerFrame::Hello { .. }) => "a Hello".into(),
        Ok(PeerFrame::Request { .. }) => "a Request".into(),
        Ok(PeerFrame::Response { .. }) => "a Response".into(),
        Err(e) => format!("an undecodable frame ({e})"),
    }
}

fn send(outbox: &mpsc::UnboundedSender<Message>, frame: &PeerFrame) -> Result<(), ()> {
    let bytes = postcard::to_allocvec(frame).map_err(|_| ())?;
    outbox.send(Message::binary(bytes)).map_err(|_| ())
}

async fn handle(cluster: &Cluster, rpc: PeerRpc) -> PeerReply {
    let raft = &cluster.raft;
    match rpc {
        PeerRpc::AppendEntries(request) => PeerReply::AppendEntries(
            raft.append_entries(request)
                .await
                .map_err(|e| e.to_string()),
        ),
        PeerRpc::Vote(request) => {
            PeerReply::Vote(raft.vote(request).await.map_err(|e| e.to_string()))
        }
        PeerRpc::PreVote(request) => {
            PeerReply::Vote(raft.pre_vote(request).await.map_err(|e| e.to_string()))
        }
        PeerRpc::Snapshot { vote, meta, data } => {
            let snapshot = super::SnapshotOf {
                meta,
                snapshot: data,
            };
            let result = raft.install_full_snapshot(vote, snapshot).await;
            PeerReply::Snapshot(result.map_err(|e| e.to_string()))
        }
        request @ (PeerRpc::Propose(_) | PeerRpc::Read { .. }) => {
            cluster.answer_here(request).await
        }
    }
}
