//! The commands that run a member or make its keys: `raftcp serve`,
//! `raftcp dev` and `raftcp auth`. The `raftcp` binary (the `raftcp-cli`
//! crate) parses the command line and calls them; its client-side commands
//! (`status`, `admin`, `bench`) live there, so this crate needs no client.

pub mod auth;
pub mod dev;
pub mod serve;

/// Waits for Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
