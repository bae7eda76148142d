//! See `raftcp_tests::fuzz::snapshot`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| raftcp_tests::fuzz::snapshot(data));
