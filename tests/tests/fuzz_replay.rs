//! The fuzz targets' checks (`raftcp_tests::fuzz`) on seeds built here and
//! a fixed set of mutations of each (bytes flipped, cut, repeated and set to
//! extremes), then on the saved corpus (`fuzz/corpus/<target>/`) as it is.
//! Deterministic, so a failure here reproduces; `scripts/fuzz` runs the
//! same checks under libFuzzer for as long as it is given.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use raftcp_proto::{
    ClientFrame, GroupName, HandleId, Hello, LatchOp, LockOp, LongOp, Op, RefOp, Request,
    RequestId, SemaphoreOp, SessionId, Value,
};
use raftcp_server::machine::{CommandKind, Machine};
use raftcp_server::raft::peer_frame::{PeerFrame, PeerRpc};
use raftcp_tests::fuzz;
use std::path::PathBuf;

/// Mutations tried per seed.
const MUTATIONS_PER_SEED: usize = 5_000;

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(bytes.len());
        match rng.below(6) {
            0 if !bytes.is_empty() => bytes[at] ^= 1 << rng.below(8),
            1 if !bytes.is_empty() => bytes[at] = [0x00, 0x01, 0x7f, 0x80, 0xff][rng.below(5)],
            2 => bytes.insert(at.min(bytes.len()), rng.next() as u8),
            3 if !bytes.is_empty() => {
                let end = (at + 1 + rng.below(16)).min(bytes.len());
                bytes.drain(at..end);
            }
            4 if !bytes.is_empty() => {
                let end = (at + 1 + rng.below(32)).min(bytes.len());
                let chunk = bytes[at..end].to_vec();
                let to = rng.below(bytes.len());
                bytes.splice(to..to, chunk);
            }
            _ => bytes.truncate(at),
        }
    }
    bytes
}

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| std::fs::read(entry.path()).ok())
        .collect()
}

/// Checks every seed and its mutations, then every saved corpus input as
/// it is (libFuzzer already mutated those).
fn run(target: &str, check: fn(&[u8]), seeds: Vec<Vec<u8>>) {
    let mut rng = Rng(0x5eed_0000_0000_0001 ^ target.len() as u64);
    assert!(!seeds.is_empty());
    let seeds = seeds.into_iter().map(|seed| (seed, MUTATIONS_PER_SEED));
    let saved = corpus(target).into_iter().map(|input| (input, 0));
    for (seed_index, (seed, mutations)) in seeds.chain(saved).enumerate() {
        for mutation in 0..=mutations {
            let input = match mutation {
                0 => seed.clone(),
                _ => mutate(&seed, &mut rng),
            };
            let checked = std::panic::catch_unwind(|| check(&input));
            if let Err(panic) = checked {
                // Enough to reproduce: save it as fuzz/corpus/<target>/<name>.
                let hex: String = input.iter().map(|b| format!("{b:02x}")).collect();
                eprintln!("{target}: seed {seed_index}, mutation {mutation} failed; input {hex}");
                std::panic::resume_unwind(panic);
            }
        }
    }
}

fn ops() -> Vec<Op> {
    let handle = HandleId(1);
    let long = |op| Op::AtomicLong {
        name: "l".into(),
        op,
    };
    let semaphore = |op| Op::Semaphore {
        name: "s".into(),
        handle,
        op,
    };
    let lock = |op| Op::Lock {
        name: "k".into(),
        handle,
        op,
    };
    let latch = |op| Op::Latch {
        name: "d".into(),
        op,
    };
    vec![
        long(LongOp::AddAndGet(i64::MAX)),
        long(LongOp::CompareAndSet {
            expect: i64::MIN,
            update: 1,
        }),
        Op::AtomicReference {
            name: "r".into(),
            op: RefOp::Set(Some(Value::List(vec![
                Value::F64(f64::NAN),
                Value::Map([("k".to_string(), Value::Bytes(vec![1, 2]))].into()),
            ]))),
        },
        semaphore(SemaphoreOp::Increase { permits: u32::MAX }),
        semaphore(SemaphoreOp::Acquire {
            permits: u32::MAX,
            timeout_ms: None,
        }),
        semaphore(SemaphoreOp::Release { permits: 1 }),
        semaphore(SemaphoreOp::Drain),
        lock(LockOp::Lock {
            timeout_ms: Some(u64::MAX),
            reentrancy_limit: 0,
        }),
        lock(LockOp::Unlock),
        latch(LatchOp::TrySetCount { count: u32::MAX }),
        latch(LatchOp::CountDown),
        latch(LatchOp::Await {
            timeout_ms: Some(1),
        }),
    ]
}

