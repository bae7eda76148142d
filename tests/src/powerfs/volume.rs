//! The files of a power-cut volume, in memory, with no I/O: each file's
//! bytes as they were last written and as they were at its last fsync.
//! A power cut puts every file back to its synced bytes.
//!
//! What a power cut keeps, as a journaling filesystem in its default mode
//! roughly does and as Jepsen's lazyfs models it:
//! - file data (writes and changes of length) only as far as the file was
//!   fsynced (`fsync` or `fdatasync`);
//! - names (creating, renaming and removing files and directories) always:
//!   a file created and never synced comes back empty, not absent.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::time::SystemTime;

/// An inode number; the root directory is [`ROOT`].
pub type Ino = u64;
pub const ROOT: Ino = 1;

/// Why an operation was refused, as the filesystem tells the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    NotFound,
    Exists,
    NotADirectory,
    IsADirectory,
    NotEmpty,
    /// The volume is full: nothing may grow.
    NoSpace,
    /// Past [`FILE_BYTES_MAX`].
    TooLarge,
}

/// The largest file a volume holds: it lives in memory, and a member's
/// files are far smaller (WAL files are cut at 16 MiB).
pub const FILE_BYTES_MAX: usize = 1 << 30;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Directory,
    File,
}

/// What `stat` shows of a node.
#[derive(Clone, Copy, Debug)]
pub struct Attr {
    pub ino: Ino,
    pub kind: Kind,
    pub size: u64,
    pub mode: u16,
    pub links: u32,
    pub modified: SystemTime,
}

#[derive(Debug)]
enum Body {
    Directory(BTreeMap<OsString, Ino>),
    File {
        /// What reads see: every write so far.
        written: Vec<u8>,
        /// What survives a power cut: the bytes at the last fsync.
        synced: Vec<u8>,
    },
}

#[derive(Debug)]
struct Node {
    body: Body,
    mode: u16,
    /// Names that point at it (a directory's count stays 1).
    links: u32,
    /// Open handles; an unlinked node lives until the last one closes.
    opens: u32,
    modified: SystemTime,
}

#[derive(Debug)]
pub struct Volume {
    nodes: BTreeMap<Ino, Node>,
    next_ino: Ino,
    /// While full, no file may grow (writes within a file's length still
    /// succeed, as on a real full disk).
    full: bool,
}

impl Default for Volume {
    fn default() -> Self {
        let root = Node {
            body: Body::Directory(BTreeMap::new()),
            mode: 0o755,
            links: 1,
            opens: 0,
            modified: SystemTime::now(),
        };
        Volume {
            nodes: BTreeMap::from([(ROOT, root)]),
            next_ino: ROOT + 1,
            full: false,
        }
    }
}

impl Volume {
    /// Every file back to its bytes at its last fsync.
    pub fn power_cut(&mut self) {
        for node in self.nodes.values_mut() {
            if let Body::File { written, synced } = &mut node.body {
                written.clone_from(synced);
            }
        }
    }

    pub fn set_full(&mut self, full: bool) {
        self.full = full;
    }

    /// Bytes held for files (written and synced copies both).
    pub fn bytes_held(&self) -> u64 {
        let held = self.nodes.values().map(|node| match &node.body {
            Body::File { written, synced } => written.len() + synced.len(),
            Body::Directory(_) => 0,
        });
        held.sum::<usize>() as u64
    }

    pub fn attr(&self, ino: Ino) -> Result<Attr, Refusal> {
        let node = self.nodes.get(&ino).ok_or(Refusal::NotFound)?;
        let (kind, size) = match &node.body {
            Body::Directory(entries) => (Kind::Directory, entries.len() as u64),
            Body::File { written, .. } => (Kind::File, written.len() as u64),
        };
        Ok(Attr {
            ino,
            kind,
            size,
            mode: node.mode,
            links: node.links,
            modified: node.modified,
        })
    }

    pub fn lookup(&self, parent: Ino, name: &OsStr) -> Result<Ino, Refusal> {
        self.entries_of(parent)?
            .get(name)
            .copied()
            .ok_or(Refusal::NotFound)
    }

