//! Detector noise at the rate the model reads its detectors.
//!
//! Drawing a fresh Gaussian deviate per detector reading costs more than the multiply it perturbs,
//! so the chip draws a table of 65 536 (+ N) standard-normal deviates once (ChaCha8 from its seed)
//! and gives each read-out of N detectors a window of N consecutive deviates at an offset drawn by
//! xorshift64*. Every reading gets an N(0, 1) deviate, the N readings of one vector are mutually
//! independent, repeated read-outs of the same vector get independently placed windows (so
//! averaging repeats still averages the noise down), and the stream is reproducible for a seed.
//! What differs from fresh draws: deviates come from a finite population of 2¹⁶, which no result
//! of the model is sensitive to.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// Number of window offsets (a power of two).
const OFFSET_BITS: u32 = 16;

/// A reproducible source of windows of standard-normal deviates.
pub struct DetectorNoise {
    table: Vec<f32>,
    width: usize,
    state: u64,
}

impl DetectorNoise {
    /// Windows of `width` deviates, drawn from `seed`.
    pub fn new(seed: u64, width: usize) -> DetectorNoise {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x006e_6f69_7365);
        let table = (0..(1usize << OFFSET_BITS) + width)
            .map(|_| StandardNormal.sample(&mut rng))
            .collect();
        DetectorNoise {
            table,
            width,
            state: seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1,
        }
    }

    /// The next window: `width` N(0, 1) deviates.
    #[inline]
    pub fn window(&mut self) -> &[f32] {
        // xorshift64* (Vigna): full period over non-zero states; its top bits pick the offset.
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        let offset =
            (self.state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> (64 - OFFSET_BITS)) as usize;
        &self.table[offset..offset + self.width]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(noise: &mut DetectorNoise, windows: usize) -> Vec<f64> {
        (0..windows)
            .flat_map(|_| {
                noise
                    .window()
                    .iter()
                    .map(|&v| f64::from(v))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn deviates_are_standard_normal_and_reproducible() {
        let all = samples(&mut DetectorNoise::new(3, 64), 4000);
        let mean = all.iter().sum::<f64>() / all.len() as f64;
        let var = all.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / all.len() as f64;
        assert!(
            mean.abs() < 0.01 && (var - 1.0).abs() < 0.02,
            "mean {mean}, variance {var}"
        );
        let tail = all.iter().filter(|s| s.abs() > 2.0).count() as f64 / all.len() as f64;
        assert!((tail - 0.0455).abs() < 0.003, "share beyond 2σ: {tail}");
        assert_eq!(
            all[..640],
            samples(&mut DetectorNoise::new(3, 64), 10)[..],
            "same seed, same noise"
        );
        assert_ne!(all[..640], samples(&mut DetectorNoise::new(4, 64), 10)[..]);
    }

    #[test]
    fn repeated_read_outs_average_the_noise_down() {
        let mut noise = DetectorNoise::new(9, 8);
        let repeats = 400;
        let mean_of_first: f64 = (0..repeats)
            .map(|_| f64::from(noise.window()[0]))
            .sum::<f64>()
            / repeats as f64;
        // Independent windows: the mean of 400 deviates has σ = 0.05.
        assert!(
            mean_of_first.abs() < 0.2,
            "mean over repeats {mean_of_first}"
        );
    }
}
