//! `raftcp vote-again`: the operator's override for a member held back from
//! voting after its log lost a tail (`crate::recovery`).

use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct VoteAgainArgs {
    /// The stopped member's data directory (`serve --data-dir`; `raftcp
    /// dev` keeps node N's in `raftcp-data/node-N`).
    #[arg(long)]
    pub data_dir: PathBuf,
}

pub fn run(args: VoteAgainArgs) -> Result<(), String> {
    match crate::recovery::vote_again(&args.data_dir)? {
        Some(mark) => println!(
            "{}: it votes again at its next start without catching up first (its log: {})",
            args.data_dir.display(),
            mark.reason
        ),
        None => println!(
            "{}: it was not held back; nothing to do",
            args.data_dir.display()
        ),
    }
    Ok(())
}
