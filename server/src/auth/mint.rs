//! Making keys and tokens, for operators, tests and the docs (`raftcp auth
//! keygen`, `raftcp auth token`). Applications mint their own tokens with
//! any JWT library; this is the smallest correct way to get one.

use super::permissions::Permissions;
use data_encoding::BASE64URL_NOPAD;
use ring::signature::{Ed25519KeyPair, KeyPair};
use std::path::Path;

/// The private key file `keygen` writes (PKCS#8, readable by its owner only).
pub const SIGNING_KEY_FILE: &str = "signing-key.pk8";
/// The public key set `keygen` writes, for `--auth-jwks`.
pub const JWKS_FILE: &str = "jwks.json";

/// Writes a new Ed25519 key pair to `dir`: the private key and a JWKS with
/// its public half.
pub fn keygen(dir: &Path) -> Result<(), String> {
    // PKCS#8 v1 (RFC 8410): the form every JWT library and OpenSSL read
    // (ring's own generator writes v2, which OpenSSL refuses).
    let seed: [u8; 32] = crate::random::bytes();
    let pkcs8 = [&ED25519_PKCS8_V1_PREFIX[..], &seed].concat();
    let pair = read_key(&pkcs8).map_err(|e| format!("a new key does not load: {e}"))?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let write = |name: &str, bytes: &[u8], private: bool| {
        let path = dir.join(name);
        let written = match private {
            true => crate::storage::atomic_file::write_private(&path, bytes),
            false => crate::storage::atomic_file::write_atomically(&path, bytes),
        };
        written.map_err(|e| format!("{}: {e}", path.display()))
    };
    let public = pair.public_key().as_ref();
    let jwks = serde_json::json!({ "keys": [{
        "kty": "OKP",
        "crv": "Ed25519",
        "alg": "EdDSA",
        "use": "sig",
        "kid": key_id(public),
        "x": BASE64URL_NOPAD.encode(public),
    }]});
    write(SIGNING_KEY_FILE, &pkcs8, true)?;
    write(JWKS_FILE, format!("{jwks:#}\n").as_bytes(), false)
}

/// A token for `subject` allowing `rules`, valid from `now_s` for `ttl_s`
/// seconds, signed with the key in `key_file` (from [`keygen`]).
pub fn token(
    key_file: &Path,
    subject: &str,
    rules: &[String],
    now_s: u64,
    ttl_s: u64,
) -> Result<String, String> {
    Permissions::parse(rules).map_err(|e| e.to_string())?;
    let pkcs8 = std::fs::read(key_file).map_err(|e| format!("{}: {e}", key_file.display()))?;
    let pair = read_key(&pkcs8).map_err(|e| format!("{}: {e}", key_file.display()))?;
    let header = serde_json::json!({
        "alg": "EdDSA",
        "typ": "JWT",
        "kid": key_id(pair.public_key().as_ref()),
    });
    let claims = serde_json::json!({
        "sub": subject,
        "iat": now_s,
        "exp": now_s.saturating_add(ttl_s),
        "raftcp": rules,
    });
    let signed = format!(
        "{}.{}",
        BASE64URL_NOPAD.encode(header.to_string().as_bytes()),
        BASE64URL_NOPAD.encode(claims.to_string().as_bytes())
    );
    let signature = pair.sign(signed.as_bytes());
    Ok(format!(
        "{signed}.{}",
        BASE64URL_NOPAD.encode(signature.as_ref())
    ))
}

/// DER of an Ed25519 private key in PKCS#8 v1, up to its 32-byte seed.
const ED25519_PKCS8_V1_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// An Ed25519 key in PKCS#8, v1 or v2.
fn read_key(pkcs8: &[u8]) -> Result<Ed25519KeyPair, String> {
    Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
        .map_err(|_| "not an Ed25519 PKCS#8 key".to_owned())
}

/// A key's id: the first 8 bytes of its SHA-256, in hex.
fn key_id(public: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, public);
    digest.as_ref()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `90s`, `30m`, `1h`, `7d` (or plain seconds) in seconds.
pub fn parse_ttl(text: &str) -> Result<u64, String> {
    let (digits, unit) = match text.char_indices().last() {
        Some((at, unit)) if unit.is_ascii_alphabetic() => (&text[..at], unit),
        _ => (text, 's'),
    };
    let count: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 1h"))?;
    let unit = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        _ => return Err(format!("`{text}`: the unit is s, m, h or d")),
    };
    count
        .checked_mul(unit)
        .ok_or_else(|| format!("`{text}` is too long"))
}

#[cfg(test)]
mod tests {
    use super::super::{AuthError, Authenticator, LEEWAY_S};
    use super::*;

    #[test]
    fn a_minted_token_verifies_and_grants_its_rules() {
        let dir = crate::storage::atomic_file::tests::scratch_directory("mint");
        keygen(&dir).unwrap();
        let auth = Authenticator::open(&dir.join(JWKS_FILE), None, None).unwrap();
        let key = dir.join(SIGNING_KEY_FILE);
        let rules = vec!["lock:jobs/*".to_owned()];
        let token = token(&key, "alice", &rules, 1_000, 60).unwrap();
        let grant = auth.verify(&token, 1_010).unwrap();
        assert_eq!(grant.subject, "alice");
        assert_eq!(grant.expires_at_s, 1_060);
        assert_eq!(grant.permissions, Permissions::parse(&rules).unwrap());
        // Expired (past the leeway), and not valid with a changed byte.
        assert_eq!(
            auth.verify(&token, 1_061 + LEEWAY_S),
            Err(AuthError::Expired)
        );
        let mut forged = token.clone().into_bytes();
        let middle = forged.len() / 2;
        forged[middle] = if forged[middle] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).unwrap();
        assert!(matches!(
            auth.verify(&forged, 1_010),
            Err(AuthError::Unauthenticated(_))
        ));
        // Another key pair's token does not verify here.
        let other = crate::storage::atomic_file::tests::scratch_directory("mint-other");
        keygen(&other).unwrap();
        let foreign = super::token(&other.join(SIGNING_KEY_FILE), "alice", &rules, 1_000, 60);
        assert!(auth.verify(&foreign.unwrap(), 1_010).is_err());
        for junk in ["", "a.b", "a.b.c.d", "..", &"x".repeat(20_000)] {
            assert!(auth.verify(junk, 1_010).is_err(), "{junk:.20}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_ttl("90s"), Ok(90));
        assert_eq!(parse_ttl("1h"), Ok(3_600));
        assert_eq!(parse_ttl("2d"), Ok(172_800));
        assert_eq!(parse_ttl("15"), Ok(15));
        assert!(parse_ttl("1y").is_err());
        assert!(parse_ttl("h").is_err());
        assert!(parse_ttl(&format!("{}d", u64::MAX)).is_err());
    }
}
