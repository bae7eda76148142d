//! See `raftcp_tests::fuzz::peer_frame`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| raftcp_tests::fuzz::peer_frame(data));
