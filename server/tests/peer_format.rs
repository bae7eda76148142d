//! Golden bytes for what members say to each other (every [`PeerFrame`],
//! [`PeerRpc`] and [`PeerReply`] variant) and for the openraft types they
//! store: log entries of each payload, the vote, snapshot metadata with its
//! membership. Members of one release talk to each other and read each
//! other's data directories, and an openraft upgrade may change how its
//! types encode: either shows here first. Print after an intended,
//! versioned change with
//! `GOLDEN_PRINT=1 cargo test -p raftcp-server --test peer_format -- --nocapture`.

#![allow(clippy::unwrap_used)] // tests may panic on what they do not expect

use openraft::entry::RaftEntry;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use openraft::testing::log_id;
use openraft::{BasicNode, Membership};
use raftcp_proto::admin::AdminOp;
use raftcp_proto::{
    HandleId, LatchOp, LockOp, LongOp, Op, OpError, Reply, RequestId, SemaphoreOp, SessionId,
};
use raftcp_server::machine::{Command, CommandKind, CommandResponse, Machine, POSITIONS_PER_ENTRY};
use raftcp_server::raft::peer_frame::{ForwardError, LogEnd, PeerFrame, PeerReply, PeerRpc};
use raftcp_server::raft::snapshot_transfer::SnapshotChunk;
use raftcp_server::raft::{Entry, LogId, SnapshotMeta, StoredMembership, TypeConfig, Vote};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

fn at(term: u64, node: u64, index: u64) -> LogId {
    log_id::<TypeConfig>(term, node, index)
}

fn membership() -> Membership<u64, BasicNode> {
    let nodes = BTreeMap::from([
        (1, BasicNode { addr: "a:1".into() }),
        (2, BasicNode { addr: "b:2".into() }),
    ]);
    Membership::new(vec![BTreeSet::from([1, 2])], nodes).unwrap()
}

fn entries() -> Vec<Entry> {
    let command = Command {
        time_ms: 7,
        kind: CommandKind::CloseSession {
            session: SessionId(5),
        },
    };
    vec![
        Entry::new_blank(at(2, 1, 3)),
        Entry::new_membership(at(2, 1, 4), membership()),
        Entry::new_normal(at(2, 1, 5), command),
    ]
}

fn snapshot_meta() -> SnapshotMeta {
    SnapshotMeta {
        last_log_id: Some(at(2, 1, 5)),
        last_membership: StoredMembership::new(Some(at(2, 1, 4)), membership()),
    }
}

/// A machine with a holder and a waiter on a lock, a waiter on a semaphore
/// and on a latch: what a snapshot stores of each queue.
fn machine_with_waiters() -> Vec<u8> {
    let mut machine = Machine::new();
    let open = CommandKind::OpenSession {
        client_name: "c".into(),
        ttl_ms: 60_000,
    };
    machine.apply_entry(
        1,
        Command {
            time_ms: 1,
            kind: open,
        },
    );
    let session = SessionId(POSITIONS_PER_ENTRY);
    let ops = [
        Op::Lock {
            name: "l".into(),
            handle: HandleId(1),
            op: LockOp::Lock {
                timeout_ms: None,
                reentrancy_limit: 0,
            },
        },
        Op::Lock {
            name: "l".into(),
            handle: HandleId(2),
            op: LockOp::Lock {
                timeout_ms: Some(5_000),
                reentrancy_limit: 0,
            },
        },
        Op::Semaphore {
            name: "s".into(),
            handle: HandleId(3),
            op: SemaphoreOp::Acquire {
                permits: 2,
                timeout_ms: None,
            },
        },
        Op::Latch {
            name: "d".into(),
            op: LatchOp::TrySetCount { count: 1 },
        },
        Op::Latch {
            name: "d".into(),
            op: LatchOp::Await { timeout_ms: None },
        },
    ];
    for (request, op) in (1..).zip(ops) {
        let kind = CommandKind::Client {
            session,
            request: RequestId(request),
            acked_below: RequestId(0),
            op,
        };
        machine.apply_entry(1 + request, Command { time_ms: 2, kind });
    }
    machine.snapshot()
}

