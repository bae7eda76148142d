//! `raftcp-powerfs MOUNTPOINT`: a test filesystem that can lose power
//! (`raftcp_tests::powerfs`). Commands on standard input, one per line:
//! `power-cut`, `fill`, `free`; each is answered `ok`. End of input
//! unmounts it.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(mountpoint) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: raftcp-powerfs MOUNTPOINT");
        return ExitCode::from(2);
    };
    match raftcp_tests::powerfs::serve(&mountpoint) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("raftcp-powerfs: {}: {error}", mountpoint.display());
            ExitCode::FAILURE
        }
    }
}
