//! Crash-atomic file replacement: after a crash at any point, the path holds
//! either the complete old contents or the complete new ones.
//!
//! Steps, in this order:
//! 1. write the bytes to `<name>.tmp` and fsync it (data on disk);
//! 2. rename it over `<name>` (atomic on POSIX file systems);
//! 3. fsync the directory (the rename itself on disk).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_with_mode(path, &[bytes], 0o644)
}

/// As [`write_atomically`], the file being `parts` one after the other (so
/// a large file need not be copied into one buffer first).
pub fn write_parts_atomically(path: &Path, parts: &[&[u8]]) -> io::Result<()> {
    write_with_mode(path, parts, 0o644)
}

/// As [`write_atomically`], readable and writable by the owner only: for
/// secrets.
pub fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_with_mode(path, &[bytes], 0o600)
}

fn write_with_mode(path: &Path, parts: &[&[u8]], mode: u32) -> io::Result<()> {
    let temporary = temporary_path(path);
    // A leftover would keep its own mode; and a new file (never a symlink
    // someone planted there) gets `mode`.
    let _ = fs::remove_file(&temporary);
    {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&temporary)?;
        for part in parts {
            file.write_all(part)?;
        }
        file.sync_all()?;
    }
    fs::rename(&temporary, path)?;
    sync_directory(path)
}

/// Fsyncs the directory holding `path`, making renames and creations in it
/// durable.
pub fn sync_directory(path: &Path) -> io::Result<()> {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    File::open(directory)?.sync_all()
}

fn temporary_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".tmp");
    path.with_file_name(name)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A fresh directory under the system temp dir, unique per test.
    pub(crate) fn scratch_directory(label: &str) -> PathBuf {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let unique = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("raftcp-{label}-{}-{unique}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("scratch directory");
        dir
    }

    #[test]
    fn replaces_contents_and_leaves_no_temporary() {
        let dir = scratch_directory("atomic");
        let path = dir.join("snapshot");
        write_atomically(&path, b"first").unwrap();
        write_atomically(&path, b"second").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second");
        assert!(!temporary_path(&path).exists());
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_leftover_temporary_from_a_crash_does_not_matter() {
        let dir = scratch_directory("atomic-crash");
        let path = dir.join("snapshot");
        write_atomically(&path, b"good").unwrap();
        // A crash between steps 1 and 2 leaves a partial temporary behind.
        fs::write(temporary_path(&path), b"partial").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"good");
        write_atomically(&path, b"next").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"next");
        fs::remove_dir_all(dir).unwrap();
    }
}
