//! The peer network: one WebSocket per (node, peer) pair, dialed lazily,
//! carrying many RPCs at once (matched by request id), each with its own
//! deadline. A peer that cannot be reached is reported `Unreachable`, which
//! makes openraft back off instead of spinning.

use super::peer_auth::{self, ClusterSecret, Exchange, Role};
use super::peer_frame::{PeerFrame, PeerReply, PeerRpc};
use super::snapshot_transfer;
use super::state_machine::SnapshotData;
use super::{NodeId, SnapshotOf, TypeConfig, Vote};
use crate::limits::{PEER_FRAME_BYTES_MAX, PEER_OUTBOX_FRAMES_MAX};
use crate::storage::known_peers::{KnownPeers, Verdict};
use crate::sync::lock;
use crate::tls::Tls;
use crate::ws;
use futures_util::{SinkExt, StreamExt};
use openraft::error::{NetworkError, RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::{RPCOption, RaftNetworkFactory, v2::RaftNetworkV2};
use openraft::raft::{AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse};
use openraft::raft::{VoteRequest, VoteResponse};
use openraft::{BasicNode, OptionalSend};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

/// After a failed dial, further calls fail fast for this long.
const REDIAL_AFTER: Duration = Duration::from_millis(100);
/// A dial (TCP + WebSocket + Hello) that takes longer than this fails.
const DIAL_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a peer call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LinkError {
    #[error("peer {0} unreachable: {1}")]
    Unreachable(NodeId, String),
    #[error("peer {0} did not answer within {1:?}")]
    Timeout(NodeId, Duration),
    #[error("link to peer {0} closed before the answer arrived")]
    Closed(NodeId),
}

/// Every peer link of this node, keyed by node id.
#[derive(Debug)]
pub struct Peers {
    me: NodeId,
    cluster_id: String,
    incarnation: u64,
    known: Arc<KnownPeers>,
    secret: ClusterSecret,
    /// Peers are dialed over TLS when the member serves it.
    tls: Option<Arc<Tls>>,
    links: Mutex<HashMap<NodeId, Arc<PeerLink>>>,
}

impl Peers {
    pub fn new(
        me: NodeId,
        cluster_id: &str,
        incarnation: u64,
        known: Arc<KnownPeers>,
        secret: ClusterSecret,
        tls: Option<Arc<Tls>>,
        addrs: &BTreeMap<NodeId, String>,
    ) -> Arc<Self> {
        let peers = Arc::new(Self {
            me,
            cluster_id: cluster_id.to_owned(),
            incarnation,
            known,
            secret,
            tls,
            links: Mutex::default(),
        });
        for (id, addr) in addrs {
            if *id != me {
                peers.link(*id, addr);
            }
        }
        peers
    }

    /// The link to `target` at `addr`; a changed address replaces the link.
    pub fn link(&self, target: NodeId, addr: &str) -> Arc<PeerLink> {
        let mut links = lock(&self.links);
        match links.get(&target) {
            Some(link) if link.addr == addr => link.clone(),
            _ => {
                let link = Arc::new(PeerLink {
                    me: self.me,
                    target,
                    addr: addr.to_owned(),
                    cluster_id: self.cluster_id.clone(),
                    incarnation: self.incarnation,
                    known: self.known.clone(),
                    secret: self.secret.clone(),
                    tls: self.tls.clone(),
                    state: tokio::sync::Mutex::default(),
                    heard_ms: AtomicU64::new(crate::clock::monotonic_ms()),
                });
                links.insert(target, link.clone());
                link
            }
        }
    }

    /// The secret members prove membership with.
    pub fn secret(&self) -> &ClusterSecret {
        &self.secret
    }

    pub fn get(&self, target: NodeId) -> Option<Arc<PeerLink>> {
        let links = lock(&self.links);
        links.get(&target).cloned()
    }

    /// How long since `peer` was last heard from (`None`: no link to it).
    pub fn silent_for(&self, peer: NodeId) -> Option<Duration> {
        self.get(peer).map(|link| link.silent_for())
    }

    /// Whether `peer` was heard from within `limit`.
    pub fn heard_within(&self, peer: NodeId, limit: Duration) -> bool {
        self.get(peer)
            .is_some_and(|link| link.silent_for() <= limit)
    }
}

/// The dialing side of one peer connection.
#[derive(Debug)]
pub struct PeerLink {
    me: NodeId,
    target: NodeId,
    addr: String,
    cluster_id: String,
    incarnation: u64,
    known: Arc<KnownPeers>,
    secret: ClusterSecret,
    tls: Option<Arc<Tls>>,
    state: tokio::sync::Mutex<LinkState>,
    /// When (`clock::monotonic_ms`) the peer was last heard from: an answer
    /// on this link, or a request of its own. Starts at the link's creation,
    /// so a member just started has the same time to hear its peers as one
    /// that just lost them.
    heard_ms: AtomicU64,
}

#[derive(Debug, Default)]
struct LinkState {
    connection: Option<Arc<Connection>>,
    redial_at: Option<Instant>,
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<PeerReply>>>>;

#[derive(Debug)]
struct Connection {
    outbox: mpsc::Sender<Message>,
    pending: Pending,
    next_id: AtomicU64,
    alive: Arc<AtomicBool>,
}

impl PeerLink {
    /// Notes that the peer was just heard from.
    pub fn heard(&self) {
        let now = crate::clock::monotonic_ms();
        self.heard_ms.fetch_max(now, Ordering::Relaxed);
    }

    pub fn silent_for(&self) -> Duration {
        let heard = self.heard_ms.load(Ordering::Relaxed);
        Duration::from_millis(crate::clock::monotonic_ms().saturating_sub(heard))
    }

    /// Sends `rpc` and waits for its answer for at most `timeout`.
    pub async fn call(&self, rpc: PeerRpc, timeout: Duration) -> Result<PeerReply, LinkError> {
        let connection = self.connection().await?;
        let id = connection.next_id.fetch_add(1, Ordering::Relaxed);
        let bytes = postcard::to_allocvec(&PeerFrame::Request { id, rpc })
            .map_err(|e| LinkError::Unreachable(self.target, e.to_string()))?;
        let (answer_tx, answer_rx) = oneshot::channel();
        lock(&connection.pending).insert(id, answer_tx);
        // A full outbox (the peer reads slowly) makes the call wait, within
        // the same timeout as its answer.
        let sent_and_answered = async {
            if connection
                .outbox
                .send(Message::binary(bytes))
                .await
                .is_err()
            {
                return None;
            }
            answer_rx.await.ok()
        };
        match tokio::time::timeout(timeout, sent_and_answered).await {
            Ok(Some(reply)) => {
                self.heard();
                Ok(reply)
            }
            Ok(None) => {
                lock(&connection.pending).remove(&id);
                Err(LinkError::Closed(self.target))
            }
            Err(_) => {
                lock(&connection.pending).remove(&id);
                Err(LinkError::Timeout(self.target, timeout))
            }
        }
    }

    async fn connection(&self) -> Result<Arc<Connection>, LinkError> {
        let mut state = self.state.lock().await;
        if let Some(connection) = &state.connection
            && connection.alive.load(Ordering::Acquire)
        {
            return Ok(connection.clone());
        }
        state.connection = None;
        if let Some(at) = state.redial_at
            && Instant::now() < at
        {
            let reason = "recent dial failed".to_owned();
            return Err(LinkError::Unreachable(self.target, reason));
        }
        match tokio::time::timeout(DIAL_TIMEOUT, self.dial()).await {
            Ok(Ok(connection)) => {
                state.redial_at = None;
                state.connection = Some(connection.clone());
                Ok(connection)
            }
            Ok(Err(failed)) => {
                state.redial_at = Some(Instant::now() + REDIAL_AFTER);
                Err(LinkError::Unreachable(self.target, failed.to_string()))
            }
            Err(_) => {
                state.redial_at = Some(Instant::now() + REDIAL_AFTER);
                let reason = format!("dial took over {DIAL_TIMEOUT:?}");
                Err(LinkError::Unreachable(self.target, reason))
            }
        }
    }

    async fn dial(&self) -> Result<Arc<Connection>, HandshakeError> {
        let tls = self.tls.as_deref();
        let dialed = ws::dial(&self.addr, "/v1/raft", PEER_FRAME_BYTES_MAX, tls).await;
        let mut socket = dialed.map_err(HandshakeError::Dial)?;
        self.prove_membership(&mut socket).await?;
        let (sink, mut stream) = socket.split();
        let (outbox, inbox) = mpsc::channel(PEER_OUTBOX_FRAMES_MAX);
        let pending: Pending = Arc::default();
        let alive = Arc::new(AtomicBool::new(true));
        tokio::spawn(write_frames(sink, inbox, alive.clone()));
        let reader_pending = pending.clone();
        let reader_alive = alive.clone();
        tokio::spawn(async move {
            while let Some(Ok(message)) = stream.next().await {
                let Message::Binary(bytes) = message else {
                    continue;
                };
                match decode_peer_frame(&bytes) {
                    Ok(PeerFrame::Response { id, reply }) => {
                        if let Some(waiter) = lock(&reader_pending).remove(&id) {
                            let _ = waiter.send(reply);
                        }
                    }
                    other => {
                        let kind = other
                            .as_ref()
                            .map_or("an undecodable frame", PeerFrame::kind);
                        tracing::warn!("unexpected frame on peer link: {kind}");
                        break;
                    }
                }
            }
            reader_alive.store(false, Ordering::Release);
            // Dropping the senders fails every call still waiting here.
            lock(&reader_pending).clear();
        });
        Ok(Arc::new(Connection {
            outbox,
            pending,
            next_id: AtomicU64::new(1),
            alive,
        }))
    }
}

impl PeerLink {
    /// The dialer's half of the handshake (see `peer_auth`): our nonce, the
    /// peer's challenge, our proof, and the peer's proof, which must verify
    /// and carry the incarnation the peer is known by.
    async fn prove_membership(&self, socket: &mut ws::Socket) -> Result<(), HandshakeError> {
        let dialer_nonce = peer_auth::nonce();
        let hello = PeerFrame::Hello {
            from: self.me,
            to: self.target,
            nonce: dialer_nonce,
        };
        send_frame(socket, &hello).await?;
        let acceptor_nonce = match next_frame(socket).await? {
            PeerFrame::Challenge { nonce } => nonce,
            other => {
                return Err(HandshakeError::Unexpected {
                    step: "our Hello",
                    got: other.kind(),
                });
            }
        };
        let exchange = Exchange {
            cluster_id: &self.cluster_id,
            dialer: self.me,
            acceptor: self.target,
            dialer_nonce: &dialer_nonce,
            acceptor_nonce: &acceptor_nonce,
        };
        let proof = PeerFrame::Proof {
            incarnation: self.incarnation,
            proof: self.secret.prove(Role::Dialer, &exchange, self.incarnation),
        };
        send_frame(socket, &proof).await?;
        match next_frame(socket).await? {
            PeerFrame::Proof { incarnation, proof }
                if self
                    .secret
                    .verify(Role::Acceptor, &exchange, incarnation, &proof) =>
            {
                check_incarnation(&self.known, self.target, incarnation)
            }
            PeerFrame::Proof { .. } => Err(HandshakeError::ProofRejected(self.target)),
            other => Err(HandshakeError::Unexpected {
                step: "our proof",
                got: other.kind(),
            }),
        }
    }
}

/// Why a peer link could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error("{0}")]
    Dial(String),
    #[error("cannot send a handshake frame: {0}")]
    Send(String),
    #[error("peer refused the handshake (see its log)")]
    Refused,
    #[error(transparent)]
    Malformed(#[from] FrameError),
    #[error("peer answered {step} with {got}")]
    Unexpected {
        step: &'static str,
        got: &'static str,
    },
    #[error(
        "node {0} answered with a proof that does not verify: it holds another cluster secret \
         or cluster id"
    )]
    ProofRejected(NodeId),
    #[error(
        "node {peer} presents data-directory incarnation {presented:x}, but this cluster knew \
         it as {remembered:x}: its data was wiped or replaced, so it is refused (add the machine \
         back under a new node id)"
    )]
    Replaced {
        peer: NodeId,
        presented: u64,
        remembered: u64,
    },
    #[error("cannot record peer {peer}: {source}")]
    Record { peer: NodeId, source: io::Error },
}

