//! Damage to a stopped member's files, as a failing disk does it: a bit
//! flipped in data it had synced, or a file cut short. The member must
//! then refuse to start (and is replaced through the runbook), or start
//! with nothing it acknowledged lost; the checkers judge the second.

use super::Rng;
use std::path::{Path, PathBuf};

/// The member's files a disk may damage, and how often each is picked:
/// the log is most of what a member writes.
fn candidates(data_dir: &Path, rng: &mut Rng) -> Vec<PathBuf> {
    let mut wal: Vec<PathBuf> = std::fs::read_dir(data_dir.join("log"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "wal"))
        .collect();
    wal.sort();
    let sealed = ["state/snapshot", "identity", "known-peers"]
        .map(|name| data_dir.join(name))
        .into_iter()
        .filter(|path| path.exists());
    match rng.below(10) {
        0..6 => wal,
        6..9 => sealed.take(1).collect(),
        _ => sealed.collect(),
    }
}

/// Damages one file of the member whose data is in `data_dir` (stopped);
/// what was done, or why nothing was.
pub fn damage(data_dir: &Path, rng: &mut Rng) -> String {
    let files: Vec<PathBuf> = candidates(data_dir, rng)
        .into_iter()
        .filter(|path| std::fs::metadata(path).is_ok_and(|m| m.len() > 0))
        .collect();
    if files.is_empty() {
        return "no file to damage".to_owned();
    }
    let newest_wal = files
        .iter()
        .rfind(|p| p.extension().is_some_and(|e| e == "wal"));
    let file = files[rng.below(files.len() as u64) as usize].clone();
    let shown = file
        .strip_prefix(data_dir)
        .unwrap_or(&file)
        .display()
        .to_string();
    let Ok(mut bytes) = std::fs::read(&file) else {
        return format!("{shown} unreadable");
    };
    // Cutting the newest WAL file is the torn tail a power cut leaves (the
    // `log-tail` fault); any other file cut short was damaged.
    let cut = rng.below(3) == 0 && Some(&file) != newest_wal;
    let description = if cut {
        let kept = rng.below(bytes.len() as u64) as usize;
        bytes.truncate(kept);
        format!("{shown} cut to {kept} of its bytes")
    } else {
        let at = rng.below(bytes.len() as u64) as usize;
        let bit = rng.below(8);
        bytes[at] ^= 1 << bit;
        format!(
            "bit {bit} of byte {at} of {shown} ({} bytes) flipped",
            bytes.len()
        )
    };
    match std::fs::write(&file, &bytes) {
        Ok(()) => description,
        Err(error) => format!("{shown}: {error}"),
    }
}
