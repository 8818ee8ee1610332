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

/// A uniformly random value below `bound`, from the OS random source, read
/// in batches: one system call per [`BATCH_VALUES`] values on each thread
/// (a signature's nonce is drawn on every request; it is public in the
/// signature it goes into, never a secret).
pub fn random_below(bound: u32) -> u32 {
    // 64 random bits reduced mod a 32-bit bound: bias below 2^-32.
    (BATCH.with_borrow_mut(Batch::next) % u64::from(bound)) as u32
}

/// Values drawn per read of the OS random source in [`random_below`].
const BATCH_VALUES: usize = 64;

thread_local! {
    static BATCH: std::cell::RefCell<Batch> = const {
        std::cell::RefCell::new(Batch { values: [0; BATCH_VALUES], used: BATCH_VALUES })
    };
}

/// OS random values not yet handed out; each is handed out once.
struct Batch {
    values: [u64; BATCH_VALUES],
    used: usize,
}

impl Batch {
    fn next(&mut self) -> u64 {
        if self.used == BATCH_VALUES {
            let mut bytes = [0u8; BATCH_VALUES * 8];
            SystemRandom::new()
                .fill(&mut bytes)
                .expect("the OS random source is available");
            for (value, chunk) in self.values.iter_mut().zip(bytes.chunks_exact(8)) {
                *value = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
            }
            self.used = 0;
        }
        let value = std::mem::take(&mut self.values[self.used]);
        self.used += 1;
        value
    }
}

/// `n` random bytes from the OS random source.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the OS random source is available");
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batched_values_stay_below_the_bound_and_never_repeat_across_batches() {
        let drawn: Vec<u32> = (0..BATCH_VALUES * 3 + 1)
            .map(|_| random_below(u32::MAX))
            .collect();
        let distinct: std::collections::HashSet<_> = drawn.iter().collect();
        // 193 draws below 2^32 collide with probability under 2^-17.
        assert_eq!(distinct.len(), drawn.len(), "a value was handed out twice");
        assert!((0..1000).all(|_| random_below(7) < 7));
    }
}
