//! A small seeded random-number generator (SplitMix64), so sampling in
//! training and synthetic test data are repeatable from a seed on every
//! platform.

/// SplitMix64: fast, statistically sound for sampling, fully determined by
/// its seed.
#[derive(Debug, Clone)]
pub struct SeededRng {
    state: u64,
}

impl SeededRng {
    /// A generator whose sequence is fixed by `seed`.
    pub fn new(seed: u64) -> SeededRng {
        SeededRng { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (`bound` > 0), without modulo bias worth noting
    /// for bounds far below 2^64.
    pub fn below(&mut self, bound: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(bound)) >> 64) as u64
    }

    /// A number in `0.0..1.0`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_sequence_and_draws_stay_in_range() {
        let mut a = SeededRng::new(7);
        let mut b = SeededRng::new(7);
        let draws: Vec<u64> = (0..100).map(|_| a.below(10)).collect();
        assert_eq!(draws, (0..100).map(|_| b.below(10)).collect::<Vec<_>>());
        assert!(draws.iter().all(|&d| d < 10));
        assert!((0..10).all(|value| draws.contains(&value)));
        assert_ne!(SeededRng::new(8).next_u64(), SeededRng::new(7).next_u64());
        let unit = a.unit();
        assert!((0.0..1.0).contains(&unit));
    }
}
