//! The non-GEMM ops on f32 values, each summing in a fixed order (bit-reproducible).

use crate::gemm::Gemm;
use crate::matrix::MatRef;
use crate::Result;
use rayon::prelude::*;

/// GELU, tanh approximation (the ABI's definition).
pub fn gelu(v: f32) -> f32 {
    const C: f32 = 0.797_884_6; // sqrt(2/pi)
    0.5 * v * (1.0 + (C * (v + 0.044715 * v * v * v)).tanh())
}

/// Softmax of each `d`-long row, in place.
pub fn softmax_rows(x: &mut [f32], d: usize) {
    x.par_chunks_mut(d.max(1)).for_each(softmax);
}

fn softmax(row: &mut [f32]) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if max == f32::NEG_INFINITY {
        // Every entry masked: no distribution; report zeros rather than NaN.
        row.fill(0.0);
        return;
    }
    let mut sum = 0f32;
    for v in row.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    let inv = 1.0 / sum;
    row.iter_mut().for_each(|v| *v *= inv);
}

/// Layer normalisation of each `d`-long row in place, with optional gamma and beta (`[d]`).
pub fn layernorm_rows(
    x: &mut [f32],
    d: usize,
    eps: f32,
    gamma: Option<&[f32]>,
    beta: Option<&[f32]>,
) {
    x.par_chunks_mut(d.max(1)).for_each(|row| {
        let n = row.len() as f32;
        let mean = row.iter().sum::<f32>() / n;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
        let inv = 1.0 / (var + eps).sqrt();
        for (i, v) in row.iter_mut().enumerate() {
            *v = (*v - mean) * inv * gamma.map_or(1.0, |g| g[i]) + beta.map_or(0.0, |b| b[i]);
        }
    });
}

/// Attention shapes: batch, queries, keys, head dim, value dim.
#[derive(Clone, Copy, Debug)]
pub struct AttentionShape {
    /// B.
    pub batch: usize,
    /// S.
    pub queries: usize,
    /// T.
    pub keys: usize,
    /// D.
    pub dim: usize,
    /// E.
    pub value_dim: usize,
}

/// `softmax(q·kᵀ·scale [+ causal mask]) · v` for contiguous `q[B,S,D]`, `k[B,T,D]`, `v[B,T,E]`.
/// The causal mask hides key `j > i` from query `i` (top-left aligned, as PyTorch's
/// `is_causal`).
pub fn attention(
    g: &Gemm,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    s: AttentionShape,
    scale: f32,
    causal: bool,
) -> Result<Vec<f32>> {
    let AttentionShape {
        batch,
        queries: sq,
        keys: t,
        dim: d,
        value_dim: e,
    } = s;
    let mut out = vec![0f32; batch * sq * e];
    let mut scores = vec![0f32; sq * t];
    for b in 0..batch {
        let qb = MatRef::row_major(&q[b * sq * d..(b + 1) * sq * d], sq, d)?;
        let kb = MatRef::row_major(&k[b * t * d..(b + 1) * t * d], t, d)?.t();
        g.run(qb, kb, &mut scores, t)?;
        for (i, row) in scores.chunks_mut(t.max(1)).enumerate() {
            for (j, x) in row.iter_mut().enumerate() {
                *x = if causal && j > i {
                    f32::NEG_INFINITY
                } else {
                    *x * scale
                };
            }
        }
        g.install(|| softmax_rows(&mut scores, t));
        let vb = MatRef::row_major(&v[b * t * e..(b + 1) * t * e], t, e)?;
        g.run(
            MatRef::row_major(&scores, sq, t)?,
            vb,
            &mut out[b * sq * e..(b + 1) * sq * e],
            e,
        )?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::rand_f32;

    #[test]
    fn softmax_sums_to_one_and_a_masked_row_is_zero() {
        let mut x = vec![
            1.0,
            2.0,
            3.0,
            f32::NEG_INFINITY,
            f32::NEG_INFINITY,
            f32::NEG_INFINITY,
        ];
        softmax_rows(&mut x, 3);
        assert!((x[..3].iter().sum::<f32>() - 1.0).abs() < 1e-6 && x[0] < x[1] && x[1] < x[2]);
        assert_eq!(&x[3..], &[0.0; 3]);
    }

    #[test]
    fn layernorm_gives_zero_mean_unit_variance_then_affine() {
        let mut x = rand_f32(64, 3);
        layernorm_rows(&mut x, 32, 1e-5, None, None);
        for row in x.chunks(32) {
            let mean: f32 = row.iter().sum::<f32>() / 32.0;
            let var: f32 = row.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / 32.0;
            assert!(mean.abs() < 1e-5 && (var - 1.0).abs() < 1e-3);
        }
        let mut y = vec![1.0, 3.0];
        layernorm_rows(&mut y, 2, 0.0, Some(&[2.0, 2.0]), Some(&[10.0, 10.0]));
        assert_eq!(y, [8.0, 12.0]);
    }

    #[test]
    fn gelu_known_values() {
        assert_eq!(gelu(0.0), 0.0);
        assert!((gelu(1.0) - 0.841192).abs() < 1e-5);
        assert!((gelu(-1.0) + 0.158808).abs() < 1e-5);
    }

    #[test]
    fn attention_matches_a_direct_f64_computation_with_causal_mask() {
        let s = AttentionShape {
            batch: 2,
            queries: 5,
            keys: 5,
            dim: 8,
            value_dim: 3,
        };
        let (q, k, v) = (
            rand_f32(2 * 5 * 8, 1),
            rand_f32(2 * 5 * 8, 2),
            rand_f32(2 * 5 * 3, 3),
        );
        let g = Gemm::new(2).unwrap();
        let scale = 1.0 / 8f32.sqrt();
        let got = attention(&g, &q, &k, &v, s, scale, true).unwrap();
        for b in 0..2 {
            for i in 0..5 {
                let w: Vec<f64> = (0..=i)
                    .map(|j| {
                        (0..8)
                            .map(|x| q[b * 40 + i * 8 + x] as f64 * k[b * 40 + j * 8 + x] as f64)
                            .sum::<f64>()
                            * scale as f64
                    })
                    .collect();
                let max = w.iter().cloned().fold(f64::MIN, f64::max);
                let z: f64 = w.iter().map(|x| (x - max).exp()).sum();
                for e in 0..3 {
                    let want: f64 = (0..=i)
                        .map(|j| (w[j] - max).exp() / z * v[b * 15 + j * 3 + e] as f64)
                        .sum();
                    assert!((got[b * 15 + i * 3 + e] as f64 - want).abs() < 1e-5);
                }
            }
        }
    }
}
