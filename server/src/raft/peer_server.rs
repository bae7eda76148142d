//! The accepting side of `/v1/raft`: checks that the dialer proves
//! membership (see `peer_auth`), then
//! serves each request in its own task so a slow snapshot or a forwarded
//! write never holds up heartbeats behind it.

use super::network::{
    FrameError, PeerLink, Peers, check_incarnation, decode_peer_frame, write_frames,
};
use super::peer_auth::{self, Exchange, Nonce, Role::Acceptor, Role::Dialer};
use super::peer_frame::{LogEnd, PeerFrame, PeerReply, PeerRpc};
use super::snapshot_transfer::{Assembly, Received};
use super::{LogId, NodeId, Raft};
use crate::limits::{
    PEER_FRAME_BYTES_MAX, PEER_HELLO_TIMEOUT, PEER_OUTBOX_FRAMES_MAX, PEER_REQUESTS_MAX,
};
use crate::storage::known_peers::KnownPeers;
use crate::sync::lock;
use crate::ws::{self, Socket};
use futures_util::{SinkExt, StreamExt};
use openraft::async_runtime::WatchReceiver;
use openraft::raft::VoteResponse;
use openraft::vote::RaftLeaderId;
use std::future::Future;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use tokio::sync::{Semaphore, mpsc};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::Role;

/// What the peer server needs of the member it serves (`Cluster` is it):
/// its Raft and links, who may link to it, and someone to answer the
/// requests other members forward. The peer server knows no more of the
/// member than this.
pub trait PeerHost: Send + Sync + 'static {
    fn id(&self) -> NodeId;
    /// Whether this member may grant a vote to a candidate whose log ends
    /// at `candidate_last` (while it recovers a log that lost a tail, only
    /// to one at least as up to date as every voter's: `crate::recovery`).
    fn may_vote_for(&self, candidate_last: Option<LogId>) -> impl Future<Output = bool> + Send;
    /// Where this member's log ends, and its voters.
    fn log_end(&self) -> LogEnd;
    /// Notes that `leader` sent entries (or a heartbeat).
    fn note_append_from(&self, leader: NodeId);
    fn cluster_id(&self) -> &str;
    fn raft(&self) -> &Raft;
    fn peers(&self) -> &Peers;
    fn known_peers(&self) -> &KnownPeers;
    /// Whether a link from `peer` is taken, once its proof verifies.
    fn accepts_peer(&self, peer: NodeId) -> bool;
    /// This member's link to `peer`, to note hearing from it.
    fn link_to(&self, peer: NodeId) -> Option<Arc<PeerLink>>;
    /// Answers what another member forwards: a proposal, a read, an admin
    /// operation.
    fn answer_forwarded(&self, rpc: PeerRpc) -> impl Future<Output = PeerReply> + Send;
}

