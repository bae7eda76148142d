//! Goal: no byte string makes a decoder panic or overflow the stack; each
//! either decodes to a message whose encoding round-trips, or is a typed
//! error. Method: random bytes, and random mutations of valid frames
//! (valid frames reach far deeper into the decoders than noise does).

#![allow(clippy::unwrap_used)] // tests may panic on what they do not expect

use proptest::prelude::*;
use raftcp_proto::{ClientFrame, ServerFrame, Value, decode, encode};

fn valid_frames() -> Vec<Vec<u8>> {
    use raftcp_proto::*;
    let op = Op::AtomicReference {
        name: "config".into(),
        op: RefOp::CompareAndSet {
            expect: Some(Value::List(vec![
                Value::F64(1.5),
                Value::String("x".into()),
            ])),
            update: Some(Value::Map(
                [("k".to_string(), Value::Bytes(vec![1, 2, 3]))].into(),
            )),
        },
    };
    let request = Request {
        id: RequestId(9),
        group: GroupName::default_group(),
        acked_below: RequestId(4),
        acked_except: vec![RequestId(2)],
        op,
    };
    vec![
        encode(&ClientFrame::Request(request)).unwrap(),
        encode(&ClientFrame::Hello(Hello {
            protocol_version: 1,
            client_name: "c".into(),
            resume: None,
            auth: None,
        }))
        .unwrap(),
        encode(&ServerFrame::Response(Response {
            id: RequestId(1),
            result: Ok(Reply::Fence(Some(Fence(5)))),
        }))
        .unwrap(),
    ]
}

fn check<T>(bytes: &[u8])
where
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    if let Ok(message) = decode::<T>(bytes) {
        // Postcard accepts overlong varints, so the input need not be the
        // canonical encoding; the canonical one must round-trip exactly.
        let canonical = encode(&message).unwrap();
        let again: T = decode(&canonical).expect("canonical encoding decodes");
        assert_eq!(encode(&again).unwrap(), canonical);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        check::<ClientFrame>(&bytes);
        check::<ServerFrame>(&bytes);
        let _ = decode::<Value>(&bytes);
    }

    #[test]
    fn mutated_frames(which in 0usize..3, edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6), cut in any::<usize>()) {
        let mut bytes = valid_frames()[which].clone();
        for (at, byte) in edits {
            let at = at % bytes.len();
            bytes[at] = byte;
        }
        bytes.truncate(1 + cut % bytes.len());
        check::<ClientFrame>(&bytes);
        check::<ServerFrame>(&bytes);
    }
}