/// Why bytes are not one peer frame.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("{0} trailing bytes")]
    Trailing(usize),
    #[error(transparent)]
    Decode(#[from] postcard::Error),
}

async fn send_frame(socket: &mut ws::Socket, frame: &PeerFrame) -> Result<(), HandshakeError> {
    let send_failed = |e: &dyn std::fmt::Display| HandshakeError::Send(e.to_string());
    let bytes = postcard::to_allocvec(frame).map_err(|e| send_failed(&e))?;
    let sent = socket.send(Message::binary(bytes)).await;
    sent.map_err(|e| send_failed(&e))
}

/// The next frame of a handshake; a peer that closes instead refused it
/// (its log says why).
async fn next_frame(socket: &mut ws::Socket) -> Result<PeerFrame, HandshakeError> {
    match socket.next().await {
        Some(Ok(Message::Binary(bytes))) => Ok(decode_peer_frame(&bytes)?),
        _ => Err(HandshakeError::Refused),
    }
}

/// Refuses a peer whose data directory was replaced since first contact.
pub fn check_incarnation(
    known: &KnownPeers,
    peer: NodeId,
    presented: u64,
) -> Result<(), HandshakeError> {
    match known.check(peer, presented) {
        Ok(Verdict::Known | Verdict::FirstContact) => Ok(()),
        Ok(Verdict::Replaced { remembered }) => {
            let replaced = HandshakeError::Replaced {
                peer,
                presented,
                remembered,
            };
            tracing::error!("{replaced}");
            Err(replaced)
        }
        Err(source) => Err(HandshakeError::Record { peer, source }),
    }
}