/// Serves one peer link: the handshake (the dialer proves membership
/// first), then the dialer's requests, each answered by id as it finishes.
pub async fn serve<H: PeerHost>(mut socket: Socket, host: Arc<H>, incarnation: u64) {
    let deadline = tokio::time::Instant::now() + PEER_HELLO_TIMEOUT;
    let Some(proven) = authenticate(&mut socket, host.as_ref(), deadline).await else {
        return;
    };
    let peer = proven.peer;
    // The dialer waits for our proof before it sends more, so nothing is
    // buffered past its own: the link restarts on the same connection with
    // the full peer frame size.
    let config = Some(ws::config(PEER_FRAME_BYTES_MAX));
    let stream = socket.into_inner();
    let socket = Socket::from_raw_socket(stream, Role::Server, config).await;
    let (sink, mut stream) = socket.split();
    let (outbox, inbox) = mpsc::channel(PEER_OUTBOX_FRAMES_MAX);
    tokio::spawn(write_frames(sink, inbox, Arc::new(AtomicBool::new(true))));
    let exchange = proven.exchange(host.as_ref());
    let our_proof = PeerFrame::Proof {
        incarnation,
        proof: host
            .peers()
            .secret()
            .prove(Acceptor, &exchange, incarnation),
    };
    if send(&outbox, &our_proof).await.is_err() {
        return;
    }
    // Each request from the peer counts as hearing from it (`driver::cut_off`);
    // looked up once, not per request.
    let mut link_to_peer = host.link_to(peer);
    let slots = Arc::new(Semaphore::new(PEER_REQUESTS_MAX));
    // The snapshot this link is carrying in, dropped with the link.
    let assembly = Arc::new(Mutex::new(Assembly::default()));
    while let Some(Ok(message)) = stream.next().await {
        let bytes = match message {
            Message::Binary(bytes) => bytes,
            Message::Close(_) => break,
            _ => continue,
        };
        match decode_peer_frame(&bytes) {
            Ok(PeerFrame::Request { id, rpc }) => {
                // A member added since this one started has no link yet
                // (nor, while this member waits to be added, a known
                // address): looked for again until it has one, so that
                // hearing it counts (`driver::cut_off`).
                if link_to_peer.is_none() {
                    link_to_peer = host.link_to(peer);
                }
                if let Some(link) = &link_to_peer {
                    link.heard();
                }
                // At the cap, the link is not read until a request is done.
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    break;
                };
                let host = host.clone();
                let outbox = outbox.clone();
                let assembly = assembly.clone();
                tokio::spawn(async move {
                    let reply = Box::pin(handle(host.as_ref(), rpc, &assembly)).await;
                    // The slot is held until the answer is queued: a peer
                    // that does not read its answers stops being read.
                    let _ = send(&outbox, &PeerFrame::Response { id, reply }).await;
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

/// A dialer that proved membership.
struct Proven {
    peer: NodeId,
    dialer_nonce: Nonce,
    acceptor_nonce: Nonce,
}

impl Proven {
    fn exchange<'a>(&'a self, host: &'a impl PeerHost) -> Exchange<'a> {
        Exchange {
            cluster_id: host.cluster_id(),
            dialer: self.peer,
            acceptor: host.id(),
            dialer_nonce: &self.dialer_nonce,
            acceptor_nonce: &self.acceptor_nonce,
        }
    }
}

/// The handshake, by `deadline`: the dialer's `Hello` must name another
/// member and this node, and its `Proof` must verify under the cluster
/// secret and carry the incarnation that member is known by. Nothing about
/// this node is sent before the proof verifies. Logs say what was wrong,
/// never what was sent.
async fn authenticate(
    socket: &mut Socket,
    host: &impl PeerHost,
    deadline: tokio::time::Instant,
) -> Option<Proven> {
    let PeerFrame::Hello { from, to, nonce } = next_frame(socket, deadline).await? else {
        return refuse("expected a Hello");
    };
    if to != host.id() || !host.accepts_peer(from) {
        tracing::warn!("refused peer claiming to be node {from}: not another member of this host");
        return None;
    }
    let proven = Proven {
        peer: from,
        dialer_nonce: nonce,
        acceptor_nonce: peer_auth::nonce(),
    };
    let challenge = PeerFrame::Challenge {
        nonce: proven.acceptor_nonce,
    };
    let bytes = postcard::to_allocvec(&challenge).ok()?;
    let sent = socket.send(Message::binary(bytes));
    tokio::time::timeout_at(deadline, sent).await.ok()?.ok()?;
    let PeerFrame::Proof { incarnation, proof } = next_frame(socket, deadline).await? else {
        return refuse("expected a Proof");
    };
    let secret = host.peers().secret();
    if !secret.verify(Dialer, &proven.exchange(host), incarnation, &proof) {
        tracing::warn!(
            "refused peer claiming to be node {from}: its proof does not verify \
             (a different --host-secret-file?)"
        );
        return None;
    }
    check_incarnation(host.known_peers(), from, incarnation).ok()?;
    Some(proven)
}

/// The next handshake frame, if one arrives by `deadline` and decodes.
async fn next_frame(socket: &mut Socket, deadline: tokio::time::Instant) -> Option<PeerFrame> {
    let message = tokio::time::timeout_at(deadline, socket.next()).await;
    let Ok(Some(Ok(Message::Binary(bytes)))) = message else {
        tracing::debug!("peer handshake ended: nothing usable arrived in time");
        return None;
    };
    let frame = decode_peer_frame(&bytes);
    if frame.is_err() {
        tracing::warn!("refused peer link: {}", describe(&frame));
    }
    frame.ok()
}

fn refuse<T>(why: &str) -> Option<T> {
    tracing::warn!("refused peer link: {why}, got another frame");
    None
}

/// What a frame was, for logs: the variant, or why it did not decode.
fn describe(frame: &Result<PeerFrame, FrameError>) -> String {
    match frame {
        Ok(frame) => frame.kind().into(),
        Err(e) => format!("an undecodable frame ({e})"),
    }
}

async fn send(outbox: &mpsc::Sender<Message>, frame: &PeerFrame) -> Result<(), ()> {
    let bytes = postcard::to_allocvec(frame).map_err(|_| ())?;
    outbox.send(Message::binary(bytes)).await.map_err(|_| ())
}

/// A vote this member holds back (`crate::recovery`): not granted, with
/// its own vote and log end, as openraft answers a vote it refuses.
fn vote_held_back(raft: &Raft) -> PeerReply {
    let vote = raft.metrics().borrow_watched().vote;
    let last_log_id = raft.data_metrics().borrow_watched().last_log;
    PeerReply::Vote(Ok(VoteResponse::new(vote, last_log_id, false)))
}

async fn handle(host: &impl PeerHost, rpc: PeerRpc, assembly: &Mutex<Assembly>) -> PeerReply {
    let raft = host.raft();
    match rpc {
        PeerRpc::AppendEntries(request) => {
            if request.vote.is_committed() {
                host.note_append_from(*request.vote.leader_id().node_id());
            }
            PeerReply::AppendEntries(
                raft.append_entries(request)
                    .await
                    .map_err(|e| e.to_string()),
            )
        }
        PeerRpc::Vote(request) => match host.may_vote_for(request.last_log_id).await {
            true => PeerReply::Vote(raft.vote(request).await.map_err(|e| e.to_string())),
            false => vote_held_back(raft),
        },
        PeerRpc::PreVote(request) => match host.may_vote_for(request.last_log_id).await {
            true => PeerReply::Vote(raft.pre_vote(request).await.map_err(|e| e.to_string())),
            false => vote_held_back(raft),
        },
        PeerRpc::LogEnd => PeerReply::LogEnd(host.log_end()),
        PeerRpc::Snapshot(chunk) => {
            let received = lock(assembly).receive(chunk);
            let Some(Received { vote, meta, data }) = (match received {
                Ok(received) => received,
                Err(reason) => return PeerReply::Snapshot(Err(reason)),
            }) else {
                return PeerReply::Snapshot(Ok(None));
            };
            let snapshot = super::SnapshotOf {
                meta,
                snapshot: data,
            };
            let result = raft.install_full_snapshot(vote, snapshot).await;
            PeerReply::Snapshot(result.map(Some).map_err(|e| e.to_string()))
        }
        request @ (PeerRpc::Propose(_)
        | PeerRpc::Read { .. }
        | PeerRpc::Admin(_)
        | PeerRpc::ReadIndex
        | PeerRpc::LeaderLogEnd) => host.answer_forwarded(request).await,
    }
}
