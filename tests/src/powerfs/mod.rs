//! A test filesystem that can lose power: a member's data directory is
//! mounted on it (FUSE, in its own process `raftcp-powerfs`), and at a
//! power cut every file goes back to what it held at its last fsync, plus
//! maybe part of what was appended since ([`volume`] says exactly what
//! survives). It can also be made full, so that every write that would
//! grow a file fails with `ENOSPC`.
//!
//! kill -9 keeps the kernel's page cache, so a member killed that way
//! loses nothing it wrote; a member killed and then cut loses everything
//! it did not fsync, as a machine that loses power does.
//!
//! Needs `/dev/fuse` and the right to mount: as root (the CI machine)
//! fuser mounts with mount(2) directly; otherwise it needs `fusermount3`.

mod fuse;
pub mod volume;

use crate::jepsen::Rng;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long the filesystem process may take to mount or to answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// What the filesystem process reads on its standard input, one per line;
/// it answers each with `ok` once done. End of input unmounts it.
pub mod commands {
    /// `power-cut SEED`: drop everything not fsynced but what the seed
    /// keeps of bytes appended since ([`super::kept_by`]).
    pub const POWER_CUT: &str = "power-cut";
    /// Refuse every write that would grow a file.
    pub const FILL: &str = "fill";
    /// Take writes again.
    pub const FREE: &str = "free";
}

/// The line the filesystem process prints once mounted.
const MOUNTED: &str = "mounted";

/// Mounts a volume at `mountpoint` and serves it until standard input
/// ends: the body of `raftcp-powerfs`.
pub fn serve(mountpoint: &Path) -> std::io::Result<()> {
    let volume = Arc::new(Mutex::new(volume::Volume::default()));
    let filesystem = fuse::PowerFs {
        volume: volume.clone(),
    };
    let mut config = ::fuser::Config::default();
    config.mount_options = vec![::fuser::MountOption::FSName("raftcp-powerfs".into())];
    config.n_threads = Some(2);
    let session = ::fuser::spawn_mount(filesystem, mountpoint, &config)?;
    let mut out = std::io::stdout();
    writeln!(out, "{MOUNTED}")?;
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let mut volume = volume.lock().unwrap_or_else(|p| p.into_inner());
        let mut words = line.split_whitespace();
        match (words.next().unwrap_or_default(), words.next()) {
            (commands::POWER_CUT, Some(seed)) if seed.parse::<u64>().is_ok() => {
                let mut rng = Rng::new(seed.parse().unwrap_or_default());
                volume.power_cut(|appended| kept_by(&mut rng, appended));
            }
            (commands::FILL, None) => volume.set_full(true),
            (commands::FREE, None) => volume.set_full(false),
            _ => {
                let other = line.trim();
                writeln!(out, "unknown command {other:?}")?;
                continue;
            }
        }
        drop(volume);
        writeln!(out, "ok")?;
    }
    let unmounted = session.umount_and_join();
    if unmounted.is_err() {
        // Busy: detach it, so no dead mount is left behind.
        lazy_unmount(mountpoint);
    }
    unmounted
}

/// What a power cut keeps of `appended` unsynced bytes of a file: none
/// three times in four (nothing was written back: what a member that
/// acknowledges too early loses most), else a random prefix (some was,
/// maybe ending inside a record) or as many zeros (the file grew before
/// its data was written).
pub fn kept_by(rng: &mut Rng, appended: usize) -> volume::Unsynced {
    let count = rng.below(appended as u64 + 1) as usize;
    match rng.below(8) {
        0..6 => volume::Unsynced::Prefix(0),
        6 => volume::Unsynced::Prefix(count),
        _ => volume::Unsynced::Zeros(count),
    }
}

/// `umount -l`: the mount goes at once, whoever still uses it.
fn lazy_unmount(mountpoint: &Path) {
    let _ = Command::new("umount").arg("-l").arg(mountpoint).status();
}

/// A mounted power-cut volume, served by its own process; dropping it
/// unmounts it.
#[derive(Debug)]
pub struct PowerVolume {
    mountpoint: std::path::PathBuf,
    child: Child,
    stdin: Option<ChildStdin>,
    answers: mpsc::Receiver<String>,
}

impl PowerVolume {
    /// Mounts a fresh, empty volume over `mountpoint` (an existing
    /// directory, whose contents it hides).
    pub fn mount(mountpoint: &Path) -> std::io::Result<PowerVolume> {
        let binary = crate::built_profile_dir().join("raftcp-powerfs");
        let mut child = Command::new(binary)
            .arg(mountpoint)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdin = child.stdin.take();
        let (tx, answers) = mpsc::channel();
        let stdout = child.stdout.take().ok_or(std::io::ErrorKind::BrokenPipe)?;
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut volume = PowerVolume {
            mountpoint: mountpoint.to_owned(),
            child,
            stdin,
            answers,
        };
        volume.expect(MOUNTED)?;
        Ok(volume)
    }

    /// Everything not fsynced is gone, but what `seed` keeps of appended
    /// bytes (the member must be down).
    pub fn power_cut(&mut self, seed: u64) -> std::io::Result<()> {
        self.command(&format!("{} {seed}", commands::POWER_CUT))
    }

    /// From now on every write that would grow a file fails with ENOSPC.
    pub fn fill(&mut self) -> std::io::Result<()> {
        self.command(commands::FILL)
    }

    /// Writes are taken again.
    pub fn free(&mut self) -> std::io::Result<()> {
        self.command(commands::FREE)
    }

    fn command(&mut self, command: &str) -> std::io::Result<()> {
        let stdin = self.stdin.as_mut().ok_or(std::io::ErrorKind::BrokenPipe)?;
        writeln!(stdin, "{command}")?;
        stdin.flush()?;
        self.expect("ok")
    }

    fn expect(&mut self, line: &str) -> std::io::Result<()> {
        match self.answers.recv_timeout(ANSWER_TIMEOUT) {
            Ok(answer) if answer == line => Ok(()),
            Ok(answer) => Err(std::io::Error::other(format!(
                "raftcp-powerfs answered {answer:?}, not {line:?}"
            ))),
            Err(_) => Err(std::io::Error::other(format!(
                "raftcp-powerfs did not answer {line:?} in {ANSWER_TIMEOUT:?}"
            ))),
        }
    }
}

impl Drop for PowerVolume {
    fn drop(&mut self) {
        // End of input: it unmounts and exits.
        self.stdin.take();
        let deadline = std::time::Instant::now() + ANSWER_TIMEOUT;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        lazy_unmount(&self.mountpoint);
    }
}