/// Drains `inbox` into the socket until either side goes away. Frames that
/// are already queued go out with one flush, so a burst costs one write
/// syscall instead of one per frame.
pub async fn write_frames<S>(
    mut sink: S,
    mut inbox: mpsc::Receiver<Message>,
    alive: Arc<AtomicBool>,
) where
    S: futures_util::Sink<Message> + Unpin,
{
    'outer: while let Some(message) = inbox.recv().await {
        if sink.feed(message).await.is_err() {
            break;
        }
        while let Ok(message) = inbox.try_recv() {
            if sink.feed(message).await.is_err() {
                break 'outer;
            }
        }
        if sink.flush().await.is_err() {
            break;
        }
    }
    alive.store(false, Ordering::Release);
}

/// Decodes one peer frame, refusing trailing bytes.
pub fn decode_peer_frame(bytes: &[u8]) -> Result<PeerFrame, FrameError> {
    match postcard::take_from_bytes::<PeerFrame>(bytes)? {
        (frame, []) => Ok(frame),
        (_, rest) => Err(FrameError::Trailing(rest.len())),
    }
}

/// openraft's factory: one [`PeerClient`] per replication target.
#[derive(Clone, Debug)]
pub struct NetworkFactory {
    pub peers: Arc<Peers>,
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> PeerClient {
        // The address this member was configured with (`--peers`) wins over
        // the one in the membership, which is the view of whichever member
        // initialized the cluster: where routes differ per member (a proxy,
        // a NAT, the fault campaign's partitions), the membership's address
        // is another member's route and would bypass this member's own.
        let link = match self.peers.get(target) {
            Some(link) => link,
            None => self.peers.link(target, &node.addr),
        };
        PeerClient { link }
    }
}

