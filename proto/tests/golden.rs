//! Golden bytes: one pinned encoding of every wire variant. A reordered
//! variant or field changes these bytes and fails here (see the evolution
//! rules in the crate docs). To print the current encodings after an
//! intended, versioned change: `GOLDEN_PRINT=1 cargo test -p raftcp-proto --test golden`.

#![allow(clippy::unwrap_used)] // tests may panic on what they do not expect

use raftcp_proto::*;
use std::collections::BTreeMap;

fn samples() -> Vec<(&'static str, Vec<u8>)> {
    let enc = |frame: &dyn erased::Encode| frame.bytes();
    let name = || "n".to_string();
    let h = HandleId(7);
    let op_samples: Vec<(&'static str, Op)> = vec![
        (
            "long.get",
            Op::AtomicLong {
                name: name(),
                op: LongOp::Get,
            },
        ),
        (
            "long.set",
            Op::AtomicLong {
                name: name(),
                op: LongOp::Set(-2),
            },
        ),
        (
            "long.add_and_get",
            Op::AtomicLong {
                name: name(),
                op: LongOp::AddAndGet(1),
            },
        ),
        (
            "long.get_and_add",
            Op::AtomicLong {
                name: name(),
                op: LongOp::GetAndAdd(5),
            },
        ),
        (
            "long.cas",
            Op::AtomicLong {
                name: name(),
                op: LongOp::CompareAndSet {
                    expect: 15,
                    update: 20,
                },
            },
        ),
        (
            "long.get_and_set",
            Op::AtomicLong {
                name: name(),
                op: LongOp::GetAndSet(7),
            },
        ),
        (
            "ref.get",
            Op::AtomicReference {
                name: name(),
                op: RefOp::Get,
            },
        ),
        (
            "ref.set",
            Op::AtomicReference {
                name: name(),
                op: RefOp::Set(Some(Value::Bool(true))),
            },
        ),
        (
            "ref.get_and_set",
            Op::AtomicReference {
                name: name(),
                op: RefOp::GetAndSet(None),
            },
        ),
        (
            "ref.cas",
            Op::AtomicReference {
                name: name(),
                op: RefOp::CompareAndSet {
                    expect: None,
                    update: Some(Value::I64(1)),
                },
            },
        ),
        (
            "ref.is_null",
            Op::AtomicReference {
                name: name(),
                op: RefOp::IsNull,
            },
        ),
        (
            "ref.contains",
            Op::AtomicReference {
                name: name(),
                op: RefOp::Contains(Some(Value::Null)),
            },
        ),
        (
            "lock.lock",
            Op::Lock {
                name: name(),
                handle: h,
                op: LockOp::Lock {
                    timeout_ms: Some(5000),
                    reentrancy_limit: 1,
                },
            },
        ),
        (
            "lock.unlock",
            Op::Lock {
                name: name(),
                handle: h,
                op: LockOp::Unlock,
            },
        ),
        (
            "lock.is_locked",
            Op::Lock {
                name: name(),
                handle: h,
                op: LockOp::IsLocked,
            },
        ),
        (
            "lock.is_locked_by_me",
            Op::Lock {
                name: name(),
                handle: h,
                op: LockOp::IsLockedByMe,
            },
        ),
        (
            "lock.lock_count",
            Op::Lock {
                name: name(),
                handle: h,
                op: LockOp::LockCount,
            },
        ),
        (
            "lock.get_fence",
            Op::Lock {
                name: name(),
                handle: h,
                op: LockOp::GetFence,
            },
        ),
        (
            "sem.init",
            Op::Semaphore {
                name: name(),
                handle: h,
                op: SemaphoreOp::Init { permits: 10 },
            },
        ),
        (
            "sem.acquire",
            Op::Semaphore {
                name: name(),
                handle: h,
                op: SemaphoreOp::Acquire {
                    permits: 3,
                    timeout_ms: None,
                },
            },
        ),
        (
            "sem.release",
            Op::Semaphore {
                name: name(),
                handle: h,
                op: SemaphoreOp::Release { permits: 3 },
            },
        ),
        (
            "sem.available",
            Op::Semaphore {
                name: name(),
                handle: h,
                op: SemaphoreOp::AvailablePermits,
            },
        ),
        (
            "sem.drain",
            Op::Semaphore {
                name: name(),
                handle: h,
                op: SemaphoreOp::Drain,
            },
        ),
        (
            "sem.reduce",
            Op::Semaphore {
                name: name(),
                handle: h,
                op: SemaphoreOp::Reduce { permits: 2 },
            },
        ),
        (
            "sem.increase",
            Op::Semaphore {
                name: name(),
                handle: h,
                op: SemaphoreOp::Increase { permits: 5 },
            },
        ),
        (
            "latch.try_set_count",
            Op::Latch {
                name: name(),
                op: LatchOp::TrySetCount { count: 3 },
            },
        ),
        (
            "latch.count_down",
            Op::Latch {
                name: name(),
                op: LatchOp::CountDown,
            },
        ),
        (
            "latch.get_count",
            Op::Latch {
                name: name(),
                op: LatchOp::GetCount,
            },
        ),
        (
            "latch.await",
            Op::Latch {
                name: name(),
                op: LatchOp::Await {
                    timeout_ms: Some(30000),
                },
            },
        ),
        (
            "long.destroy",
            Op::AtomicLong {
                name: name(),
                op: LongOp::Destroy,
            },
        ),
        (
            "ref.destroy",
            Op::AtomicReference {
                name: name(),
                op: RefOp::Destroy,
            },
        ),
        (
            "lock.destroy",
            Op::Lock {
                name: name(),
                handle: h,
                op: LockOp::Destroy,
            },
        ),
        (
            "sem.destroy",
            Op::Semaphore {
                name: name(),
                handle: h,
                op: SemaphoreOp::Destroy,
            },
        ),
        (
            "latch.destroy",
            Op::Latch {
                name: name(),
                op: LatchOp::Destroy,
            },
        ),
    ];
    let values = [
        ("value.null", Value::Null),
        ("value.bool", Value::Bool(false)),
        ("value.i64", Value::I64(-1)),
        ("value.u64", Value::U64(u64::MAX)),
        ("value.f64", Value::F64(0.5)),
        ("value.string", Value::String("s".into())),
        ("value.bytes", Value::Bytes(vec![0xff])),
        ("value.list", Value::List(vec![Value::Null])),
        (
            "value.map",
            Value::Map(BTreeMap::from([("k".to_string(), Value::I64(1))])),
        ),
    ];
    let replies = [
        ("reply.unit", Reply::Unit),
        ("reply.bool", Reply::Bool(true)),
        ("reply.long", Reply::Long(-5)),
        ("reply.value", Reply::Value(None)),
        ("reply.fence", Reply::Fence(Some(Fence(42)))),
        ("reply.count", Reply::Count(3)),
    ];
    let s = SessionId(12);
    let errors = [
        (
            "error.session_expired",
            OpError::SessionExpired { session: s },
        ),
        (
            "error.not_owner",
            OpError::NotOwner {
                kind: "lock".into(),
                name: name(),
            },
        ),
        (
            "error.lock_ownership_lost",
            OpError::LockOwnershipLost { name: name() },
        ),
        (
            "error.not_enough_permits",
            OpError::NotEnoughPermits {
                name: name(),
                held: 1,
                requested: 2,
            },
        ),
        (
            "error.lock_acquire_limit",
            OpError::LockAcquireLimitReached {
                name: name(),
                limit: 1,
            },
        ),
        (
            "error.invalid_name",
            OpError::InvalidName { reason: "r".into() },
        ),
        (
            "error.invalid_argument",
            OpError::InvalidArgument { reason: "r".into() },
        ),
        (
            "error.value_too_large",
            OpError::ValueTooLarge {
                bytes: 300,
                max: 200,
            },
        ),
        (
            "error.too_many_waiters",
            OpError::TooManyWaiters {
                name: name(),
                max: 1,
            },
        ),
        ("error.too_many_objects", OpError::TooManyObjects { max: 1 }),
        (
            "error.too_many_sessions",
            OpError::TooManySessions { max: 1 },
        ),
        (
            "error.too_many_unacknowledged",
            OpError::TooManyUnacknowledged { session: s, max: 1 },
        ),
        (
            "error.request_acknowledged",
            OpError::RequestAcknowledged {
                request: RequestId(1),
                acked_below: RequestId(2),
            },
        ),
        ("error.cancelled", OpError::Cancelled),
        (
            "error.unknown_group",
            OpError::UnknownGroup { group: "g".into() },
        ),
        (
            "error.not_leader",
            OpError::NotLeader {
                leader_hint: Some("ws://h".into()),
            },
        ),
        (
            "error.unavailable",
            OpError::Unavailable { reason: "r".into() },
        ),
        (
            "error.too_many_waiting_requests",
            OpError::TooManyWaitingRequests { session: s, max: 1 },
        ),
        (
            "error.unauthenticated",
            OpError::Unauthenticated { reason: "r".into() },
        ),
        (
            "error.permission_denied",
            OpError::PermissionDenied {
                kind: "lock".into(),
                name: "n".into(),
            },
        ),
        ("error.token_expired", OpError::TokenExpired),
        (
            "error.object_destroyed",
            OpError::ObjectDestroyed {
                kind: "lock".into(),
                name: "n".into(),
            },
        ),
        (
            "error.quota_exceeded",
            OpError::QuotaExceeded { used: 300, max: 2 },
        ),
    ];
    let hello = Hello {
        protocol_version: 3,
        client_name: "c".into(),
        resume: Some(Resume {
            session: s,
            secret: ResumeSecret([0xab; 16]),
        }),
        auth: None,
    };
    let request = Request {
        id: RequestId(3),
        group: GroupName::default_group(),
        acked_below: RequestId(2),
        acked_except: vec![RequestId(1)],
        op: Op::Latch {
            name: name(),
            op: LatchOp::CountDown,
        },
    };
    let client_frames = [
        ("client.hello", ClientFrame::Hello(hello)),
        ("client.request", ClientFrame::Request(request)),
        ("client.cancel", ClientFrame::Cancel { id: RequestId(3) }),
        ("client.heartbeat", ClientFrame::Heartbeat),
        ("client.close_session", ClientFrame::CloseSession),
        (
            "client.authenticate",
            ClientFrame::Authenticate { token: "t".into() },
        ),
    ];
    let welcome = Welcome {
        session: s,
        resume_secret: ResumeSecret([0xcd; 16]),
        ttl_ms: 60000,
        heartbeat_ms: 5000,
        leader_hint: None,
        members: vec![Member {
            node_id: 1,
            url: "ws://a".into(),
        }],
    };
    let server_frames = [
        ("server.welcome", ServerFrame::Welcome(welcome)),
        (
            "server.refused",
            ServerFrame::Refused { reason: "r".into() },
        ),
        (
            "server.response",
            ServerFrame::Response(Response {
                id: RequestId(3),
                result: Err(OpError::Cancelled),
            }),
        ),
        (
            "server.event.session_expired",
            ServerFrame::Event(Event::SessionExpired { session: s }),
        ),
        (
            "server.event.leader_changed",
            ServerFrame::Event(Event::LeaderChanged { leader_hint: None }),
        ),
        (
            "server.protocol_error",
            ServerFrame::ProtocolError { reason: "r".into() },
        ),
        ("server.heartbeat_ack", ServerFrame::HeartbeatAck),
        (
            "server.token_refused",
            ServerFrame::TokenRefused(OpError::TokenExpired),
        ),
    ];
    let mut all: Vec<(&'static str, Vec<u8>)> = Vec::new();
    all.extend(op_samples.iter().map(|(n, v)| (*n, enc(v))));
    all.extend(values.iter().map(|(n, v)| (*n, enc(v))));
    all.extend(replies.iter().map(|(n, v)| (*n, enc(v))));
    all.extend(errors.iter().map(|(n, v)| (*n, enc(v))));
    all.extend(client_frames.iter().map(|(n, v)| (*n, enc(v))));
    all.extend(server_frames.iter().map(|(n, v)| (*n, enc(v))));
    all.extend(admin_samples());
    all
}

/// Admin operations, their replies and their error, appended later.
fn admin_samples() -> Vec<(&'static str, Vec<u8>)> {
    use erased::Encode;
    use raftcp_proto::admin::*;
    let admin = |op: AdminOp| {
        ClientFrame::Admin {
            id: RequestId(3),
            op,
        }
        .bytes()
    };
    let key = ObjectKey {
        name: "n".into(),
        kind: "lock".into(),
    };
    let reply = |reply: AdminReply| Reply::Admin(Box::new(reply)).bytes();
    let members = Members {
        leader: 1,
        term: 2,
        last_log_index: 9,
        committed: 8,
        applied: 7,
        changing: false,
        members: vec![MemberInfo {
            node_id: 1,
            addr: "a:1".into(),
            voter: true,
            matched: Some(9),
            lag: 0,
            last_heard_ms: 0,
        }],
    };
    let session = SessionInfo {
        session: SessionId(12),
        client_name: "c".into(),
        expires_in_ms: 5,
        holds: vec!["h".into()],
        waits: vec![],
    };
    let object = ObjectInfo {
        key: key.clone(),
        summary: "s".into(),
        waiters: 1,
    };
    vec![
        ("admin.members", admin(AdminOp::Members)),
        (
            "admin.add_learner",
            admin(AdminOp::AddLearner {
                node_id: 4,
                addr: "a:1".into(),
            }),
        ),
        (
            "admin.promote",
            admin(AdminOp::Promote {
                node_id: 4,
                force: true,
            }),
        ),
        (
            "admin.remove_member",
            admin(AdminOp::RemoveMember {
                node_id: 4,
                force: false,
            }),
        ),
        (
            "admin.transfer_leader",
            admin(AdminOp::TransferLeader { node_id: 2 }),
        ),
        (
            "admin.sessions",
            admin(AdminOp::Sessions {
                after: Some(SessionId(12)),
                limit: 100,
            }),
        ),
        (
            "admin.close_session",
            admin(AdminOp::CloseSession {
                session: SessionId(12),
            }),
        ),
        (
            "admin.objects",
            admin(AdminOp::Objects {
                prefix: "p".into(),
                after: Some(key),
                limit: 500,
            }),
        ),
        ("admin.reply.done", reply(AdminReply::Done)),
        ("admin.reply.bool", reply(AdminReply::Bool(true))),
        ("admin.reply.members", reply(AdminReply::Members(members))),
        (
            "admin.reply.sessions",
            reply(AdminReply::Sessions(vec![session])),
        ),
        (
            "admin.reply.objects",
            reply(AdminReply::Objects(vec![object])),
        ),
        (
            "error.admin_refused",
            OpError::AdminRefused { reason: "r".into() }.bytes(),
        ),
    ]
}

mod erased {
    pub trait Encode {
        fn bytes(&self) -> Vec<u8>;
    }
    impl<T: serde::Serialize> Encode for T {
        fn bytes(&self) -> Vec<u8> {
            raftcp_proto::encode(self).expect("encodes")
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

const GOLDEN: &[(&str, &str)] = &[
    ("long.get", "00016e00"),
    ("long.set", "00016e0103"),
    ("long.add_and_get", "00016e0202"),
    ("long.get_and_add", "00016e030a"),
    ("long.cas", "00016e041e28"),
    ("long.get_and_set", "00016e050e"),
    ("ref.get", "01016e00"),
    ("ref.set", "01016e01010101"),
    ("ref.get_and_set", "01016e0200"),
    ("ref.cas", "01016e0300010202"),
    ("ref.is_null", "01016e04"),
    ("ref.contains", "01016e050100"),
    ("lock.lock", "02016e070001882701"),
    ("lock.unlock", "02016e0701"),
    ("lock.is_locked", "02016e0702"),
    ("lock.is_locked_by_me", "02016e0703"),
    ("lock.lock_count", "02016e0704"),
    ("lock.get_fence", "02016e0705"),
    ("sem.init", "03016e07000a"),
    ("sem.acquire", "03016e07010300"),
    ("sem.release", "03016e070203"),
    ("sem.available", "03016e0703"),
    ("sem.drain", "03016e0704"),
    ("sem.reduce", "03016e070502"),
    ("sem.increase", "03016e070605"),
    ("latch.try_set_count", "04016e0003"),
    ("latch.count_down", "04016e01"),
    ("latch.get_count", "04016e02"),
    ("latch.await", "04016e0301b0ea01"),
    ("long.destroy", "00016e06"),
    ("ref.destroy", "01016e06"),
    ("lock.destroy", "02016e0706"),
    ("sem.destroy", "03016e0707"),
    ("latch.destroy", "04016e04"),
    ("value.null", "00"),
    ("value.bool", "0100"),
    ("value.i64", "0201"),
    ("value.u64", "03ffffffffffffffffff01"),
    ("value.f64", "04000000000000e03f"),
    ("value.string", "050173"),
    ("value.bytes", "0601ff"),
    ("value.list", "070100"),
    ("value.map", "0801016b0202"),
    ("reply.unit", "00"),
    ("reply.bool", "0101"),
    ("reply.long", "0209"),
    ("reply.value", "0300"),
    ("reply.fence", "04012a"),
    ("reply.count", "0503"),
    ("error.session_expired", "000c"),
    ("error.not_owner", "01046c6f636b016e"),
    ("error.lock_ownership_lost", "02016e"),
    ("error.not_enough_permits", "03016e0102"),
    ("error.lock_acquire_limit", "04016e01"),
    ("error.invalid_name", "050172"),
    ("error.invalid_argument", "060172"),
    ("error.value_too_large", "07ac02c801"),
    ("error.too_many_waiters", "08016e01"),
    ("error.too_many_objects", "0901"),
    ("error.too_many_sessions", "0a01"),
    ("error.too_many_unacknowledged", "0b0c01"),
    ("error.request_acknowledged", "0c0102"),
    ("error.cancelled", "0d"),
    ("error.unknown_group", "0e0167"),
    ("error.not_leader", "0f010677733a2f2f68"),
    ("error.unavailable", "100172"),
    ("error.too_many_waiting_requests", "110c01"),
    ("error.unauthenticated", "120172"),
    ("error.permission_denied", "13046c6f636b016e"),
    ("error.token_expired", "14"),
    ("error.object_destroyed", "15046c6f636b016e"),
    ("error.quota_exceeded", "16ac0202"),
    (
        "client.hello",
        "00030163010cabababababababababababababababab00",
    ),
    ("client.request", "01030764656661756c7402010104016e01"),
    ("client.cancel", "0203"),
    ("client.heartbeat", "03"),
    ("client.close_session", "04"),
    ("client.authenticate", "050174"),
    (
        "server.welcome",
        "000ccdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcde0d40388270001010677733a2f2f61",
    ),
    ("server.refused", "010172"),
    ("server.response", "0203010d"),
    ("server.event.session_expired", "03000c"),
    ("server.event.leader_changed", "030100"),
    ("server.protocol_error", "040172"),
    ("server.heartbeat_ack", "05"),
    ("server.token_refused", "0614"),
    ("admin.members", "060300"),
    ("admin.add_learner", "0603010403613a31"),
    ("admin.promote", "0603020401"),
    ("admin.remove_member", "0603030400"),
    ("admin.transfer_leader", "06030402"),
    ("admin.sessions", "060305010c64"),
    ("admin.close_session", "0603060c"),
    ("admin.objects", "060307017001016e046c6f636bf403"),
    ("admin.reply.done", "0600"),
    ("admin.reply.bool", "060101"),
    (
        "admin.reply.members",
        "0602010209080700010103613a310101090000",
    ),
    ("admin.reply.sessions", "0603010c01630501016800"),
    ("admin.reply.objects", "060401016e046c6f636b017301"),
    ("error.admin_refused", "170172"),
];

#[test]
fn every_variant_keeps_its_encoding() {
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
    for ((name, bytes), (golden_name, golden_hex)) in actual.iter().zip(GOLDEN) {
        assert_eq!(name, golden_name);
        assert_eq!(&hex(bytes), golden_hex, "encoding of {name} changed");
    }
}

/// A `Hello` of protocol 1 or 2 (this one resumes session 12) does not
/// decode as protocol 3's, but still tells its version, so the server
/// refuses it by version instead of as a malformed frame.
#[test]
fn an_older_hello_still_tells_its_version() {
    let older = [0x00, 0x02, 0x01, 0x63, 0x01, 0x0c, 0x00];
    assert!(decode::<ClientFrame>(&older).is_err());
    assert_eq!(hello_version(&older), Some(2));
    assert_eq!(hello_version(&[0x01, 0x03]), None, "not a Hello");
    assert_eq!(hello_version(&[0x00]), None, "cut short");
}
