//! Secret randomness from the operating system: peer-handshake nonces,
//! session resume secrets, generated cluster secrets.

use ring::rand::{SecureRandom, SystemRandom};

/// Fills `bytes` from the operating system's random source. A member that
/// cannot get randomness cannot make secrets or nonces, and must not run.
pub fn fill(bytes: &mut [u8]) {
    SystemRandom::new()
        .fill(bytes)
        .expect("the operating system's random source works");
}

/// `N` random bytes.
pub fn bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    fill(&mut bytes);
    bytes
}
