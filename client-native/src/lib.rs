//! The raftcp client. The connection engine, sessions and the primitive
//! handles arrive with the working-cluster issue; today this crate re-exports
//! the wire vocabulary it is built on.

pub use raftcp_proto as proto;
