//! raftcp server: the deterministic CP state machine ([`machine`]), Raft
//! and its storage ([`raft`], [`storage`]), the client gateway
//! ([`gateway`]) behind the one listening port ([`http`]), and the commands
//! that run a member ([`commands`]).

pub mod admin;
pub mod admission;
pub mod auth;
pub mod clock;
pub mod cluster;
pub mod commands;
pub mod driver;
pub mod faults;
pub mod gateway;
pub mod http;
pub mod limits;
pub mod machine;
pub mod metrics;
pub mod node;
pub mod origin;
pub mod raft;
pub mod random;
pub mod recovery;
pub mod storage;
pub mod stream;
pub mod sync;
pub mod tls;
pub mod watch;
pub mod ws;
pub mod www;