    /// The names in directory `dir`, in order.
    pub fn list(&self, dir: Ino) -> Result<Vec<(OsString, Ino, Kind)>, Refusal> {
        let entries = self.entries_of(dir)?;
        let listed = entries.iter().map(|(name, ino)| {
            let kind = match self.nodes.get(ino).map(|n| &n.body) {
                Some(Body::Directory(_)) => Kind::Directory,
                _ => Kind::File,
            };
            (name.clone(), *ino, kind)
        });
        Ok(listed.collect())
    }

    /// A new, empty file or directory named `name` in `parent`.
    pub fn create(
        &mut self,
        parent: Ino,
        name: &OsStr,
        kind: Kind,
        mode: u16,
    ) -> Result<Ino, Refusal> {
        if self.entries_of(parent)?.contains_key(name) {
            return Err(Refusal::Exists);
        }
        let ino = self.next_ino;
        self.next_ino += 1;
        let body = match kind {
            Kind::Directory => Body::Directory(BTreeMap::new()),
            Kind::File => Body::File {
                written: Vec::new(),
                synced: Vec::new(),
            },
        };
        let node = Node {
            body,
            mode,
            links: 1,
            opens: 0,
            modified: SystemTime::now(),
        };
        self.nodes.insert(ino, node);
        self.entries_of_mut(parent)?.insert(name.to_owned(), ino);
        Ok(ino)
    }

    /// Removes the name `name` (a file) from `parent`.
    pub fn unlink(&mut self, parent: Ino, name: &OsStr) -> Result<(), Refusal> {
        let ino = self.lookup(parent, name)?;
        if self.attr(ino)?.kind == Kind::Directory {
            return Err(Refusal::IsADirectory);
        }
        self.entries_of_mut(parent)?.remove(name);
        self.drop_link(ino);
        Ok(())
    }

    /// Removes the empty directory `name` from `parent`.
    pub fn rmdir(&mut self, parent: Ino, name: &OsStr) -> Result<(), Refusal> {
        let ino = self.lookup(parent, name)?;
        if !self.entries_of(ino)?.is_empty() {
            return Err(Refusal::NotEmpty);
        }
        self.entries_of_mut(parent)?.remove(name);
        self.drop_link(ino);
        Ok(())
    }

    /// Moves `name` in `parent` to `new_name` in `new_parent`, replacing a
    /// file (or an empty directory) of the same kind there.
    pub fn rename(
        &mut self,
        parent: Ino,
        name: &OsStr,
        new_parent: Ino,
        new_name: &OsStr,
    ) -> Result<(), Refusal> {
        let moved = self.lookup(parent, name)?;
        let moved_kind = self.attr(moved)?.kind;
        match self.lookup(new_parent, new_name) {
            Ok(same) if same == moved => return Ok(()),
            Ok(replaced) => match (moved_kind, self.attr(replaced)?.kind) {
                (Kind::File, Kind::File) => self.unlink(new_parent, new_name)?,
                (Kind::Directory, Kind::Directory) => self.rmdir(new_parent, new_name)?,
                (Kind::File, Kind::Directory) => return Err(Refusal::IsADirectory),
                (Kind::Directory, Kind::File) => return Err(Refusal::NotADirectory),
            },
            Err(Refusal::NotFound) => self.entries_of(new_parent).map(drop)?,
            Err(other) => return Err(other),
        }
        self.entries_of_mut(parent)?.remove(name);
        self.entries_of_mut(new_parent)?
            .insert(new_name.to_owned(), moved);
        Ok(())
    }

    pub fn open(&mut self, ino: Ino) -> Result<(), Refusal> {
        let node = self.nodes.get_mut(&ino).ok_or(Refusal::NotFound)?;
        node.opens += 1;
        Ok(())
    }

    pub fn release(&mut self, ino: Ino) {
        if let Some(node) = self.nodes.get_mut(&ino) {
            node.opens = node.opens.saturating_sub(1);
            self.forget_if_gone(ino);
        }
    }

    pub fn read(&self, ino: Ino, offset: u64, size: u32) -> Result<&[u8], Refusal> {
        let written = self.file(ino)?.0;
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(written.len());
        let end = start.saturating_add(size as usize).min(written.len());
        Ok(&written[start..end])
    }