/// openraft's view of one peer.
#[derive(Debug)]
pub struct PeerClient {
    link: Arc<PeerLink>,
}

impl PeerClient {
    async fn call(
        &self,
        rpc: PeerRpc,
        option: &RPCOption,
    ) -> Result<PeerReply, RPCError<TypeConfig>> {
        self.link
            .call(rpc, option.hard_ttl())
            .await
            .map_err(rpc_error)
    }
}

fn rpc_error(e: LinkError) -> RPCError<TypeConfig> {
    match e {
        LinkError::Unreachable(..) => RPCError::Unreachable(Unreachable::from_string(e)),
        LinkError::Timeout(..) | LinkError::Closed(_) => {
            RPCError::Network(NetworkError::from_string(e))
        }
    }
}

fn remote_error(reason: String) -> RPCError<TypeConfig> {
    // The peer is up but its Raft is not (shutting down or failed): back off.
    RPCError::Unreachable(Unreachable::from_string(reason))
}

fn wrong_reply(reply: PeerReply) -> RPCError<TypeConfig> {
    RPCError::Network(NetworkError::from_string(format!(
        "mismatched reply {reply:?}"
    )))
}

impl RaftNetworkV2<TypeConfig> for PeerClient {
    type SnapshotData = SnapshotData;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        match self.call(PeerRpc::AppendEntries(rpc), &option).await? {
            PeerReply::AppendEntries(result) => result.map_err(remote_error),
            other => Err(wrong_reply(other)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        match self.call(PeerRpc::Vote(rpc), &option).await? {
            PeerReply::Vote(result) => result.map_err(remote_error),
            other => Err(wrong_reply(other)),
        }
    }

    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        match self.call(PeerRpc::PreVote(rpc), &option).await? {
            PeerReply::Vote(result) => result.map_err(remote_error),
            other => Err(wrong_reply(other)),
        }
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: SnapshotOf,
        cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        // Each chunk is its own request, sent once the previous one is
        // answered (so they arrive in order); each gets the full timeout.
        let timeout = option.hard_ttl().max(Duration::from_secs(30));
        let mut cancel = std::pin::pin!(cancel);
        let chunks = snapshot_transfer::chunks(vote, snapshot.meta, &snapshot.snapshot);
        for chunk in chunks {
            let reply = tokio::select! {
                closed = &mut cancel => return Err(StreamingError::Closed(closed)),
                reply = self.link.call(PeerRpc::Snapshot(chunk), timeout) => reply,
            };
            match reply {
                Ok(PeerReply::Snapshot(Ok(None))) => continue,
                Ok(PeerReply::Snapshot(Ok(Some(response)))) => return Ok(response),
                Ok(PeerReply::Snapshot(Err(reason))) => {
                    return Err(StreamingError::Unreachable(Unreachable::from_string(
                        reason,
                    )));
                }
                Ok(other) => {
                    return Err(StreamingError::Network(NetworkError::from_string(format!(
                        "mismatched reply {other:?}"
                    ))));
                }
                Err(e @ LinkError::Unreachable(..)) => {
                    return Err(StreamingError::Unreachable(Unreachable::from_string(e)));
                }
                Err(e) => return Err(StreamingError::Network(NetworkError::from_string(e))),
            }
        }
        let reason = "the follower did not answer the snapshot's last chunk";
        Err(StreamingError::Network(NetworkError::from_string(reason)))
    }
}
