//! Client tokens: JWTs minted by the application's own backend or identity
//! provider and checked here against a JWKS file (`--auth-jwks`), so a
//! browser never holds a cluster secret. A token names its subject (`sub`),
//! its expiry (`exp`, required) and what it allows (the `raftcp` claim: see
//! [`permissions`]). Checked in the gateway, before anything is proposed.

pub mod jwks;
pub mod mint;
pub mod permissions;

use crate::storage::{Stamp, stamp};
use data_encoding::BASE64URL_NOPAD;
use jwks::{JwksError, Key};
use permissions::Permissions;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// A token longer than this is refused unread (it must fit a `Hello`).
pub const TOKEN_BYTES_MAX: usize = 8 * 1024;
/// Clocks of token issuers and members may differ by this much.
pub const LEEWAY_S: u64 = 30;
/// A subject longer than this is refused: it is replicated with the session.
pub const SUBJECT_BYTES_MAX: usize = 256;

const _: () = assert!(TOKEN_BYTES_MAX + 1024 <= raftcp_proto::limits::HANDSHAKE_BYTES_MAX);

/// What a verified token grants, until it expires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub subject: String,
    pub permissions: Permissions,
    /// Seconds since the Unix epoch.
    pub expires_at_s: u64,
}

impl Grant {
    /// Whether the grant has expired at `now_s`, allowing for clock skew.
    pub fn expired(&self, now_s: u64) -> bool {
        now_s > self.expires_at_s.saturating_add(LEEWAY_S)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("{0}")]
    Unauthenticated(String),
    #[error("the token expired")]
    Expired,
}

/// Checks tokens against the key set at `path`, re-read when the file
/// changes (so keys rotate without a restart).
#[derive(Debug)]
pub struct Authenticator {
    path: PathBuf,
    issuer: Option<String>,
    audience: Option<String>,
    loaded: Mutex<Loaded>,
}

#[derive(Debug)]
struct Loaded {
    modified: Stamp,
    keys: Arc<Vec<Key>>,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    exp: u64,
    nbf: Option<u64>,
    iss: Option<String>,
    /// A string or a list of strings.
    aud: Option<serde_json::Value>,
    #[serde(default)]
    raftcp: Vec<String>,
}

impl Authenticator {
    /// Reads the key set; a member with an unreadable one does not start.
    pub fn open(
        path: &Path,
        issuer: Option<String>,
        audience: Option<String>,
    ) -> Result<Self, JwksError> {
        let keys = jwks::read(path)?;
        if keys.is_empty() {
            return Err(JwksError::Format("it holds no signing keys".into()));
        }
        Ok(Authenticator {
            path: path.to_owned(),
            issuer,
            audience,
            loaded: Mutex::new(Loaded {
                modified: stamp(path),
                keys: Arc::new(keys),
            }),
        })
    }

    /// What `token` grants at `now_s` (seconds since the Unix epoch).
    pub fn verify(&self, token: &str, now_s: u64) -> Result<Grant, AuthError> {
        let refuse = |why: &str| Err(AuthError::Unauthenticated(why.to_owned()));
        if token.len() > TOKEN_BYTES_MAX {
            return refuse(&format!("the token is over {TOKEN_BYTES_MAX} bytes"));
        }
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return refuse("the token is not a JWT (header.payload.signature)");
        };
        let Some(header) = decode_json::<Header>(header) else {
            return refuse("the token's header does not decode");
        };
        let Ok(signature) = BASE64URL_NOPAD.decode(signature.as_bytes()) else {
            return refuse("the token's signature is not base64url");
        };
        let signed = &token.as_bytes()[..token.len() - signature_text_len(token)];
        let keys = self.keys();
        let verified = keys
            .iter()
            .filter(|key| header.kid.is_none() || key.kid == header.kid)
            .filter(|key| key.algorithm.name() == header.alg)
            .any(|key| key.verifies(signed, &signature));
        if !verified {
            return refuse("the token's signature does not verify against any key in --auth-jwks");
        }
        let Some(claims) = decode_json::<Claims>(payload) else {
            return refuse("the token's claims do not decode (`sub` and `exp` are required)");
        };
        self.check_claims(claims, now_s)
    }

    fn check_claims(&self, claims: Claims, now_s: u64) -> Result<Grant, AuthError> {
        let refuse = |why: String| Err(AuthError::Unauthenticated(why));
        if now_s > claims.exp.saturating_add(LEEWAY_S) {
            return Err(AuthError::Expired);
        }
        if claims
            .nbf
            .is_some_and(|nbf| now_s.saturating_add(LEEWAY_S) < nbf)
        {
            return refuse("the token is not valid yet (nbf)".into());
        }
        if let Some(issuer) = &self.issuer
            && claims.iss.as_ref() != Some(issuer)
        {
            return refuse(format!("the token was not issued by {issuer}"));
        }
        if let Some(audience) = &self.audience
            && !names_audience(claims.aud.as_ref(), audience)
        {
            return refuse(format!("the token is not meant for audience {audience}"));
        }
        if claims.sub.is_empty() || claims.sub.len() > SUBJECT_BYTES_MAX {
            return refuse(format!(
                "the token's subject must be 1 to {SUBJECT_BYTES_MAX} bytes"
            ));
        }
        let permissions = match Permissions::parse(&claims.raftcp) {
            Ok(permissions) => permissions,
            Err(error) => return refuse(error.to_string()),
        };
        Ok(Grant {
            subject: claims.sub,
            permissions,
            expires_at_s: claims.exp,
        })
    }

    /// The key set, re-read first if its file changed. A file that no
    /// longer reads keeps the keys already loaded (and says why).
    fn keys(&self) -> Arc<Vec<Key>> {
        let mut loaded = crate::sync::lock(&self.loaded);
        let now = stamp(&self.path);
        if now != loaded.modified {
            loaded.modified = now;
            match jwks::read(&self.path) {
                Ok(keys) => loaded.keys = Arc::new(keys),
                Err(error) => tracing::error!("keeping the previous token keys: {error}"),
            }
        }
        loaded.keys.clone()
    }
}

fn decode_json<T: serde::de::DeserializeOwned>(part: &str) -> Option<T> {
    let bytes = BASE64URL_NOPAD.decode(part.as_bytes()).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Bytes of `.signature` at the end of a compact JWT.
fn signature_text_len(token: &str) -> usize {
    token.rsplit('.').next().map_or(0, |s| s.len() + 1)
}

fn names_audience(aud: Option<&serde_json::Value>, audience: &str) -> bool {
    match aud {
        Some(serde_json::Value::String(one)) => one == audience,
        Some(serde_json::Value::Array(many)) => many.iter().any(|a| a.as_str() == Some(audience)),
        _ => false,
    }
}

/// Seconds since the Unix epoch on this member's clock.
pub fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
