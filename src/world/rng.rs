//! The generator's own random numbers: SplitMix64 from
//! [`crate::simulators::splitmix64`], so a world never changes with a crate
//! version, plus the few draws the generator needs.

use crate::simulators::splitmix64;

/// A deterministic random stream. Each true customer gets its own stream,
/// derived from the world seed and the customer's index, so one customer's
/// draws never shift another's.
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// The stream for `key` under `seed` (two different keys give unrelated
    /// streams).
    pub fn new(seed: u64, key: u64) -> Self {
        let mut mixer = seed ^ 0x7165_7269_6e6c_696e;
        let first = splitmix64(&mut mixer);
        let mut keyed = first ^ key.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        Rng {
            state: splitmix64(&mut keyed),
        }
    }

    pub fn next_u64(&mut self) -> u64 {
        splitmix64(&mut self.state)
    }

    /// Uniform in `0..bound` (`bound` > 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        ((self.next_u64() as u128 * bound as u128) >> 64) as u64
    }

    /// Uniform in `low..=high`.
    pub fn range(&mut self, low: i64, high: i64) -> i64 {
        low + self.below((high - low + 1) as u64) as i64
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// An index into `weights`, drawn in proportion to them.
    pub fn weighted_index(&mut self, weights: impl Iterator<Item = u32> + Clone) -> usize {
        let total: u64 = weights.clone().map(u64::from).sum();
        let mut roll = self.below(total);
        for (index, weight) in weights.enumerate() {
            if roll < u64::from(weight) {
                return index;
            }
            roll -= u64::from(weight);
        }
        unreachable!("the roll is below the total weight")
    }

    /// `count` characters from `alphabet` (ASCII).
    pub fn token(&mut self, alphabet: &[u8], count: usize) -> String {
        (0..count)
            .map(|_| alphabet[self.below(alphabet.len() as u64) as usize] as char)
            .collect()
    }
}

/// Letters and digits, for ids and secrets.
pub const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Lower-case hexadecimal digits.
pub const HEX: &[u8] = b"0123456789abcdef";

/// A bijection of `value` within `0..modulus` (an affine map with a
/// multiplier coprime to every modulus that is a power of ten), so numbers
/// derived from distinct customer indexes never collide yet do not look
/// sequential.
pub fn scatter(value: u64, modulus: u64, offset: u64) -> u64 {
    const MULTIPLIER: u128 = 2_654_435_761; // odd and not a multiple of 5
    ((value as u128 * MULTIPLIER + offset as u128) % modulus as u128) as u64
}

/// The SplitMix64 finalizer: a bijection of u64, used to turn a counter into
/// an id-looking value that is still unique.
pub fn mix64(value: u64) -> u64 {
    let mut z = value;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_replay_and_differ_by_key() {
        let a: Vec<u64> = (0..5).map(|_| Rng::new(1, 2).next_u64()).collect();
        assert!(a.windows(2).all(|pair| pair[0] == pair[1]));
        assert_ne!(Rng::new(1, 2).next_u64(), Rng::new(1, 3).next_u64());
        assert_ne!(Rng::new(1, 2).next_u64(), Rng::new(2, 2).next_u64());
    }

    #[test]
    fn scatter_is_a_bijection_on_powers_of_ten() {
        let mut seen = vec![false; 10_000];
        for value in 0..10_000 {
            let image = scatter(value, 10_000, 77) as usize;
            assert!(!seen[image], "{value} collides");
            seen[image] = true;
        }
    }

    #[test]
    fn weighted_draws_follow_the_weights() {
        let mut rng = Rng::new(9, 9);
        let weights = [1u32, 3];
        let hits = (0..10_000)
            .filter(|_| rng.weighted_index(weights.iter().copied()) == 1)
            .count();
        assert!((7_200..7_800).contains(&hits), "{hits}");
    }
}
