//! OCP FP8 E4M3 (1 sign, 4 exponent bits with bias 7, 3 mantissa bits; no infinities; 0x7F/0xFF
//! are NaN; largest finite ±448). Encoding saturates to ±448 and honours the ABI's rounding modes.

use crate::round::Rounding;

/// One FP8 E4M3 value (its bit pattern).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(transparent)]
pub struct Fp8E4M3(pub u8);

/// The largest finite magnitude.
pub const FP8_MAX: f32 = 448.0;
/// The smallest normal magnitude, 2^-6.
const MIN_NORMAL: f32 = 1.0 / 64.0;
/// The spacing of subnormals, 2^-9.
const SUBNORMAL_STEP: f32 = 1.0 / 512.0;

impl Fp8E4M3 {
    /// Its value (exact in f32).
    pub fn to_f32(self) -> f32 {
        let bits = self.0 & 0x7F;
        let sign = if self.0 & 0x80 != 0 { -1.0 } else { 1.0 };
        if bits == 0x7F {
            return f32::NAN;
        }
        let (exp, man) = (bits >> 3, f32::from(bits & 7));
        let mag = if exp == 0 {
            man * SUBNORMAL_STEP
        } else {
            (8.0 + man) * f32::powi(2.0, i32::from(exp) - 10)
        };
        sign * mag
    }

    /// `v` rounded as `mode` says, saturated to ±448; NaN becomes NaN (0x7F with `v`'s sign).
    pub fn from_f32(v: f32, mode: &mut Rounding) -> Fp8E4M3 {
        let sign = if v.is_sign_negative() { 0x80 } else { 0 };
        if v.is_nan() {
            return Fp8E4M3(sign | 0x7F);
        }
        let a = v.abs().min(FP8_MAX * 2.0); // keeps infinities finite; saturated below
                                            // The spacing of representable values around `a`: 2^(e-3) in binade e, 2^-9 below normals.
        let quantum = if a < MIN_NORMAL {
            SUBNORMAL_STEP
        } else {
            f32::from_bits((a.to_bits() & 0x7F80_0000) - (3 << 23))
        };
        let r = mode.round(a / quantum) * quantum;
        let r = r.min(FP8_MAX);
        Fp8E4M3(sign | encode_magnitude(r))
    }
}

/// The 7-bit code of a representable magnitude `r` (0 ≤ r ≤ 448).
fn encode_magnitude(r: f32) -> u8 {
    if r < MIN_NORMAL {
        return (r / SUBNORMAL_STEP) as u8;
    }
    let e = ((r.to_bits() >> 23) as i32) - 127; // floor(log2 r)
    let man = r / f32::powi(2.0, e - 3) - 8.0;
    ((e + 7) as u8) << 3 | man as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_decodes_and_reencodes_to_itself() {
        let mut rne = Rounding::NearestEven;
        for code in 0u8..=255 {
            let v = Fp8E4M3(code).to_f32();
            if code & 0x7F == 0x7F {
                assert!(v.is_nan());
                continue;
            }
            assert_eq!(
                Fp8E4M3::from_f32(v, &mut rne).0,
                code,
                "code {code:#x} = {v}"
            );
        }
    }

    #[test]
    fn known_values_and_saturation() {
        let mut rne = Rounding::NearestEven;
        assert_eq!(Fp8E4M3(0x7E).to_f32(), 448.0);
        assert_eq!(Fp8E4M3(0x01).to_f32(), 1.0 / 512.0);
        assert_eq!(Fp8E4M3(0x38).to_f32(), 1.0);
        assert_eq!(Fp8E4M3::from_f32(1e9, &mut rne).0, 0x7E);
        assert_eq!(Fp8E4M3::from_f32(f32::NEG_INFINITY, &mut rne).0, 0xFE);
        assert_eq!(Fp8E4M3::from_f32(-0.0, &mut rne).0, 0x80);
        assert_eq!(Fp8E4M3::from_f32(f32::NAN, &mut rne).0 & 0x7F, 0x7F);
    }

    #[test]
    fn rounding_modes_between_neighbours() {
        // 1.0 (0x38) and 1.125 (0x39): the midpoint ties to even (1.0); 1.0625 + ε goes up.
        let mut rne = Rounding::NearestEven;
        let mut rtz = Rounding::TowardZero;
        assert_eq!(Fp8E4M3::from_f32(1.0625, &mut rne).0, 0x38);
        assert_eq!(Fp8E4M3::from_f32(1.07, &mut rne).0, 0x39);
        assert_eq!(Fp8E4M3::from_f32(1.12, &mut rtz).0, 0x38);
        assert_eq!(Fp8E4M3::from_f32(-1.12, &mut rtz).0, 0xB8);
        // Stochastic: 1.03125 is a quarter of the way to 1.125, so about a quarter round up.
        let mut sr = Rounding::stochastic(7);
        let ups = (0..4000)
            .filter(|_| Fp8E4M3::from_f32(1.03125, &mut sr).0 == 0x39)
            .count();
        assert!((800..1200).contains(&ups), "{ups} of 4000 rounded up");
    }
}