    /// Writes `data` at `offset` (zeros fill a gap); the bytes written.
    pub fn write(&mut self, ino: Ino, offset: u64, data: &[u8]) -> Result<usize, Refusal> {
        let start = usize::try_from(offset).map_err(|_| Refusal::TooLarge)?;
        let end = start.checked_add(data.len()).ok_or(Refusal::TooLarge)?;
        if end > FILE_BYTES_MAX {
            return Err(Refusal::TooLarge);
        }
        let full = self.full;
        let (written, _) = self.file_mut(ino)?;
        if end > written.len() {
            if full {
                return Err(Refusal::NoSpace);
            }
            written.resize(end, 0);
        }
        written[start..end].copy_from_slice(data);
        self.touch(ino);
        Ok(data.len())
    }

    /// Cuts or extends (with zeros) file `ino` to `length` bytes.
    pub fn set_length(&mut self, ino: Ino, length: u64) -> Result<(), Refusal> {
        let length = usize::try_from(length).map_err(|_| Refusal::TooLarge)?;
        if length > FILE_BYTES_MAX {
            return Err(Refusal::TooLarge);
        }
        let full = self.full;
        let (written, _) = self.file_mut(ino)?;
        if length > written.len() && full {
            return Err(Refusal::NoSpace);
        }
        written.resize(length, 0);
        self.touch(ino);
        Ok(())
    }

    pub fn set_mode(&mut self, ino: Ino, mode: u16) -> Result<(), Refusal> {
        self.nodes.get_mut(&ino).ok_or(Refusal::NotFound)?.mode = mode;
        Ok(())
    }

    /// fsync: file `ino`'s bytes now survive a power cut. A directory's
    /// names always do.
    pub fn sync(&mut self, ino: Ino) -> Result<(), Refusal> {
        let node = self.nodes.get_mut(&ino).ok_or(Refusal::NotFound)?;
        if let Body::File { written, synced } = &mut node.body {
            synced.clone_from(written);
        }
        Ok(())
    }

    fn file(&self, ino: Ino) -> Result<(&Vec<u8>, &Vec<u8>), Refusal> {
        match &self.nodes.get(&ino).ok_or(Refusal::NotFound)?.body {
            Body::File { written, synced } => Ok((written, synced)),
            Body::Directory(_) => Err(Refusal::IsADirectory),
        }
    }

    fn file_mut(&mut self, ino: Ino) -> Result<(&mut Vec<u8>, &mut Vec<u8>), Refusal> {
        match &mut self.nodes.get_mut(&ino).ok_or(Refusal::NotFound)?.body {
            Body::File { written, synced } => Ok((written, synced)),
            Body::Directory(_) => Err(Refusal::IsADirectory),
        }
    }

    fn entries_of(&self, dir: Ino) -> Result<&BTreeMap<OsString, Ino>, Refusal> {
        match &self.nodes.get(&dir).ok_or(Refusal::NotFound)?.body {
            Body::Directory(entries) => Ok(entries),
            Body::File { .. } => Err(Refusal::NotADirectory),
        }
    }

    fn entries_of_mut(&mut self, dir: Ino) -> Result<&mut BTreeMap<OsString, Ino>, Refusal> {
        let node = self.nodes.get_mut(&dir).ok_or(Refusal::NotFound)?;
        node.modified = SystemTime::now();
        match &mut node.body {
            Body::Directory(entries) => Ok(entries),
            Body::File { .. } => Err(Refusal::NotADirectory),
        }
    }

    fn touch(&mut self, ino: Ino) {
        if let Some(node) = self.nodes.get_mut(&ino) {
            node.modified = SystemTime::now();
        }
    }

    fn drop_link(&mut self, ino: Ino) {
        if let Some(node) = self.nodes.get_mut(&ino) {
            node.links = node.links.saturating_sub(1);
            self.forget_if_gone(ino);
        }
    }