fn bytes<T: Serialize>(value: &T) -> Vec<u8> {
    postcard::to_allocvec(value).unwrap()
}

fn request(rpc: PeerRpc) -> Vec<u8> {
    bytes(&PeerFrame::Request { id: 9, rpc })
}

fn response(reply: PeerReply) -> Vec<u8> {
    bytes(&PeerFrame::Response { id: 9, reply })
}

fn samples() -> Vec<(&'static str, Vec<u8>)> {
    [handshake(), requests(), replies(), stored()].concat()
}

/// The handshake's frames.
fn handshake() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (
            "peer.hello",
            bytes(&PeerFrame::Hello {
                from: 1,
                to: 2,
                nonce: [0xaa; 32],
            }),
        ),
        (
            "peer.challenge",
            bytes(&PeerFrame::Challenge { nonce: [0xbb; 32] }),
        ),
        (
            "peer.proof",
            bytes(&PeerFrame::Proof {
                incarnation: 77,
                proof: [0xcc; 32],
            }),
        ),
    ]
}

fn vote() -> Vote {
    Vote::new_committed(2, 1)
}

/// Every request a member sends another.
fn requests() -> Vec<(&'static str, Vec<u8>)> {
    let vote = vote();
    let vote_request = VoteRequest::<TypeConfig>::new(Vote::new(3, 2), Some(at(2, 1, 5)));
    let append = AppendEntriesRequest::<TypeConfig> {
        vote,
        prev_log_id: Some(at(2, 1, 2)),
        entries: entries(),
        leader_commit: Some(at(2, 1, 2)),
    };
    let chunk = SnapshotChunk {
        vote,
        meta: snapshot_meta(),
        total: 3,
        offset: 0,
        bytes: vec![1, 2, 3],
    };
    let op = Op::AtomicLong {
        name: "n".into(),
        op: LongOp::Get,
    };
    vec![
        (
            "peer.append_entries",
            request(PeerRpc::AppendEntries(append)),
        ),
        ("peer.vote", request(PeerRpc::Vote(vote_request.clone()))),
        ("peer.pre_vote", request(PeerRpc::PreVote(vote_request))),
        ("peer.snapshot", request(PeerRpc::Snapshot(chunk))),
        (
            "peer.propose",
            request(PeerRpc::Propose(CommandKind::ExpireWaits)),
        ),
        (
            "peer.read",
            request(PeerRpc::Read {
                session: SessionId(5),
                op,
            }),
        ),
        ("peer.admin", request(PeerRpc::Admin(AdminOp::Members))),
        ("peer.read_index", request(PeerRpc::ReadIndex)),
        ("peer.log_end", request(PeerRpc::LogEnd)),
        ("peer.leader_log_end", request(PeerRpc::LeaderLogEnd)),
    ]
}

/// Every reply, good and bad.
fn replies() -> Vec<(&'static str, Vec<u8>)> {
    let vote = vote();
    vec![
        (
            "peer.reply.append_entries",
            response(PeerReply::AppendEntries(Ok(AppendEntriesResponse::Success))),
        ),
        (
            "peer.reply.vote",
            response(PeerReply::Vote(Ok(VoteResponse::new(
                vote,
                Some(at(2, 1, 5)),
                true,
            )))),
        ),
        (
            "peer.reply.snapshot",
            response(PeerReply::Snapshot(Ok(Some(SnapshotResponse::new(vote))))),
        ),
        (
            "peer.reply.proposed",
            response(PeerReply::Proposed(Ok(CommandResponse::Done))),
        ),
        (
            "peer.reply.read",
            response(PeerReply::Read(Ok(Ok(Reply::Long(5))))),
        ),
        (
            "peer.reply.admin",
            response(PeerReply::Admin(Ok(Err(OpError::AdminRefused {
                reason: "r".into(),
            })))),
        ),
        (
            "peer.reply.not_leader",
            response(PeerReply::Proposed(Err(ForwardError::NotLeader {
                leader: Some(2),
            }))),
        ),
        (
            "peer.reply.unavailable",
            response(PeerReply::Read(Err(ForwardError::Unavailable("u".into())))),
        ),
        (
            "peer.reply.refused_vote",
            response(PeerReply::Vote(Err("e".into()))),
        ),
        (
            "peer.reply.read_index",
            response(PeerReply::ReadIndex(Ok(7))),
        ),
        (
            "peer.reply.log_end",
            response(PeerReply::LogEnd(LogEnd {
                last_log_id: Some(at(2, 1, 5)),
                voters: BTreeSet::from([1, 2, 3]),
            })),
        ),
        (
            "peer.reply.leader_log_end",
            response(PeerReply::LeaderLogEnd(Ok(Some(at(2, 1, 5))))),
        ),
    ]
}

