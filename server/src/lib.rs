//! raftcp server. Today: the deterministic CP state machine ([`machine`]).
//! The Raft driver, client gateway and CLI build on it.

pub mod machine;