    fn forget_if_gone(&mut self, ino: Ino) {
        let gone = (self.nodes.get(&ino)).is_some_and(|n| n.links == 0 && n.opens == 0);
        if gone && ino != ROOT {
            self.nodes.remove(&ino);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn volume_with_file() -> (Volume, Ino) {
        let mut volume = Volume::default();
        let ino = volume
            .create(ROOT, OsStr::new("wal"), Kind::File, 0o644)
            .unwrap();
        (volume, ino)
    }

    #[test]
    fn a_power_cut_keeps_what_was_synced_and_drops_the_rest() {
        let (mut volume, file) = volume_with_file();
        volume.write(file, 0, b"synced").unwrap();
        volume.sync(file).unwrap();
        volume.write(file, 6, b"+lost").unwrap();
        volume.write(file, 0, b"S").unwrap();
        assert_eq!(volume.read(file, 0, 64).unwrap(), b"Synced+lost");
        volume.power_cut();
        assert_eq!(volume.read(file, 0, 64).unwrap(), b"synced");
        // A cut of the length is lost the same way.
        volume.set_length(file, 2).unwrap();
        volume.power_cut();
        assert_eq!(volume.attr(file).unwrap().size, 6);
    }

    #[test]
    fn names_survive_a_power_cut_but_unsynced_files_come_back_empty() {
        let (mut volume, file) = volume_with_file();
        volume.write(file, 0, b"never synced").unwrap();
        volume
            .rename(ROOT, OsStr::new("wal"), ROOT, OsStr::new("wal-2"))
            .unwrap();
        volume.power_cut();
        assert_eq!(volume.lookup(ROOT, OsStr::new("wal-2")), Ok(file));
        assert_eq!(
            volume.lookup(ROOT, OsStr::new("wal")),
            Err(Refusal::NotFound)
        );
        assert_eq!(volume.attr(file).unwrap().size, 0);
    }

    #[test]
    fn a_full_volume_refuses_growth_but_not_overwrites() {
        let (mut volume, file) = volume_with_file();
        volume.write(file, 0, b"abcd").unwrap();
        volume.set_full(true);
        assert_eq!(volume.write(file, 2, b"xyz"), Err(Refusal::NoSpace));
        assert_eq!(volume.set_length(file, 10), Err(Refusal::NoSpace));
        assert_eq!(volume.write(file, 0, b"AB"), Ok(2));
        volume.set_full(false);
        assert_eq!(volume.write(file, 4, b"ef"), Ok(2));
        assert_eq!(volume.read(file, 0, 64).unwrap(), b"ABcdef");
    }

    #[test]
    fn an_unlinked_file_lives_until_its_last_handle_closes() {
        let (mut volume, file) = volume_with_file();
        volume.open(file).unwrap();
        volume.unlink(ROOT, OsStr::new("wal")).unwrap();
        assert!(volume.write(file, 0, b"still open").is_ok());
        volume.release(file);
        assert_eq!(volume.attr(file).map(|a| a.ino), Err(Refusal::NotFound));
    }

    #[test]
    fn rename_replaces_a_file_and_refuses_mixed_kinds() {
        let (mut volume, file) = volume_with_file();
        let other = volume
            .create(ROOT, OsStr::new("tmp"), Kind::File, 0o644)
            .unwrap();
        let dir = volume
            .create(ROOT, OsStr::new("d"), Kind::Directory, 0o755)
            .unwrap();
        volume
            .rename(ROOT, OsStr::new("tmp"), ROOT, OsStr::new("wal"))
            .unwrap();
        assert_eq!(volume.lookup(ROOT, OsStr::new("wal")), Ok(other));
        assert_eq!(volume.attr(file).map(|a| a.ino), Err(Refusal::NotFound));
        let moved = volume.rename(ROOT, OsStr::new("wal"), ROOT, OsStr::new("d"));
        assert_eq!(moved, Err(Refusal::IsADirectory));
        volume
            .create(dir, OsStr::new("x"), Kind::File, 0o644)
            .unwrap();
        assert_eq!(volume.rmdir(ROOT, OsStr::new("d")), Err(Refusal::NotEmpty));
    }

    #[test]
    fn reads_and_writes_at_extreme_offsets_are_bounded() {
        let (mut volume, file) = volume_with_file();
        volume.write(file, 0, b"abc").unwrap();
        assert_eq!(volume.read(file, u64::MAX, u32::MAX).unwrap(), b"");
        assert_eq!(volume.read(file, 1, u32::MAX).unwrap(), b"bc");
        assert_eq!(volume.write(file, u64::MAX, b"x"), Err(Refusal::TooLarge));
        assert_eq!(volume.write(file, 1 << 40, b"x"), Err(Refusal::TooLarge));
        assert_eq!(volume.set_length(file, u64::MAX), Err(Refusal::TooLarge));
    }
}
