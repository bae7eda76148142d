//! A checksum around a file's bytes, so that damage to data a member had
//! written and synced (a flipped bit, a torn or truncated file) is found
//! when the file is read, never taken for data: a flipped bit inside a
//! snapshot's values would otherwise decode as a different, valid state.
//!
//! Layout: [`MAGIC`], the body, then the SHA-256 of both. Files written
//! before sealing start without the magic (their first byte is a small
//! postcard tag or count, never `r`) and are read as they are; each is
//! sealed the next time it is written.

use ring::digest::{Context, SHA256, SHA256_OUTPUT_LEN};

/// Starts every sealed file: "raftcp", then the layout's version.
pub const MAGIC: &[u8; 8] = b"raftcp\xff\x01";

/// What a file's bytes turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub enum Unsealed<'a> {
    /// Sealed, and the checksum matches: the body.
    Sealed(&'a [u8]),
    /// Written before sealing existed: all of it, unchecked.
    Legacy(&'a [u8]),
}

impl<'a> Unsealed<'a> {
    pub fn body(&self) -> &'a [u8] {
        match self {
            Unsealed::Sealed(body) | Unsealed::Legacy(body) => body,
        }
    }
}

/// A sealed file whose bytes are not what was written.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Damaged {
    #[error("it ends after {0} bytes, before its checksum: it was cut short")]
    Truncated(usize),
    #[error("its checksum does not match its {0} bytes: it was changed after it was written")]
    Mismatch(usize),
}

/// The parts to write for a file holding `body` (in parts, so a large
/// state is not copied into one buffer): the magic, the body's parts, the
/// checksum.
pub fn seal<'a>(body: &[&'a [u8]], checksum: &'a mut [u8; SHA256_OUTPUT_LEN]) -> Vec<&'a [u8]> {
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

/// Checks a file's bytes (see [`Unsealed`]).
pub fn unseal(bytes: &[u8]) -> Result<Unsealed<'_>, Damaged> {
    let Some(rest) = bytes.strip_prefix(MAGIC) else {
        return Ok(Unsealed::Legacy(bytes));
    };
    let Some(body_len) = rest.len().checked_sub(SHA256_OUTPUT_LEN) else {
        return Err(Damaged::Truncated(bytes.len()));
    };
    let (body, checksum) = rest.split_at(body_len);
    let mut context = Context::new(&SHA256);
    context.update(MAGIC);
    context.update(body);
    match context.finish().as_ref() == checksum {
        true => Ok(Unsealed::Sealed(body)),
        false => Err(Damaged::Mismatch(bytes.len())),
    }
}

/// `bytes` sealed, in one buffer (for small files).
pub fn sealed(bytes: &[u8]) -> Vec<u8> {
    let mut checksum = [0; SHA256_OUTPUT_LEN];
    seal(&[bytes], &mut checksum).concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_body_comes_back_whole() {
        let file = sealed(b"state");
        assert_eq!(unseal(&file), Ok(Unsealed::Sealed(&b"state"[..])));
        assert_eq!(unseal(&sealed(b"")), Ok(Unsealed::Sealed(&b""[..])));
        // In parts, the same bytes.
        let mut checksum = [0; SHA256_OUTPUT_LEN];
        assert_eq!(seal(&[b"st", b"ate"], &mut checksum).concat(), file);
    }

    #[test]
    fn every_flipped_bit_and_every_cut_is_found() {
        let file = sealed(b"a snapshot's state");
        for byte in MAGIC.len()..file.len() {
            for bit in 0..8 {
                let mut damaged = file.clone();
                damaged[byte] ^= 1 << bit;
                assert!(unseal(&damaged).is_err(), "byte {byte} bit {bit}");
            }
        }
        for length in MAGIC.len()..file.len() {
            assert!(unseal(&file[..length]).is_err(), "cut at {length}");
        }
    }

    #[test]
    fn a_file_from_before_sealing_is_read_as_it_is() {
        assert_eq!(unseal(b"\x01\x02"), Ok(Unsealed::Legacy(&b"\x01\x02"[..])));
        assert_eq!(unseal(b""), Ok(Unsealed::Legacy(&b""[..])));
    }
}
