//! raftcp server. Today: the deterministic CP state machine ([`machine`]) and
//! the durable files beside the Raft log ([`storage`]). The Raft driver,
//! client gateway and CLI build on them.

pub mod machine;
pub mod storage;
