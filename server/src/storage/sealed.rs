//! A checksum around a file's bytes, so that damage to data a member had
//! written and synced (a flipped bit, a file cut short) is found when the
//! file is read, never taken for data: a flipped bit inside a snapshot's
//! values would otherwise decode as a different, valid state.
//!
//! Layout: [`MAGIC`], the body, then the SHA-256 of both
//! ([`CHECKSUM_BYTES`]). Files written before sealing existed start with
//! other bytes (no snapshot, identity or peer list begins with these eight)
//! and are read as they are ([`Checked::Legacy`]); their owners seal them
//! when they next write them, or at once (the small files).

use ring::digest::{Context, SHA256, SHA256_OUTPUT_LEN};
use std::io;
use std::path::Path;

/// Starts every sealed file: "raftcp", then the layout's version.
const MAGIC: &[u8; 8] = b"raftcp\xff\x01";

/// The checksum's length, at the end of a sealed file.
pub const CHECKSUM_BYTES: usize = SHA256_OUTPUT_LEN;

/// Bits in which a file's first eight bytes may differ from [`MAGIC`] and
/// still count as a sealed file whose magic was damaged: a legacy file's
/// first bytes (small postcard tags and counts) differ in far more.
const MAGIC_DAMAGE_BITS_MAX: u32 = 8;

/// What a file's bytes turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub enum Checked<'a> {
    /// Sealed, and the checksum matches: the body.
    Sealed(&'a [u8]),
    /// Written before sealing existed: all of it, unchecked.
    Legacy(&'a [u8]),
}

impl<'a> Checked<'a> {
    pub fn body(&self) -> &'a [u8] {
        match self {
            Checked::Sealed(body) | Checked::Legacy(body) => body,
        }
    }

    /// Where the body ends in a file of `file_len` bytes.
    pub fn body_end(&self, file_len: usize) -> usize {
        match self {
            Checked::Sealed(_) => file_len - CHECKSUM_BYTES,
            Checked::Legacy(_) => file_len,
        }
    }
}

/// A sealed file whose bytes are not what was written.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Damaged {
    #[error("its first bytes are not the seal's: it was changed after it was written")]
    Magic,
    #[error("it ends after {0} bytes, before its checksum: it was cut short")]
    Truncated(usize),
    #[error("its checksum does not match its {0} bytes: it was changed after it was written")]
    Mismatch(usize),
}

/// The parts to write for a file holding `body` (in parts, so a large
/// state is not copied into one buffer): the magic, the body's parts, the
/// checksum (kept in `checksum`).
pub fn seal_parts<'a>(body: &[&'a [u8]], checksum: &'a mut [u8; CHECKSUM_BYTES]) -> Vec<&'a [u8]> {
    let mut context = Context::new(&SHA256);
    context.update(MAGIC);
    for part in body {
        context.update(part);
    }
    checksum.copy_from_slice(context.finish().as_ref());
    let mut parts = Vec::with_capacity(body.len() + 2);
    parts.push(&MAGIC[..]);
    parts.extend_from_slice(body);
    parts.push(&checksum[..]);
    parts
}

/// `body` sealed, in one buffer (for small files).
pub fn seal(body: &[u8]) -> Vec<u8> {
    let mut checksum = [0; CHECKSUM_BYTES];
    seal_parts(&[body], &mut checksum).concat()
}

/// Checks a file's bytes (see [`Checked`]).
pub fn check(bytes: &[u8]) -> Result<Checked<'_>, Damaged> {
    let Some(rest) = bytes.strip_prefix(MAGIC) else {
        return match near_magic(bytes) {
            true => Err(Damaged::Magic),
            false => Ok(Checked::Legacy(bytes)),
        };
    };
    let Some(body_len) = rest.len().checked_sub(CHECKSUM_BYTES) else {
        return Err(Damaged::Truncated(bytes.len()));
    };
    let (body, checksum) = rest.split_at(body_len);
    let mut context = Context::new(&SHA256);
    context.update(MAGIC);
    context.update(body);
    match context.finish().as_ref() == checksum {
        true => Ok(Checked::Sealed(body)),
        false => Err(Damaged::Mismatch(bytes.len())),
    }
}

/// The body of the sealed file at `path`, for files that were sealed from
/// their first release (so bytes without a seal are damage too); `None`
/// when there is no file. Damage is an `InvalidData` error naming the file.
pub fn read_file(path: &Path) -> io::Result<Option<Vec<u8>>> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let damaged = |reason: String| {
        let reason = format!("{}: {reason}", path.display());
        io::Error::new(io::ErrorKind::InvalidData, reason)
    };
    match check(&bytes).map_err(|damage| damaged(damage.to_string()))? {
        Checked::Sealed(body) => Ok(Some(body.to_vec())),
        Checked::Legacy(_) => Err(damaged("it does not start with the seal".into())),
    }
}

/// A sealed file's body whatever its checksum says: only for the fault
/// campaign's planted bug that trusts damaged snapshots
/// ([`crate::faults::PlantedBug::SnapshotUnchecked`]).
pub fn body_unchecked(bytes: &[u8]) -> Option<Checked<'_>> {
    let rest = bytes.strip_prefix(MAGIC)?;
    let body_len = rest.len().checked_sub(CHECKSUM_BYTES)?;
    Some(Checked::Sealed(&rest[..body_len]))
}

/// Whether `bytes` start with something close to [`MAGIC`] (a damaged
/// seal), or are a sealed file cut inside its magic.
fn near_magic(bytes: &[u8]) -> bool {
    if bytes.len() < MAGIC.len() {
        return !bytes.is_empty() && MAGIC.starts_with(bytes);
    }
    let differing: u32 = MAGIC
        .iter()
        .zip(bytes)
        .map(|(a, b)| (a ^ b).count_ones())
        .sum();
    differing <= MAGIC_DAMAGE_BITS_MAX
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_body_comes_back_whole() {
        let file = seal(b"state");
        assert_eq!(check(&file), Ok(Checked::Sealed(&b"state"[..])));
        assert_eq!(Checked::Sealed(b"").body_end(file.len()), file.len() - 32);
        assert_eq!(check(&seal(b"")), Ok(Checked::Sealed(&b""[..])));
        // In parts, the same bytes.
        let mut checksum = [0; CHECKSUM_BYTES];
        assert_eq!(seal_parts(&[b"st", b"ate"], &mut checksum).concat(), file);
    }

    #[test]
    fn every_flipped_bit_and_every_cut_is_found() {
        let file = seal(b"a snapshot's state");
        for byte in 0..file.len() {
            for bit in 0..8 {
                let mut damaged = file.clone();
                damaged[byte] ^= 1 << bit;
                assert!(check(&damaged).is_err(), "byte {byte} bit {bit}");
            }
        }
        for length in 1..file.len() {
            assert!(check(&file[..length]).is_err(), "cut at {length}");
        }
    }

    #[test]
    fn a_file_from_before_sealing_is_read_as_it_is() {
        // What a snapshot, an identity (format 2) and a peer list start with.
        for legacy in [&b"\x01\x02\x03"[..], b"\x00", b"\x02\x06raftcp", b""] {
            assert_eq!(check(legacy), Ok(Checked::Legacy(legacy)), "{legacy:?}");
        }
    }
}
