//! The keys tokens are checked against: a JWKS file (RFC 7517) of public
//! keys (Ed25519, P-256, RSA) or shared secrets (HS256), each with a `kid`
//! so keys can be rotated by adding the new one before tokens use it.

use data_encoding::BASE64URL_NOPAD;
use ring::{hmac, signature};
use serde::Deserialize;

/// A JWKS file larger than this is not a key set.
pub const JWKS_BYTES_MAX: u64 = 1024 * 1024;

/// The algorithms a key may verify: exactly one per key, so a token cannot
/// pick a weaker use of a key than its owner meant (algorithm confusion).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    EdDsa,
    Es256,
    Rs256,
    Hs256,
}

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::EdDsa => "EdDSA",
            Algorithm::Es256 => "ES256",
            Algorithm::Rs256 => "RS256",
            Algorithm::Hs256 => "HS256",
        }
    }
}

/// One key, ready to verify.
pub struct Key {
    pub kid: Option<String>,
    pub algorithm: Algorithm,
    material: Material,
}

enum Material {
    /// Ed25519 (32 bytes) or an uncompressed P-256 point (65 bytes).
    Public(Vec<u8>),
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    Shared(hmac::Key),
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl Key {
    /// Whether `signature` is this key's signature of `message`.
    pub fn verifies(&self, message: &[u8], signature_bytes: &[u8]) -> bool {
        match (&self.material, self.algorithm) {
            (Material::Public(key), Algorithm::EdDsa) => {
                signature::UnparsedPublicKey::new(&signature::ED25519, key)
                    .verify(message, signature_bytes)
                    .is_ok()
            }
            (Material::Public(key), Algorithm::Es256) => {
                signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, key)
                    .verify(message, signature_bytes)
                    .is_ok()
            }
            (Material::Rsa { n, e }, Algorithm::Rs256) => {
                signature::RsaPublicKeyComponents { n, e }
                    .verify(
                        &signature::RSA_PKCS1_2048_8192_SHA256,
                        message,
                        signature_bytes,
                    )
                    .is_ok()
            }
            (Material::Shared(key), Algorithm::Hs256) => {
                hmac::verify(key, message, signature_bytes).is_ok()
            }
            _ => false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("cannot read the key set {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("the key set {path} is over {JWKS_BYTES_MAX} bytes")]
    TooLarge { path: String },
    #[error("the key set is not a JWKS: {0}")]
    Format(String),
    #[error("key {kid:?}: {reason}")]
    Key { kid: Option<String>, reason: String },
}

/// One JWK as the file holds it; fields a kind does not use stay empty.
#[derive(Deserialize)]
struct Jwk {
    kty: String,
    kid: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    usage: Option<String>,
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
    n: Option<String>,
    e: Option<String>,
    k: Option<String>,
}

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

pub fn read(path: &std::path::Path) -> Result<Vec<Key>, JwksError> {
    let shown = path.display().to_string();
    let read_error = |source| JwksError::Read {
        path: shown.clone(),
        source,
    };
    if std::fs::metadata(path).map_err(read_error)?.len() > JWKS_BYTES_MAX {
        return Err(JwksError::TooLarge { path: shown });
    }
    parse(&std::fs::read(path).map_err(read_error)?)
}

pub fn parse(json: &[u8]) -> Result<Vec<Key>, JwksError> {
    let set: Jwks = serde_json::from_slice(json).map_err(|e| JwksError::Format(e.to_string()))?;
    set.keys
        .into_iter()
        // Keys marked for encryption are not ours to verify with.
        .filter(|jwk| jwk.usage.as_deref().is_none_or(|u| u == "sig"))
        .map(key)
        .collect()
}

fn key(jwk: Jwk) -> Result<Key, JwksError> {
    let kid = jwk.kid.clone();
    let fail = |reason: &str| JwksError::Key {
        kid: kid.clone(),
        reason: reason.to_owned(),
    };
    let field = |value: &Option<String>, name: &str| -> Result<Vec<u8>, JwksError> {
        let text = value
            .as_deref()
            .ok_or_else(|| fail(&format!("no `{name}`")))?;
        BASE64URL_NOPAD
            .decode(text.as_bytes())
            .map_err(|_| fail(&format!("`{name}` is not base64url")))
    };
    let (algorithm, material) = match (jwk.kty.as_str(), jwk.crv.as_deref()) {
        ("OKP", Some("Ed25519")) => {
            let x = field(&jwk.x, "x")?;
            if x.len() != 32 {
                return Err(fail("an Ed25519 key is 32 bytes"));
            }
            (Algorithm::EdDsa, Material::Public(x))
        }
        ("EC", Some("P-256")) => {
            let (x, y) = (field(&jwk.x, "x")?, field(&jwk.y, "y")?);
            if x.len() != 32 || y.len() != 32 {
                return Err(fail("P-256 coordinates are 32 bytes"));
            }
            let point = [&[4u8][..], &x, &y].concat();
            (Algorithm::Es256, Material::Public(point))
        }
        ("RSA", _) => {
            let (n, e) = (field(&jwk.n, "n")?, field(&jwk.e, "e")?);
            if n.len() < 256 {
                return Err(fail("RSA keys under 2048 bits are refused"));
            }
            (Algorithm::Rs256, Material::Rsa { n, e })
        }
        ("oct", _) => {
            let k = field(&jwk.k, "k")?;
            if k.len() < 32 {
                return Err(fail("an HS256 secret needs at least 32 bytes"));
            }
            (
                Algorithm::Hs256,
                Material::Shared(hmac::Key::new(hmac::HMAC_SHA256, &k)),
            )
        }
        _ => return Err(fail("supported keys: OKP Ed25519, EC P-256, RSA, oct")),
    };
    if let Some(alg) = &jwk.alg
        && alg != algorithm.name()
    {
        return Err(fail(&format!(
            "`alg` {alg} does not fit this key; it verifies {}",
            algorithm.name()
        )));
    }
    Ok(Key {
        kid: jwk.kid,
        algorithm,
        material,
    })
}