/// The openraft types members store, and a machine snapshot with waiters.
fn stored() -> Vec<(&'static str, Vec<u8>)> {
    let vote = vote();
    vec![
        ("stored.vote", bytes(&vote)),
        ("stored.log_id", bytes(&at(2, 1, 5))),
        ("stored.entry.blank", bytes(&entries()[0])),
        ("stored.entry.membership", bytes(&entries()[1])),
        ("stored.entry.normal", bytes(&entries()[2])),
        ("stored.snapshot_meta", bytes(&snapshot_meta())),
        ("stored.machine_with_waiters", machine_with_waiters()),
    ]
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

const GOLDEN: &[(&str, &str)] = &[
    (
        "peer.hello",
        "000102aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    ),
    (
        "peer.challenge",
        "01bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
    ),
    (
        "peer.proof",
        "024dcccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc",
    ),
    (
        "peer.append_entries",
        "0309000201010102010203020103000201040201020102020103613a310203623a320201050107020501020102",
    ),
    ("peer.vote", "0309010302000102010500"),
    ("peer.pre_vote", "0309020302000102010500"),
    (
        "peer.snapshot",
        "030903020101010201050102010401020102020103613a310203623a3200030003010203",
    ),
    ("peer.propose", "03090404"),
    ("peer.read", "0309050500016e00"),
    ("peer.admin", "03090600"),
    ("peer.read_index", "030907"),
    ("peer.log_end", "030908"),
    ("peer.leader_log_end", "030909"),
    ("peer.reply.append_entries", "0409000000"),
    ("peer.reply.vote", "040901000201010101020105"),
    ("peer.reply.snapshot", "0409020001020101"),
    ("peer.reply.proposed", "0409030003"),
    ("peer.reply.read", "0409040000020a"),
    ("peer.reply.admin", "0409050001170172"),
    ("peer.reply.not_leader", "04090301000102"),
    ("peer.reply.unavailable", "04090401010175"),
    ("peer.reply.refused_vote", "040901010165"),
    ("peer.reply.read_index", "0409060007"),
    ("peer.reply.log_end", "0409070102010503010203"),
    ("peer.reply.leader_log_end", "0409080001020105"),
    ("stored.vote", "020101"),
    ("stored.log_id", "020105"),
    ("stored.entry.blank", "02010300"),
    (
        "stored.entry.membership",
        "0201040201020102020103613a310203623a32",
    ),
    ("stored.entry.normal", "02010501070205"),
    (
        "stored.snapshot_meta",
        "010201050102010401020102020103613a310203623a3200",
    ),
    (
        "stored.machine_with_waiters",
        "0280300180080163e0d403e2d403000501000004018010020103010400000101050101016c00000001016c0180080101801001800802020080100101730000000180080303020101640101018008050380080200016c018a278008030101730080080502016400000000",
    ),
];

#[test]
fn every_peer_frame_and_stored_type_keeps_its_encoding() {
    let actual = samples();
    if std::env::var_os("GOLDEN_PRINT").is_some() {
        for (name, bytes) in &actual {
            println!("    (\"{name}\", \"{}\"),", hex(bytes));
        }
    }
    assert_eq!(
        actual.len(),
        GOLDEN.len(),
        "every sample has a golden encoding"
    );
    for ((name, bytes), (golden_name, golden)) in actual.iter().zip(GOLDEN) {
        assert_eq!(name, golden_name);
        assert_eq!(&hex(bytes), golden, "encoding of {name} changed");
    }
}
