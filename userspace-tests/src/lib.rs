//! Helpers shared by the kvfs userspace tests (`tests/`) and the stress
//! program (`src/bin/kvfs-stress.rs`): a seeded random generator and a
//! checksum, so that runs need no extra crate and a seed replays a run.

/// A small deterministic generator (xorshift64*): the same seed gives the
/// same sequence on every machine.
pub struct Rng(u64);

impl Rng {
    /// Starts a sequence from `seed`; every seed, zero included, is valid.
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n`; `n` must not be zero.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// `len` random bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }
}

/// FNV-1a, 64-bit: a checksum that any torn or mixed value fails.
pub fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
