//! The kernel's view of a [`Volume`]: FUSE requests in, the volume's
//! answers out. Nothing is cached in the kernel (no attribute or name
//! cache, direct I/O), so after a power cut every read sees the volume.

use super::volume::{Attr, Ino, Kind, Refusal, Volume};
use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo, LockOwner,
    OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty,
    ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow, WriteFlags,
};
use std::ffi::OsStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

/// Attributes and names are never cached by the kernel: a power cut
/// changes them behind its back.
const NO_CACHE: Duration = Duration::ZERO;

/// What `statfs` reports: the volume lives in memory, so its size is only
/// shown (4 GiB free, none once it is full).
const BLOCK_BYTES: u64 = 4096;
const FREE_BLOCKS_SHOWN: u64 = 1 << 20;
const NAME_BYTES_MAX: u32 = 255;

/// The filesystem the kernel talks to; the volume is shared with whoever
/// cuts its power.
pub struct PowerFs {
    pub volume: Arc<Mutex<Volume>>,
}

impl PowerFs {
    fn volume(&self) -> MutexGuard<'_, Volume> {
        self.volume.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn errno(refusal: Refusal) -> Errno {
    match refusal {
        Refusal::NotFound => Errno::ENOENT,
        Refusal::Exists => Errno::EEXIST,
        Refusal::NotADirectory => Errno::ENOTDIR,
        Refusal::IsADirectory => Errno::EISDIR,
        Refusal::NotEmpty => Errno::ENOTEMPTY,
        Refusal::NoSpace => Errno::ENOSPC,
        Refusal::TooLarge => Errno::EFBIG,
    }
}

fn file_type(kind: Kind) -> FileType {
    match kind {
        Kind::Directory => FileType::Directory,
        Kind::File => FileType::RegularFile,
    }
}

fn file_attr(attr: Attr, request: &Request) -> FileAttr {
    FileAttr {
        ino: INodeNo(attr.ino),
        size: attr.size,
        blocks: attr.size.div_ceil(512),
        // A member never looks at file times.
        atime: SystemTime::UNIX_EPOCH,
        mtime: SystemTime::UNIX_EPOCH,
        ctime: SystemTime::UNIX_EPOCH,
        crtime: SystemTime::UNIX_EPOCH,
        kind: file_type(attr.kind),
        perm: attr.mode,
        nlink: attr.links,
        uid: request.uid(),
        gid: request.gid(),
        rdev: 0,
        blksize: 4096,
        flags: 0,
    }
}

/// The permission bits of a `mode`, as the volume keeps them.
fn permissions(mode: u32) -> u16 {
    (mode & 0o7777) as u16
}

impl PowerFs {
    fn reply_entry(&self, found: Result<Ino, Refusal>, request: &Request, reply: ReplyEntry) {
        match found.and_then(|ino| self.volume().attr(ino)) {
            Ok(attr) => reply.entry(&NO_CACHE, &file_attr(attr, request), Generation(0)),
            Err(refusal) => reply.error(errno(refusal)),
        }
    }

    fn reply_empty(result: Result<(), Refusal>, reply: ReplyEmpty) {
        match result {
            Ok(()) => reply.ok(),
            Err(refusal) => reply.error(errno(refusal)),
        }
    }
}

impl Filesystem for PowerFs {
    fn lookup(&self, request: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let found = self.volume().lookup(parent.0, name);
        self.reply_entry(found, request, reply);
    }

    fn getattr(&self, request: &Request, ino: INodeNo, _: Option<FileHandle>, reply: ReplyAttr) {
        match self.volume().attr(ino.0) {
            Ok(attr) => reply.attr(&NO_CACHE, &file_attr(attr, request)),
            Err(refusal) => reply.error(errno(refusal)),
        }
    }

    fn setattr(
        &self,
        request: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let mut volume = self.volume();
        let changed = (size.map_or(Ok(()), |length| volume.set_length(ino.0, length)))
            .and_then(|()| mode.map_or(Ok(()), |m| volume.set_mode(ino.0, permissions(m))))
            .and_then(|()| volume.attr(ino.0));
        match changed {
            Ok(attr) => reply.attr(&NO_CACHE, &file_attr(attr, request)),
            Err(refusal) => reply.error(errno(refusal)),
        }
    }

    fn mknod(
        &self,
        request: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        let mode = permissions(mode & !umask);
        let created = self.volume().create(parent.0, name, Kind::File, mode);
        self.reply_entry(created, request, reply);
    }

    fn mkdir(
        &self,
        request: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let mode = permissions(mode & !umask);
        let created = self.volume().create(parent.0, name, Kind::Directory, mode);
        self.reply_entry(created, request, reply);
    }

