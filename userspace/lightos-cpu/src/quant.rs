//! Quantization to INT8 and FP8-E4M3 with per-tensor or per-channel scales and zero points, and
//! the quantized matmul built on the INT8 GEMM.

use crate::fp8::Fp8E4M3;
use crate::gemm::Gemm;
use crate::matrix::MatRef;
use crate::round::Rounding;
use crate::{CpuError, Result};

/// Scales and zero points: one pair for the whole tensor, or one per channel. Channel `c` of a
/// row-major tensor holds the elements whose index `i` has `(i / inner) % channels == c`.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantParams {
    scales: Vec<f32>,
    zero_points: Vec<i32>,
    inner: usize,
}

impl QuantParams {
    /// One scale and zero point for every element.
    pub fn per_tensor(scale: f32, zero_point: i32) -> Result<QuantParams> {
        Self::per_channel(vec![scale], vec![zero_point], 1)
    }

    /// One pair per channel; `inner` is the product of the dims after the channel axis (1 for the
    /// last axis, e.g. the output columns of a `[K, N]` weight matrix).
    pub fn per_channel(
        scales: Vec<f32>,
        zero_points: Vec<i32>,
        inner: usize,
    ) -> Result<QuantParams> {
        if scales.is_empty() || scales.len() != zero_points.len() || inner == 0 {
            return Err(CpuError::Quant("one scale and one zero point per channel"));
        }
        if scales.iter().any(|s| !s.is_finite() || *s <= 0.0) {
            return Err(CpuError::Quant("scales must be finite and positive"));
        }
        Ok(QuantParams {
            scales,
            zero_points,
            inner,
        })
    }

    /// Symmetric INT8 parameters for `x`: scale `max|x| / 127`, zero point 0.
    pub fn symmetric_i8(x: &[f32]) -> Result<QuantParams> {
        Self::per_tensor(amax(x.iter().copied()) / 127.0, 0)
    }

    /// Symmetric INT8 parameters per column of a row-major `[rows, cols]` matrix.
    pub fn symmetric_i8_columns(x: &[f32], cols: usize) -> Result<QuantParams> {
        let scales = (0..cols)
            .map(|c| amax(x.iter().skip(c).step_by(cols).copied()) / 127.0)
            .collect();
        Self::per_channel(scales, vec![0; cols], 1)
    }

    /// `(scale, zero point)` of element `i`.
    pub fn at(&self, i: usize) -> (f32, i32) {
        let c = (i / self.inner) % self.scales.len();
        (self.scales[c], self.zero_points[c])
    }

    /// Whether one pair covers the tensor.
    pub fn is_per_tensor(&self) -> bool {
        self.scales.len() == 1
    }

    /// Channels.
    pub fn channels(&self) -> usize {
        self.scales.len()
    }
}

/// The largest magnitude, or a tiny positive value for an all-zero input (keeps scales positive).
fn amax(x: impl Iterator<Item = f32>) -> f32 {
    x.fold(0f32, |m, v| m.max(v.abs())).max(f32::MIN_POSITIVE)
}

/// `q = clamp(round(x / scale) + zero_point, -128, 127)`.
pub fn quantize_i8(x: &[f32], p: &QuantParams, mode: &mut Rounding) -> Vec<i8> {
    x.iter()
        .enumerate()
        .map(|(i, &v)| {
            let (s, z) = p.at(i);
            let q = mode.round(v / s) + z as f32;
            if q.is_nan() {
                z.clamp(-128, 127) as i8
            } else {
                q.clamp(-128.0, 127.0) as i8
            }
        })
        .collect()
}

/// `x = (q - zero_point) * scale`.
pub fn dequantize_i8(q: &[i8], p: &QuantParams) -> Vec<f32> {
    q.iter()
        .enumerate()
        .map(|(i, &v)| {
            let (s, z) = p.at(i);
            (i32::from(v) - z) as f32 * s
        })
        .collect()
}

/// `q = fp8(x / scale)` (saturating; FP8 takes no zero point: it must be 0).
pub fn quantize_fp8(x: &[f32], p: &QuantParams, mode: &mut Rounding) -> Result<Vec<Fp8E4M3>> {
    no_fp8_zero_points(p)?;
    Ok(x.iter()
        .enumerate()
        .map(|(i, &v)| Fp8E4M3::from_f32(v / p.at(i).0, mode))
        .collect())
}

/// `x = fp8 * scale`.
pub fn dequantize_fp8(q: &[Fp8E4M3], p: &QuantParams) -> Result<Vec<f32>> {
    no_fp8_zero_points(p)?;
    Ok(q.iter()
        .enumerate()
        .map(|(i, v)| v.to_f32() * p.at(i).0)
        .collect())
}

fn no_fp8_zero_points(p: &QuantParams) -> Result<()> {
    if p.zero_points.iter().any(|&z| z != 0) {
        return Err(CpuError::Quant("FP8 takes no zero point"));
    }
    Ok(())
}