fn request(id: u64, op: Op) -> Request {
    Request {
        id: RequestId(id),
        group: GroupName::default_group(),
        acked_below: RequestId(id.saturating_sub(2)),
        acked_except: vec![],
        op,
    }
}

#[test]
fn client_frames() {
    let hello = ClientFrame::Hello(Hello {
        protocol_version: raftcp_proto::PROTOCOL_VERSION,
        client_name: "c".into(),
        resume: Some(raftcp_proto::Resume {
            session: SessionId(1024),
            secret: raftcp_proto::ResumeSecret([9; 16]),
        }),
        auth: Some("token".into()),
    });
    let mut seeds = vec![raftcp_proto::encode(&hello).unwrap()];
    let mut packed = Vec::new();
    for (id, op) in ops().into_iter().enumerate() {
        let frame = ClientFrame::Request(request(id as u64 + 1, op));
        let bytes = raftcp_proto::encode(&frame).unwrap();
        packed.extend(&bytes);
        seeds.push(bytes);
    }
    packed.extend(raftcp_proto::encode(&ClientFrame::Cancel { id: RequestId(3) }).unwrap());
    packed.extend(raftcp_proto::encode(&ClientFrame::Heartbeat).unwrap());
    seeds.push(packed);
    run("client_frames", fuzz::client_frames, seeds);
}

/// The commands of one session doing every kind of operation, with extreme
/// arguments, then a second session contending, then expiry.
fn session_commands() -> Vec<(u16, CommandKind)> {
    let open = |name: &str| CommandKind::OpenSession {
        client_name: name.into(),
        ttl_ms: 5_000,
    };
    // Entry 1 opens session 1024, entry 2 session 2048.
    let mut commands = vec![(0, open("a")), (1, open("b"))];
    for (id, op) in ops().into_iter().enumerate() {
        for session in [SessionId(1024), SessionId(2048)] {
            let request = request(id as u64 + 1, op.clone());
            commands.push((
                7,
                CommandKind::Request {
                    session,
                    request: request.id,
                    acked_below: request.acked_below,
                    // Acknowledged around request 1 where the watermark passed it.
                    acked_except: if request.acked_below > RequestId(1) {
                        vec![RequestId(1)].into()
                    } else {
                        Box::default()
                    },
                    op: request.op,
                },
            ));
        }
    }
    commands.push((9_000, CommandKind::ExpireSessions));
    commands.push((9_000, CommandKind::ExpireWaits));
    commands
}

#[test]
fn command_sequences() {
    let commands = session_commands();
    let seeds = vec![
        fuzz::encode_commands(&commands),
        fuzz::encode_commands(&commands[..6]),
        fuzz::encode_commands(&[(
            0,
            CommandKind::Batch(
                commands
                    .iter()
                    .map(|(_, kind)| kind.clone())
                    .collect::<Vec<_>>()
                    .into(),
            ),
        )]),
    ];
    run("command_sequence", fuzz::command_sequence, seeds);
}

#[test]
fn snapshots() {
    let mut machine = Machine::new();
    for (index, (_, kind)) in session_commands().into_iter().enumerate() {
        let command = raftcp_server::machine::Command {
            time_ms: 1_700_000_000_000 + index as u64,
            kind,
        };
        machine.apply_entry(index as u64 + 1, command);
    }
    let seeds = vec![machine.snapshot(), Machine::new().snapshot()];
    run("snapshot", fuzz::snapshot, seeds);
}

#[test]
fn peer_frames() {
    let hello = PeerFrame::Hello {
        from: 1,
        to: 2,
        nonce: [0x74; 32],
    };
    let proof = PeerFrame::Proof {
        incarnation: 0x7405_c68d_b23e_8c89,
        proof: [0xc6; 32],
    };
    let batch: Vec<CommandKind> = session_commands().into_iter().map(|(_, k)| k).collect();
    let propose = PeerFrame::Request {
        id: 7,
        rpc: PeerRpc::Propose(CommandKind::Batch(batch.into())),
    };
    let read = PeerFrame::Request {
        id: 8,
        rpc: PeerRpc::Read {
            session: SessionId(1024),
            op: ops().remove(0),
        },
    };
    let seeds = [hello, proof, propose, read]
        .iter()
        .map(|frame| postcard::to_allocvec(frame).unwrap())
        .collect();
    run("peer_frame", fuzz::peer_frame, seeds);
}
