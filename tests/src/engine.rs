//! The engine alone: three openraft voters in one process with raftcp's
//! own Raft log (raft-log, fsynced as a member fsyncs it) and state
//! machine, joined by in-process calls instead of the peer link, and driven
//! by `client_write` directly: no client, no WebSocket, no gateway, no
//! batching of requests into entries. `raftcp-engine` runs it beside a real
//! `raftcp dev` so that what raftcp adds on top is a measured ratio
//! (docs/benchmarks.md, "The engine alone").

use openraft::error::{RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::{RPCOption, RaftNetworkFactory, v2::RaftNetworkV2};
use openraft::raft::{AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse};
use openraft::raft::{VoteRequest, VoteResponse};
use openraft::{BasicNode, OptionalSend};
use raftcp_proto::{LongOp, Op, RequestId};
use raftcp_server::clock::wall_clock_ms;
use raftcp_server::faults::Faults;
use raftcp_server::machine::{Command, CommandKind, CommandResponse, Outcome, SessionOwner};
use raftcp_server::node::NodeConfig;
use raftcp_server::raft::log_store::LogStore;
use raftcp_server::raft::state_machine::{SnapshotData, StateMachine};
use raftcp_server::raft::{NodeId, Raft, SnapshotOf, TypeConfig, Vote, raft_config};
use raftcp_server::watch::Watches;
use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// The members, by id, once all are made (the network is made first).
type Members = Arc<OnceLock<BTreeMap<NodeId, Raft>>>;

/// Three voters in this process.
#[derive(Debug)]
pub struct Engine {
    members: BTreeMap<NodeId, Raft>,
}

/// What a load run measured.
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    pub ops_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

const IDS: [NodeId; 3] = [1, 2, 3];
/// How long a leader may take to be elected and take office.
const ELECTION_WAIT: Duration = Duration::from_secs(30);
/// Longer than any run, so no writer's session expires during one.
const SESSION_TTL_MS: u64 = 600_000;
/// Load before the measured window, as `raftcp bench` runs it.
const WARM_UP: Duration = Duration::from_secs(1);

impl Engine {
    /// Starts three voters under `dir` with a member's default settings
    /// (election timeout, snapshot interval, fsync batch wait) and waits
    /// for a leader.
    pub async fn start(dir: &Path) -> Result<Engine, String> {
        let members: Members = Arc::default();
        let mut rafts = BTreeMap::new();
        for id in IDS {
            let settings = NodeConfig::new(id, dir.join(format!("node-{id}")), BTreeMap::new());
            let log = LogStore::open(
                &settings.data_dir,
                settings.fsync_batch_wait,
                Faults::default(),
            )
            .map_err(|e| e.to_string())?;
            // What a member's driver does with applied entries' effects
            // (answer waiters, publish watches) is raftcp's, not the engine's.
            let (applied_tx, mut applied_rx) =
                tokio::sync::mpsc::channel(raftcp_server::limits::APPLIED_QUEUED_MAX);
            tokio::spawn(async move { while applied_rx.recv().await.is_some() {} });
            let (machine, _replica) = StateMachine::open(
                &settings.data_dir.join("state"),
                applied_tx,
                Arc::new(Watches::default()),
                Faults::default(),
            )
            .map_err(|e| e.to_string())?;
            let config = raft_config(settings.election_timeout_ms, settings.snapshot_every)
                .map_err(|e| e.to_string())?;
            let network = Network {
                members: members.clone(),
            };
            let raft = Raft::new(id, Arc::new(config), network, log, machine)
                .await
                .map_err(|e| e.to_string())?;
            rafts.insert(id, raft);
        }
        let _ = members.set(rafts.clone());
        let nodes = IDS.map(|id| {
            let addr = format!("engine-{id}");
            (id, BasicNode { addr })
        });
        rafts[&1]
            .initialize(BTreeMap::from(nodes))
            .await
            .map_err(|e| e.to_string())?;
        rafts[&1]
            .wait(Some(ELECTION_WAIT))
            .metrics(|m| m.current_leader.is_some(), "a leader")
            .await
            .map_err(|e| e.to_string())?;
        Ok(Engine { members: rafts })
    }

    /// `in_flight` writers, each with its own session, increment one
    /// counter through the leader's `client_write` for `measured` after a
    /// one-second warm-up: one command per entry, as openraft takes them.
    pub async fn increments(
        &self,
        in_flight: usize,
        measured: Duration,
    ) -> Result<Measured, String> {
        let leader = self.leader().await?;
        let mut sessions = Vec::with_capacity(in_flight);
        for worker in 0..in_flight {
            let open = CommandKind::OpenOwnedSession {
                client_name: format!("engine-{worker}"),
                ttl_ms: SESSION_TTL_MS,
                owner: SessionOwner {
                    secret_hash: [0; 32],
                    subject: None,
                },
            };
            match write(&leader, open).await? {
                CommandResponse::SessionOpened { session } => sessions.push(session),
                other => return Err(format!("opening a session: {other:?}")),
            }
        }
        let start = Instant::now() + WARM_UP;
        let end = start + measured;
        let mut workers = Vec::with_capacity(in_flight);
        for session in sessions {
            let raft = leader.clone();
            workers.push(tokio::spawn(async move {
                let mut samples_us = Vec::new();
                let mut request = 0u64;
                loop {
                    let began = Instant::now();
                    if began >= end {
                        return Ok::<_, String>(samples_us);
                    }
                    request += 1;
                    let increment = CommandKind::Request {
                        session,
                        request: RequestId(request),
                        acked_below: RequestId(request),
                        acked_except: Box::new([]),
                        op: Op::AtomicLong {
                            name: "engine-counter".into(),
                            op: LongOp::AddAndGet(1),
                        },
                    };
                    match write(&raft, increment).await? {
                        CommandResponse::Client(Outcome::Done(Ok(_))) => {}
                        other => return Err(format!("an increment answered {other:?}")),
                    }
                    let finished = Instant::now();
                    if began >= start && finished <= end {
                        samples_us.push((finished - began).as_micros() as u64);
                    }
                }
            }));
        }
        let mut samples_us = Vec::new();
        for worker in workers {
            samples_us.extend(worker.await.map_err(|e| e.to_string())??);
        }
        samples_us.sort_unstable();
        Ok(measured_from(&samples_us, measured))
    }

    /// The member that knows itself leader (the others may learn of a
    /// leader before it has taken office).
    async fn leader(&self) -> Result<Raft, String> {
        let any = &self.members[&IDS[0]];
        let id = any.current_leader().await.ok_or("no leader")?;
        let leader = self.members[&id].clone();
        leader
            .wait(Some(ELECTION_WAIT))
            .metrics(
                |m| m.state.is_leader() && m.last_applied.is_some(),
                "in office",
            )
            .await
            .map_err(|e| e.to_string())?;
        Ok(leader)
    }

    pub async fn shutdown(self) {
        for raft in self.members.values() {
            let _ = raft.shutdown().await;
        }
    }
}

/// Proposes one command and waits for it to be applied.
async fn write(raft: &Raft, kind: CommandKind) -> Result<CommandResponse, String> {
    let command = Command {
        time_ms: wall_clock_ms(0),
        kind,
    };
    let written = raft
        .client_write(command)
        .await
        .map_err(|e| e.to_string())?;
    Ok(written.data)
}

/// Throughput and percentiles from sorted latencies.
fn measured_from(sorted_us: &[u64], measured: Duration) -> Measured {
    let pct = |p: f64| {
        if sorted_us.is_empty() {
            return 0.0;
        }
        let rank = ((sorted_us.len() - 1) as f64 * p).round() as usize;
        sorted_us[rank] as f64 / 1000.0
    };
    Measured {
        ops_per_sec: sorted_us.len() as f64 / measured.as_secs_f64(),
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
    }
}

/// openraft's network between the members: a call on the target's `Raft`.
#[derive(Clone)]
struct Network {
    members: Members,
}

struct Link {
    members: Members,
    target: NodeId,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Link;

    async fn new_client(&mut self, target: NodeId, _node: &BasicNode) -> Link {
        Link {
            members: self.members.clone(),
            target,
        }
    }
}

impl Link {
    fn target(&self) -> Result<&Raft, Unreachable<TypeConfig>> {
        self.members
            .get()
            .and_then(|members| members.get(&self.target))
            .ok_or_else(|| Unreachable::from_string(format!("no member {}", self.target)))
    }
}

fn unreachable(e: impl ToString) -> RPCError<TypeConfig> {
    RPCError::Unreachable(Unreachable::from_string(e.to_string()))
}

impl RaftNetworkV2<TypeConfig> for Link {
    type SnapshotData = SnapshotData;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        let target = self.target().map_err(unreachable)?;
        target.append_entries(rpc).await.map_err(unreachable)
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        let target = self.target().map_err(unreachable)?;
        target.vote(rpc).await.map_err(unreachable)
    }

    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        let target = self.target().map_err(unreachable)?;
        target.pre_vote(rpc).await.map_err(unreachable)
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: SnapshotOf,
        _cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        _option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let target = self.target().map_err(StreamingError::Unreachable)?;
        target
            .install_full_snapshot(vote, snapshot)
            .await
            .map_err(|e| StreamingError::Unreachable(Unreachable::from_string(e.to_string())))
    }
}