/// `out[M,N] = dequant(a) · dequant(b)` for INT8 `a [M,K]` (per-tensor parameters) and `b [K,N]`
/// (per-tensor or per output column): one exact i32 GEMM, then the zero-point corrections
/// `Σ(a−za)(b−zb) = Σab − zb·Σa − za·Σb + K·za·zb` and the scales, per element.
pub fn matmul_i8(
    g: &Gemm,
    a: &[i8],
    pa: &QuantParams,
    b: &[i8],
    pb: &QuantParams,
    (m, k, n): (usize, usize, usize),
    out: &mut [f32],
) -> Result<()> {
    if !pa.is_per_tensor() || !(pb.is_per_tensor() || (pb.channels() == n && pb.inner == 1)) {
        return Err(CpuError::Quant(
            "A per tensor; B per tensor or per output column",
        ));
    }
    if out.len() < m * n {
        return Err(CpuError::Shape("output too small for the product"));
    }
    let mut acc = vec![0i32; m * n];
    g.run_i8(
        MatRef::row_major(a, m, k)?,
        MatRef::row_major(b, k, n)?,
        &mut acc,
        n,
    )?;
    let (sa, za) = pa.at(0);
    let row_sums: Vec<i64> = a
        .chunks(k.max(1))
        .take(m)
        .map(|r| r.iter().map(|&v| i64::from(v)).sum())
        .collect();
    let col_sums: Vec<i64> = (0..n)
        .map(|j| (0..k).map(|p| i64::from(b[p * n + j])).sum())
        .collect();
    for i in 0..m {
        for j in 0..n {
            let (sb, zb) = pb.at(j);
            let (za, zb) = (i64::from(za), i64::from(zb));
            let exact = i64::from(acc[i * n + j]) - zb * row_sums[i] - za * col_sums[j]
                + k as i64 * za * zb;
            out[i * n + j] = exact as f32 * sa * sb;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{f64_matmul, rand_f32};

    #[test]
    fn i8_round_trip_error_is_within_half_a_step() {
        let x = rand_f32(1000, 5);
        let p = QuantParams::symmetric_i8(&x).unwrap();
        let back = dequantize_i8(&quantize_i8(&x, &p, &mut Rounding::NearestEven), &p);
        let step = p.at(0).0;
        assert!(x
            .iter()
            .zip(&back)
            .all(|(a, b)| (a - b).abs() <= step / 2.0 + 1e-7));
    }

    #[test]
    fn i8_saturates_and_uses_zero_points_per_channel() {
        let p = QuantParams::per_channel(vec![1.0, 0.5], vec![10, -3], 1).unwrap();
        let q = quantize_i8(&[1000.0, -1000.0, 2.0, 2.0], &p, &mut Rounding::NearestEven);
        assert_eq!(q, [127, -128, 12, 1]);
        assert_eq!(dequantize_i8(&q[2..], &p), [2.0, 2.0]);
    }

    #[test]
    fn bad_parameters_are_refused() {
        assert!(QuantParams::per_tensor(0.0, 0).is_err());
        assert!(QuantParams::per_tensor(f32::NAN, 0).is_err());
        assert!(QuantParams::per_channel(vec![1.0], vec![], 1).is_err());
        let zp = QuantParams::per_tensor(1.0, 3).unwrap();
        assert!(quantize_fp8(&[1.0], &zp, &mut Rounding::NearestEven).is_err());
    }

    #[test]
    fn fp8_round_trip_relative_error_is_within_a_sixteenth() {
        let x: Vec<f32> = rand_f32(500, 6).iter().map(|v| v * 100.0).collect();
        let p = QuantParams::per_tensor(1.0, 0).unwrap();
        let back = dequantize_fp8(
            &quantize_fp8(&x, &p, &mut Rounding::NearestEven).unwrap(),
            &p,
        )
        .unwrap();
        for (a, b) in x.iter().zip(&back) {
            assert!((a - b).abs() <= a.abs() / 16.0 + 1.0 / 1024.0, "{a} → {b}");
        }
    }

    #[test]
    fn int8_matmul_matches_the_dequantized_f64_product() {
        let (m, k, n) = (17, 64, 23);
        let (a, b) = (rand_f32(m * k, 7), rand_f32(k * n, 8));
        let pa = QuantParams::per_tensor(0.01, 5).unwrap();
        let pb = QuantParams::symmetric_i8_columns(&b, n).unwrap();
        let mut rne = Rounding::NearestEven;
        let (qa, qb) = (
            quantize_i8(&a, &pa, &mut rne),
            quantize_i8(&b, &pb, &mut rne),
        );
        let mut out = vec![0f32; m * n];
        matmul_i8(
            &Gemm::new(2).unwrap(),
            &qa,
            &pa,
            &qb,
            &pb,
            (m, k, n),
            &mut out,
        )
        .unwrap();
        let want = f64_matmul(&dequantize_i8(&qa, &pa), &dequantize_i8(&qb, &pb), m, k, n);
        for (g, w) in out.iter().zip(&want) {
            assert!(
                (*g as f64 - w).abs() <= 1e-4 * w.abs().max(1.0),
                "{g} vs {w}"
            );
        }
    }
}
