//! The files of a power-cut volume, in memory, with no I/O: each file's
//! bytes as they were last written and as they were at its last fsync.
//!
//! What a power cut keeps (Jepsen's lazyfs models it much the same way):
//! - file data (writes and changes of length) as far as the file was
//!   fsynced (`fsync` or `fdatasync`);
//! - of bytes appended since, any prefix, or zeros in their place (the
//!   kernel may have written some back, or grown the file before its
//!   data): the caller chooses, so that torn records are met too;
//! - names (creating, renaming and removing files and directories) always:
//!   a file created and never synced comes back empty, not absent. This is
//!   kinder than ext4, which may lose a name whose directory was not
//!   synced.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};

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
}

#[derive(Debug)]
enum Body {
    Directory(BTreeMap<OsString, Ino>),
    File(FileBytes),
}

#[derive(Debug, Default)]
struct FileBytes {
    /// What reads see: every write so far.
    written: Vec<u8>,
    /// What surely survives a power cut: the bytes at the last fsync.
    synced: Vec<u8>,
    /// Below this offset `written` and `synced` agree, so a sync copies
    /// only what changed since (WAL files grow by appends).
    same_below: usize,
}

impl FileBytes {
    fn changed_from(&mut self, offset: usize) {
        self.same_below = self.same_below.min(offset);
    }

    fn sync(&mut self) {
        let from = self.same_below.min(self.written.len());
        self.synced.truncate(from);
        self.synced.extend_from_slice(&self.written[from..]);
        self.same_below = usize::MAX;
    }
}

/// What a power cut keeps of the bytes appended to a file since its last
/// sync.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unsynced {
    /// The first this many of them.
    Prefix(usize),
    /// This many zeros in their place.
    Zeros(usize),
}

#[derive(Debug)]
struct Node {
    body: Body,
    mode: u16,
    /// Names that point at it (a directory's count stays 1).
    links: u32,
    /// Open handles; an unlinked node lives until the last one closes.
    opens: u32,
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
        };
        Volume {
            nodes: BTreeMap::from([(ROOT, root)]),
            next_ino: ROOT + 1,
            full: false,
        }
    }
}

impl Volume {
    /// Every file back to its bytes at its last fsync, and of the bytes
    /// appended since, what `kept` says for their count (a file changed
    /// elsewhere since its sync keeps none of it).
    pub fn power_cut(&mut self, mut kept: impl FnMut(usize) -> Unsynced) {
        for node in self.nodes.values_mut() {
            let Body::File(file) = &mut node.body else {
                continue;
            };
            let synced = file.synced.len();
            let appended = file.written.len().saturating_sub(synced);
            if file.same_below >= synced && appended > 0 {
                match kept(appended) {
                    Unsynced::Prefix(n) => {
                        let end = synced + n.min(appended);
                        file.synced.extend_from_slice(&file.written[synced..end]);
                    }
                    Unsynced::Zeros(n) => file.synced.resize(synced + n.min(appended), 0),
                }
            }
            file.written.clone_from(&file.synced);
            file.same_below = usize::MAX;
        }
    }

    pub fn set_full(&mut self, full: bool) {
        self.full = full;
    }

    pub fn is_full(&self) -> bool {
        self.full
    }

    /// Bytes held for files (written and synced copies both).
    pub fn bytes_held(&self) -> u64 {
        let held = self.nodes.values().map(|node| match &node.body {
            Body::File(file) => file.written.len() + file.synced.len(),
            Body::Directory(_) => 0,
        });
        held.sum::<usize>() as u64
    }

