//! wasm-bindgen façade over the `raftcp` client for the npm package. Filled by
//! the npm-package issue; it holds no logic of its own.

pub use raftcp::proto;
