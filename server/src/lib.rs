//! raftcp server. Today: the deterministic CP state machine ([`machine`]) and
//! the durable files beside the Raft log ([`storage`]). The Raft driver,
//! client gateway and CLI build on them.

pub mod admission;
pub mod cli;
pub mod clock;
pub mod cluster;
pub mod faults;
pub mod gateway;
pub mod http;
pub mod limits;
pub mod machine;
pub mod metrics;
pub mod node;
pub mod raft;
pub mod reachability;
pub mod storage;
pub mod sync;
pub mod ws;
