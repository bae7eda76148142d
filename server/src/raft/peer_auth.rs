//! How members prove to each other that they belong to the cluster: a
//! challenge-response over a shared secret that never crosses the wire.
//!
//! The dialer names itself and sends a fresh nonce; the acceptor answers
//! with its own nonce; the dialer proves first, then the acceptor. A proof is
//! HMAC-SHA-256 under the cluster secret over the whole exchange: the role
//! (so an acceptor's proof can never be replayed as a dialer's), the cluster
//! id, both node ids, both nonces and the prover's incarnation. Fresh nonces
//! on both sides make every proof single-use, and the incarnation under the
//! MAC means nobody without the secret can present, or learn, one.
//!
//! The proof authenticates the handshake, not the frames after it: on a
//! network where an attacker can inject into an established TCP stream,
//! members need TLS as well (docs/security.md).

use ring::hmac;
use std::path::Path;

/// Bytes of a handshake nonce.
pub const NONCE_BYTES: usize = 32;
/// A cluster secret shorter than this is refused at start: it must not be
/// guessable offline from one observed handshake.
pub const SECRET_BYTES_MIN: usize = 32;
/// A secret file longer than this is not a secret file.
const SECRET_FILE_BYTES_MAX: u64 = 4096;

pub type Nonce = [u8; NONCE_BYTES];
pub type Proof = [u8; 32];

/// Which side of the handshake a proof is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Dialer,
    Acceptor,
}

/// The whole handshake a proof covers.
#[derive(Clone, Copy, Debug)]
pub struct Exchange<'a> {
    pub cluster_id: &'a str,
    pub dialer: u64,
    pub acceptor: u64,
    pub dialer_nonce: &'a Nonce,
    pub acceptor_nonce: &'a Nonce,
}

/// The secret every member of a cluster holds (`--cluster-secret-file`).
#[derive(Clone)]
pub struct ClusterSecret {
    key: hmac::Key,
}

impl std::fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterSecret(..)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot read the cluster secret {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "the cluster secret {path} holds {found} bytes; it needs at least {SECRET_BYTES_MIN} \
         (and at most {SECRET_FILE_BYTES_MAX}), e.g. from `openssl rand -hex 32`"
    )]
    Size { path: String, found: u64 },
    #[error("cannot write a new cluster secret to {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

impl ClusterSecret {
    pub fn from_bytes(bytes: &[u8]) -> Self {
        ClusterSecret {
            key: hmac::Key::new(hmac::HMAC_SHA256, bytes),
        }
    }

    /// Reads a secret file. Surrounding whitespace is not part of the
    /// secret, so `openssl rand -hex 32 > FILE` works as written.
    pub fn read(path: &Path) -> Result<Self, SecretError> {
        let shown = path.display().to_string();
        let read_error = |source| SecretError::Read {
            path: shown.clone(),
            source,
        };
        let length = std::fs::metadata(path).map_err(read_error)?.len();
        if length > SECRET_FILE_BYTES_MAX {
            return Err(SecretError::Size {
                path: shown,
                found: length,
            });
        }
        let bytes = std::fs::read(path).map_err(read_error)?;
        let secret = bytes.trim_ascii();
        if secret.len() < SECRET_BYTES_MIN {
            let found = secret.len() as u64;
            return Err(SecretError::Size { path: shown, found });
        }
        Ok(Self::from_bytes(secret))
    }

    /// Reads the secret at `path`, first writing a fresh random one there
    /// (readable by its owner only) if there is none: for `raftcp dev`,
    /// whose members share one data directory.
    pub fn read_or_create(path: &Path) -> Result<Self, SecretError> {
        if !path.exists() {
            let write_error = |source| SecretError::Write {
                path: path.display().to_string(),
                source,
            };
            let random: [u8; 32] = crate::random::bytes();
            let text: String = random.iter().map(|b| format!("{b:02x}")).collect();
            crate::storage::atomic_file::write_private(path, text.as_bytes())
                .map_err(write_error)?;
        }
        Self::read(path)
    }

