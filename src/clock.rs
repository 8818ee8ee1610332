//! The only places cosgate reads the clock or the random source. Everything
//! downstream (the signer above all) takes time and nonces as arguments.

use std::time::{SystemTime, UNIX_EPOCH};

use ring::rand::{SecureRandom, SystemRandom};

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A uniformly random value below `bound`, from the OS random source.
pub fn random_below(bound: u32) -> u32 {
    let mut bytes = [0u8; 8];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the OS random source is available");
    // 64 random bits reduced mod a 32-bit bound: bias below 2^-32.
    (u64::from_le_bytes(bytes) % u64::from(bound)) as u32
}

/// `n` random bytes from the OS random source.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the OS random source is available");
    bytes
}
