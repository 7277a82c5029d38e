//! A tiny deterministic PRNG (splitmix64) and the helpers the dataset generator draws from.
//!
//! Reproducibility is the whole point: the same seed must give byte-identical datasets on every
//! machine and every run, so nothing here touches the OS RNG, the clock or hash-map iteration order.

/// splitmix64: small, fast, and good enough statistically for synthetic test data.
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
}

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// The splitmix64 output function, also used on its own as a 64-bit mixer.
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng { state: seed }
    }

    /// An independent stream for one part of the dataset (a tenant, a project, ...).
    ///
    /// Deriving streams from a path instead of drawing everything from one sequence keeps each part
    /// stable when another part changes size: adding a project does not reshuffle the others.
    pub fn derive(seed: u64, path: &[u64]) -> Self {
        let mut state = mix64(seed ^ GOLDEN);
        for &step in path {
            state = mix64(state ^ mix64(step.wrapping_add(GOLDEN)));
        }
        Rng::new(state)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN);
        mix64(self.state)
    }

    /// Uniform in `0..n` (`n` > 0). The modulo bias is irrelevant for test data.
    pub fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        self.next_u64() % n.max(1)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// A random (version 4) UUID in its canonical lowercase text form, as CircleCI prints ids.
    pub fn uuid(&mut self) -> String {
        let hi = (self.next_u64() & !0xF000) | 0x4000; // version 4
        let lo = (self.next_u64() & !(0b11 << 62)) | (0b10 << 62); // RFC 4122 variant
        super::ids::uuid_text(hi, lo)
    }

    /// A 40-hex-digit git object id.
    pub fn sha1_hex(&mut self) -> String {
        let a = self.next_u64();
        let b = self.next_u64();
        let c = self.next_u64() >> 32;
        format!("{a:016x}{b:016x}{c:08x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_has_canonical_v4_form() {
        let mut rng = Rng::new(7);
        for _ in 0..100 {
            let id = rng.uuid();
            let parts: Vec<&str> = id.split('-').collect();
            assert_eq!(
                parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
                [8, 4, 4, 4, 12]
            );
            assert!(parts[2].starts_with('4'), "{id}");
            assert!(matches!(&parts[3][..1], "8" | "9" | "a" | "b"), "{id}");
        }
    }

    #[test]
    fn derived_streams_are_stable_and_distinct() {
        let a = Rng::derive(42, &[1, 2]).next_u64();
        assert_eq!(a, Rng::derive(42, &[1, 2]).next_u64());
        assert_ne!(a, Rng::derive(42, &[2, 1]).next_u64());
        assert_ne!(a, Rng::derive(43, &[1, 2]).next_u64());
    }
}