    pub fn attr(&self, ino: Ino) -> Result<Attr, Refusal> {
        let node = self.nodes.get(&ino).ok_or(Refusal::NotFound)?;
        let (kind, size) = match &node.body {
            Body::Directory(entries) => (Kind::Directory, entries.len() as u64),
            Body::File(file) => (Kind::File, file.written.len() as u64),
        };
        Ok(Attr {
            ino,
            kind,
            size,
            mode: node.mode,
            links: node.links,
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
            Kind::File => Body::File(FileBytes::default()),
        };
        let node = Node {
            body,
            mode,
            links: 1,
            opens: 0,
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
        let written = &self.file(ino)?.written;
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
        let file = self.file_mut(ino)?;
        if end > file.written.len() {
            if full {
                return Err(Refusal::NoSpace);
            }
            file.changed_from(file.written.len());
            file.written.resize(end, 0);
        }
        file.changed_from(start);
        file.written[start..end].copy_from_slice(data);
        Ok(data.len())
    }

    /// Cuts or extends (with zeros) file `ino` to `length` bytes.
    pub fn set_length(&mut self, ino: Ino, length: u64) -> Result<(), Refusal> {
        let length = usize::try_from(length).map_err(|_| Refusal::TooLarge)?;
        if length > FILE_BYTES_MAX {
            return Err(Refusal::TooLarge);
        }
        let full = self.full;
        let file = self.file_mut(ino)?;
        if length > file.written.len() && full {
            return Err(Refusal::NoSpace);
        }
        file.changed_from(length.min(file.written.len()));
        file.written.resize(length, 0);
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
        if let Body::File(file) = &mut node.body {
            file.sync();
        }
        Ok(())
    }

    fn file(&self, ino: Ino) -> Result<&FileBytes, Refusal> {
        match &self.nodes.get(&ino).ok_or(Refusal::NotFound)?.body {
            Body::File(file) => Ok(file),
            Body::Directory(_) => Err(Refusal::IsADirectory),
        }
    }

    fn file_mut(&mut self, ino: Ino) -> Result<&mut FileBytes, Refusal> {
        match &mut self.nodes.get_mut(&ino).ok_or(Refusal::NotFound)?.body {
            Body::File(file) => Ok(file),
            Body::Directory(_) => Err(Refusal::IsADirectory),
        }
    }

    fn entries_of(&self, dir: Ino) -> Result<&BTreeMap<OsString, Ino>, Refusal> {
        match &self.nodes.get(&dir).ok_or(Refusal::NotFound)?.body {
            Body::Directory(entries) => Ok(entries),
            Body::File(_) => Err(Refusal::NotADirectory),
        }
    }

    fn entries_of_mut(&mut self, dir: Ino) -> Result<&mut BTreeMap<OsString, Ino>, Refusal> {
        match &mut self.nodes.get_mut(&dir).ok_or(Refusal::NotFound)?.body {
            Body::Directory(entries) => Ok(entries),
            Body::File(_) => Err(Refusal::NotADirectory),
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

    const NOTHING: fn(usize) -> Unsynced = |_| Unsynced::Prefix(0);

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
        volume.power_cut(NOTHING);
        assert_eq!(volume.read(file, 0, 64).unwrap(), b"synced");
        // A cut of the length is lost the same way.
        volume.set_length(file, 2).unwrap();
        volume.power_cut(NOTHING);
        assert_eq!(volume.attr(file).unwrap().size, 6);
    }

    #[test]
    fn a_power_cut_may_keep_part_of_what_was_appended_or_zeros_for_it() {
        let (mut volume, file) = volume_with_file();
        volume.write(file, 0, b"synced").unwrap();
        volume.sync(file).unwrap();
        volume.write(file, 6, b"+torn").unwrap();
        volume.power_cut(|appended| Unsynced::Prefix(appended - 2));
        assert_eq!(volume.read(file, 0, 64).unwrap(), b"synced+to");
        volume.write(file, 9, b"rn").unwrap();
        volume.power_cut(Unsynced::Zeros);
        assert_eq!(volume.read(file, 0, 64).unwrap(), b"synced+to\0\0");
        // What a power cut kept is on disk: the next cut keeps it too.
        volume.power_cut(NOTHING);
        assert_eq!(volume.attr(file).unwrap().size, 11);
        // A file overwritten inside its synced bytes keeps none of its
        // appended bytes.
        volume.write(file, 0, b"S").unwrap();
        volume.write(file, 11, b"more").unwrap();
        volume.power_cut(Unsynced::Prefix);
        assert_eq!(volume.read(file, 0, 64).unwrap(), b"synced+to\0\0");
    }

    #[test]
    fn a_sync_after_overwrites_and_cuts_keeps_exactly_what_was_written() {
        let (mut volume, file) = volume_with_file();
        volume.write(file, 0, b"0123456789").unwrap();
        volume.sync(file).unwrap();
        volume.write(file, 3, b"abc").unwrap();
        volume.set_length(file, 8).unwrap();
        volume.write(file, 8, b"XY").unwrap();
        volume.sync(file).unwrap();
        volume.power_cut(NOTHING);
        assert_eq!(volume.read(file, 0, 64).unwrap(), b"012abc67XY");
    }

    #[test]
    fn names_survive_a_power_cut_but_unsynced_files_come_back_empty() {
        let (mut volume, file) = volume_with_file();
        volume.write(file, 0, b"never synced").unwrap();
        volume
            .rename(ROOT, OsStr::new("wal"), ROOT, OsStr::new("wal-2"))
            .unwrap();
        volume.power_cut(NOTHING);
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
