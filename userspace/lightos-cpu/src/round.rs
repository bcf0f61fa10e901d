//! The ABI's rounding modes, applied to a non-negative or signed value measured in quanta.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// How a value between two representable neighbours is rounded.
#[derive(Clone, Debug)]
pub enum Rounding {
    /// To the nearer; ties to even (`ROUND_NEAREST_EVEN`).
    NearestEven,
    /// Toward zero (`ROUND_TOWARD_ZERO`).
    TowardZero,
    /// Up with probability equal to the fraction past the lower neighbour (`ROUND_STOCHASTIC`),
    /// from a generator seeded by the primitive's `seed`: the same seed gives the same result.
    Stochastic(Box<ChaCha8Rng>),
}

impl Rounding {
    /// Stochastic rounding seeded with `seed`.
    pub fn stochastic(seed: u64) -> Rounding {
        Rounding::Stochastic(Box::new(ChaCha8Rng::seed_from_u64(seed)))
    }

    /// The mode an ABI `rounding` field names, or `None` if it names none.
    pub fn from_abi(mode: u8, seed: u64) -> Option<Rounding> {
        match mode {
            lightos_uapi::ROUND_NEAREST_EVEN => Some(Rounding::NearestEven),
            lightos_uapi::ROUND_TOWARD_ZERO => Some(Rounding::TowardZero),
            lightos_uapi::ROUND_STOCHASTIC => Some(Rounding::stochastic(seed)),
            _ => None,
        }
    }

    /// `x` rounded to an integer (as f32).
    pub fn round(&mut self, x: f32) -> f32 {
        match self {
            Rounding::NearestEven => x.round_ties_even(),
            Rounding::TowardZero => x.trunc(),
            Rounding::Stochastic(rng) => {
                let floor = x.floor();
                let frac = x - floor;
                if frac > 0.0 && rng.gen::<f32>() < frac {
                    floor + 1.0
                } else {
                    floor
                }
            }
        }
    }
}