    pub fn prove(&self, role: Role, exchange: &Exchange<'_>, incarnation: u64) -> Proof {
        let tag = hmac::sign(&self.key, &transcript(role, exchange, incarnation));
        let mut proof = [0u8; 32];
        proof.copy_from_slice(tag.as_ref());
        proof
    }

    /// Whether `proof` is `role`'s proof of `exchange` (compared in
    /// constant time).
    pub fn verify(
        &self,
        role: Role,
        exchange: &Exchange<'_>,
        incarnation: u64,
        proof: &Proof,
    ) -> bool {
        hmac::verify(&self.key, &transcript(role, exchange, incarnation), proof).is_ok()
    }
}

/// A fresh nonce from the operating system's random source.
pub fn nonce() -> Nonce {
    crate::random::bytes()
}

/// What a proof signs: every field at a fixed width or with its length, so
/// no two different exchanges share a transcript.
fn transcript(role: Role, exchange: &Exchange<'_>, incarnation: u64) -> Vec<u8> {
    let label: &[u8] = match role {
        Role::Dialer => b"raftcp peer proof v1: dialer",
        Role::Acceptor => b"raftcp peer proof v1: acceptor",
    };
    let cluster = exchange.cluster_id.as_bytes();
    let mut bytes = Vec::with_capacity(label.len() + cluster.len() + 2 * NONCE_BYTES + 40);
    bytes.extend_from_slice(label);
    bytes.extend_from_slice(&(cluster.len() as u64).to_be_bytes());
    bytes.extend_from_slice(cluster);
    bytes.extend_from_slice(&exchange.dialer.to_be_bytes());
    bytes.extend_from_slice(&exchange.acceptor.to_be_bytes());
    bytes.extend_from_slice(exchange.dialer_nonce);
    bytes.extend_from_slice(exchange.acceptor_nonce);
    bytes.extend_from_slice(&incarnation.to_be_bytes());
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange<'a>(d: &'a Nonce, a: &'a Nonce) -> Exchange<'a> {
        Exchange {
            cluster_id: "c",
            dialer: 1,
            acceptor: 2,
            dialer_nonce: d,
            acceptor_nonce: a,
        }
    }

    #[test]
    fn a_proof_verifies_only_for_its_role_exchange_incarnation_and_secret() {
        let secret = ClusterSecret::from_bytes(&[7; 32]);
        let (d, a) = (nonce(), nonce());
        let proof = secret.prove(Role::Dialer, &exchange(&d, &a), 9);
        assert!(secret.verify(Role::Dialer, &exchange(&d, &a), 9, &proof));
        assert!(!secret.verify(Role::Acceptor, &exchange(&d, &a), 9, &proof));
        assert!(!secret.verify(Role::Dialer, &exchange(&d, &a), 10, &proof));
        assert!(!secret.verify(Role::Dialer, &exchange(&a, &d), 9, &proof));
        let other_node = Exchange {
            acceptor: 3,
            ..exchange(&d, &a)
        };
        assert!(!secret.verify(Role::Dialer, &other_node, 9, &proof));
        let other = ClusterSecret::from_bytes(&[8; 32]);
        assert!(!other.verify(Role::Dialer, &exchange(&d, &a), 9, &proof));
    }

    #[test]
    fn short_secret_files_are_refused_and_whitespace_is_trimmed() {
        let dir = std::env::temp_dir().join(format!("raftcp-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let short = dir.join("short");
        std::fs::write(&short, "tooshort\n").unwrap();
        assert!(matches!(
            ClusterSecret::read(&short),
            Err(SecretError::Size { .. })
        ));
        let made = dir.join("made");
        let first = ClusterSecret::read_or_create(&made).unwrap();
        let again = ClusterSecret::read_or_create(&made).unwrap();
        let (d, a) = (nonce(), nonce());
        let proof = first.prove(Role::Acceptor, &exchange(&d, &a), 1);
        assert!(again.verify(Role::Acceptor, &exchange(&d, &a), 1, &proof));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
