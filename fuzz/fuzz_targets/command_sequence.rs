//! See `raftcp_tests::fuzz::command_sequence`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| raftcp_tests::fuzz::command_sequence(data));
