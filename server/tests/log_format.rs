//! Golden bytes for the Raft log payload ([`Command`]): entries written by
//! one version are read by the next, so a reordered variant or field must
//! fail here. Print after an intended, versioned change with
//! `GOLDEN_PRINT=1 cargo test -p raftcp-server --test log_format -- --nocapture`.

#![allow(clippy::unwrap_used)] // tests may panic on what they do not expect

use raftcp_proto::{LongOp, Op, RequestId, SessionId};
use raftcp_server::machine::{Command, CommandKind, OneShotKey, OpFingerprint, SessionOwner};

fn samples() -> Vec<(&'static str, Command)> {
    let s = SessionId(5);
    let at = |kind| Command {
        time_ms: 1_700_000_000_000,
        kind,
    };
    vec![
        (
            "open_session",
            at(CommandKind::OpenSession {
                client_name: "c".into(),
                ttl_ms: 60_000,
            }),
        ),
        (
            "heartbeat",
            at(CommandKind::Heartbeat { sessions: vec![s] }),
        ),
        (
            "close_session",
            at(CommandKind::CloseSession { session: s }),
        ),
        ("expire_sessions", at(CommandKind::ExpireSessions)),
        ("expire_waits", at(CommandKind::ExpireWaits)),
        ("renew_all_sessions", at(CommandKind::RenewAllSessions)),
        (
            "client",
            at(CommandKind::Client {
                session: s,
                request: RequestId(9),
                acked_below: RequestId(8),
                op: Op::AtomicLong {
                    name: "n".into(),
                    op: LongOp::AddAndGet(1),
                },
            }),
        ),
        (
            "cancel",
            at(CommandKind::Cancel {
                session: s,
                request: RequestId(9),
            }),
        ),
        (
            "request",
            at(CommandKind::Request {
                session: s,
                request: RequestId(9),
                acked_below: RequestId(8),
                acked_except: vec![RequestId(7)].into(),
                op: Op::AtomicLong {
                    name: "n".into(),
                    op: LongOp::AddAndGet(1),
                },
            }),
        ),
        (
            "batch",
            at(CommandKind::Batch(
                vec![
                    CommandKind::ExpireWaits,
                    CommandKind::Cancel {
                        session: s,
                        request: RequestId(9),
                    },
                ]
                .into(),
            )),
        ),
        (
            "open_owned_session",
            at(CommandKind::OpenOwnedSession {
                client_name: "c".into(),
                ttl_ms: 60_000,
                owner: owner(),
            }),
        ),
        (
            "resume_session",
            at(CommandKind::ResumeSession {
                session: s,
                owner: owner(),
            }),
        ),
        (
            "one_shot",
            at(CommandKind::OneShot {
                key: OneShotKey([0x3c; 16]),
                fingerprint: OpFingerprint([0x7e; 8]),
                op: Op::AtomicLong {
                    name: "n".into(),
                    op: LongOp::AddAndGet(-3),
                },
            }),
        ),
        (
            "one_shot_leased_lock",
            at(CommandKind::OneShot {
                key: OneShotKey([0x3c; 16]),
                fingerprint: OpFingerprint([0x7e; 8]),
                op: Op::Lock {
                    name: "l".into(),
                    handle: raftcp_proto::HandleId(0),
                    op: raftcp_proto::LockOp::TryLockLeased {
                        lease_ms: 10_000,
                        secret: raftcp_proto::LeaseSecret([0x11; 32]),
                    },
                },
            }),
        ),
    ]
}

fn owner() -> SessionOwner {
    SessionOwner {
        secret_hash: [0x5a; 32],
        subject: Some("u".into()),
    }
}

const GOLDEN: &[(&str, &str)] = &[
    ("open_session", "80d095ffbc31000163e0d403"),
    ("heartbeat", "80d095ffbc31010105"),
    ("close_session", "80d095ffbc310205"),
    ("expire_sessions", "80d095ffbc3103"),
    ("expire_waits", "80d095ffbc3104"),
    ("renew_all_sessions", "80d095ffbc3105"),
    ("client", "80d095ffbc310605090800016e0202"),
    ("cancel", "80d095ffbc31070509"),
    ("request", "80d095ffbc3109050908010700016e0202"),
    ("batch", "80d095ffbc31080204070509"),
    (
        "open_owned_session",
        "80d095ffbc310a0163e0d4035a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a010175",
    ),
    (
        "resume_session",
        "80d095ffbc310b055a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a010175",
    ),
    (
        "one_shot",
        "80d095ffbc310c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c7e7e7e7e7e7e7e7e00016e0205",
    ),
    (
        "one_shot_leased_lock",
        "80d095ffbc310c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c7e7e7e7e7e7e7e7e02016c0007904e1111111111111111111111111111111111111111111111111111111111111111",
    ),
];

#[test]
fn every_command_keeps_its_encoding() {
    let hex = |bytes: Vec<u8>| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let actual: Vec<_> = samples()
        .into_iter()
        .map(|(name, command)| (name, hex(raftcp_proto::encode(&command).unwrap())))
        .collect();
    if std::env::var_os("GOLDEN_PRINT").is_some() {
        for (name, bytes) in &actual {
            println!("    (\"{name}\", \"{bytes}\"),");
        }
    }
    assert_eq!(
        actual.len(),
        GOLDEN.len(),
        "every sample has a golden encoding"
    );
    for ((name, bytes), (golden_name, golden)) in actual.iter().zip(GOLDEN) {
        assert_eq!(name, golden_name);
        assert_eq!(bytes, golden, "encoding of {name} changed");
    }
}
