//! See `raftcp_tests::fuzz::client_frames`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| raftcp_tests::fuzz::client_frames(data));
