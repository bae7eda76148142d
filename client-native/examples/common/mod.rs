//! Shared by the examples: where the cluster is.

/// RAFTCP_ENDPOINTS (comma separated), or the `raftcp dev` cluster.
pub fn endpoints() -> Vec<String> {
    std::env::var("RAFTCP_ENDPOINTS")
        .unwrap_or_else(|_| "ws://127.0.0.1:7701,ws://127.0.0.1:7702,ws://127.0.0.1:7703".into())
        .split(',')
        .map(str::to_owned)
        .collect()
}
