//! The accepting side of `/v1/raft`: checks the dialer's identity, then
//! serves each request in its own task so a slow snapshot or a forwarded
//! write never holds up heartbeats behind it.

use super::network::{check_incarnation, decode_peer_frame, write_frames};
use super::peer_frame::{PeerFrame, PeerReply, PeerRpc};
use crate::cluster::Cluster;
use crate::ws::Socket;
use futures_util::StreamExt;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

const HELLO_TIMEOUT: Duration = Duration::from_secs(5);

pub async fn serve(socket: Socket, cluster: Arc<Cluster>, incarnation: u64) {
    let (sink, mut stream) = socket.split();
    let (outbox, inbox) = mpsc::unbounded_channel();
    tokio::spawn(write_frames(sink, inbox, Arc::new(AtomicBool::new(true))));
    let first = tokio::time::timeout(HELLO_TIMEOUT, stream.next()).await;
    let Ok(Some(Ok(Message::Binary(bytes)))) = first else {
        return;
    };
    let peer = match decode_peer_frame(&bytes) {
        Ok(PeerFrame::Hello {
            cluster_id,
            from,
            to,
            incarnation: theirs,
        }) => {
            if cluster_id != cluster.cluster_id || to != cluster.id {
                tracing::warn!(
                    "refused peer: cluster {cluster_id:?} node {to} is not this node \
                     (cluster {:?} node {})",
                    cluster.cluster_id,
                    cluster.id
                );
                return;
            }
            if !cluster.members.contains_key(&from) {
                tracing::warn!("refused peer {from}: not a member");
                return;
            }
            if check_incarnation(&cluster.known_peers, from, theirs).is_err() {
                return;
            }
            from
        }
        other => {
            tracing::warn!("refused peer link: expected Hello, got {other:?}");
            return;
        }
    };
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
                let cluster = cluster.clone();
                let outbox = outbox.clone();
                tokio::spawn(async move {
                    let reply = Box::pin(handle(&cluster, rpc)).await;
                    let _ = send(&outbox, &PeerFrame::Response { id, reply });
                });
            }
            other => {
                tracing::warn!("peer {peer} sent {other:?}; closing the link");
                break;
            }
        }
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
