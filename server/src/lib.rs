//! raftcp server. Today: the deterministic CP state machine ([`machine`]) and
//! the durable files beside the Raft log ([`storage`]). The Raft driver,
//! client gateway and CLI build on them.

pub mod cluster;
pub mod machine;
pub mod metrics;
pub mod raft;
pub mod storage;
pub mod ws;