    fn unlink(&self, _: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        Self::reply_empty(self.volume().unlink(parent.0, name), reply);
    }

    fn rmdir(&self, _: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        Self::reply_empty(self.volume().rmdir(parent.0, name), reply);
    }

    fn rename(
        &self,
        _: &Request,
        parent: INodeNo,
        name: &OsStr,
        new_parent: INodeNo,
        new_name: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        // Exchanging or no-replace renames are not needed by a member.
        if !flags.is_empty() {
            return reply.error(Errno::EINVAL);
        }
        let renamed = self.volume().rename(parent.0, name, new_parent.0, new_name);
        Self::reply_empty(renamed, reply);
    }

    fn open(&self, _: &Request, ino: INodeNo, _: OpenFlags, reply: ReplyOpen) {
        match self.volume().open(ino.0) {
            Ok(()) => reply.opened(FileHandle(0), FopenFlags::FOPEN_DIRECT_IO),
            Err(refusal) => reply.error(errno(refusal)),
        }
    }

    fn create(
        &self,
        request: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        let mut volume = self.volume();
        let mode = permissions(mode & !umask);
        let created = volume.create(parent.0, name, Kind::File, mode);
        let opened = created.and_then(|ino| volume.open(ino).and_then(|()| volume.attr(ino)));
        match opened {
            Ok(attr) => reply.created(
                &NO_CACHE,
                &file_attr(attr, request),
                Generation(0),
                FileHandle(0),
                FopenFlags::FOPEN_DIRECT_IO,
            ),
            Err(refusal) => reply.error(errno(refusal)),
        }
    }

    fn read(
        &self,
        _: &Request,
        ino: INodeNo,
        _: FileHandle,
        offset: u64,
        size: u32,
        _: OpenFlags,
        _: Option<LockOwner>,
        reply: ReplyData,
    ) {
        match self.volume().read(ino.0, offset, size) {
            Ok(bytes) => reply.data(bytes),
            Err(refusal) => reply.error(errno(refusal)),
        }
    }

    fn write(
        &self,
        _: &Request,
        ino: INodeNo,
        _: FileHandle,
        offset: u64,
        data: &[u8],
        _: WriteFlags,
        _: OpenFlags,
        _: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        match self.volume().write(ino.0, offset, data) {
            // FUSE writes are at most a few pages (max_write), so the
            // count always fits.
            Ok(written) => reply.written(u32::try_from(written).unwrap_or(u32::MAX)),
            Err(refusal) => reply.error(errno(refusal)),
        }
    }

    fn flush(&self, _: &Request, _: INodeNo, _: FileHandle, _: LockOwner, reply: ReplyEmpty) {
        // close() makes nothing durable.
        reply.ok();
    }

    fn release(
        &self,
        _: &Request,
        ino: INodeNo,
        _: FileHandle,
        _: OpenFlags,
        _: Option<LockOwner>,
        _: bool,
        reply: ReplyEmpty,
    ) {
        self.volume().release(ino.0);
        reply.ok();
    }

    fn fsync(&self, _: &Request, ino: INodeNo, _: FileHandle, _: bool, reply: ReplyEmpty) {
        Self::reply_empty(self.volume().sync(ino.0), reply);
    }

    fn readdir(
        &self,
        _: &Request,
        ino: INodeNo,
        _: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let listed = match self.volume().list(ino.0) {
            Ok(listed) => listed,
            Err(refusal) => return reply.error(errno(refusal)),
        };
        let dots = [
            (".".into(), ino.0, Kind::Directory),
            ("..".into(), ino.0, Kind::Directory),
        ];
        let all = dots.into_iter().chain(listed).enumerate();
        let skipped = usize::try_from(offset).unwrap_or(usize::MAX);
        for (at, (name, entry, kind)) in all.skip(skipped) {
            // The offset of the next entry; true when the buffer is full.
            if reply.add(INodeNo(entry), at as u64 + 1, file_type(kind), name) {
                break;
            }
        }
        reply.ok();
    }

    fn fsyncdir(&self, _: &Request, _: INodeNo, _: FileHandle, _: bool, reply: ReplyEmpty) {
        // Names are always durable on this volume.
        reply.ok();
    }

    fn statfs(&self, _: &Request, _: INodeNo, reply: ReplyStatfs) {
        let volume = self.volume();
        let used = volume.bytes_held().div_ceil(BLOCK_BYTES);
        let free = if volume.is_full() {
            0
        } else {
            FREE_BLOCKS_SHOWN
        };
        let (total, files) = (used + free, FREE_BLOCKS_SHOWN);
        let block = BLOCK_BYTES as u32;
        reply.statfs(
            total,
            free,
            free,
            files,
            files,
            block,
            NAME_BYTES_MAX,
            block,
        );
    }
}
