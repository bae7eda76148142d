//! The commands that run a member, make its keys or override its recovery:
//! `raftcp serve`, `raftcp dev`, `raftcp auth` and `raftcp vote-again`. The `raftcp` binary (the `raftcp-cli`
//! crate) parses the command line and calls them; its client-side commands
//! (`status`, `admin`, `bench`) live there, so this crate needs no client.

pub mod auth;
pub mod dev;
pub mod serve;
pub mod vote_again;

use crate::www::Assets;
use std::path::Path;
use std::sync::Arc;

/// The dashboard's files from `--www DIR`, read once.
fn load_www(dir: &Path) -> Result<Arc<Assets>, String> {
    Assets::load(dir)
        .map(Arc::new)
        .map_err(|e| format!("--www: {e}"))
}

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
