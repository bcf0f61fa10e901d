//! The scales and zero points of a quantized MATMUL (ABI 1.7), applied to the raw sums:
//! `C = sa·sb_j·(Σ a·b − zb·Σ_k a − za·Σ_k b + K·za·zb)`, A per tensor, B per tensor or per output
//! column (the third input).

use super::MatmulViews;
use crate::tensor::{load_f32, typed};
use crate::{CpuError, Result};
use lightos_uapi as uapi;

/// A quantized MATMUL's scaling, from its `params` and optional third input.
pub struct Scaling {
    sa: f32,
    za: i32,
    /// One scale, or one per output column.
    sb: Vec<f32>,
    zb: i32,
}

/// `(scale, zero point)` from one params word: f32 bits low, i32 high.
fn split(word: u64) -> (f32, i32) {
    (f32::from_bits(word as u32), (word >> 32) as u32 as i32)
}

impl Scaling {
    /// `None` for a MATMUL without scales (the raw sums, as before ABI 1.7).
    pub fn from_prim(p: &uapi::Primitive, inputs: &[&[u8]], n: usize) -> Result<Option<Scaling>> {
        // A float MATMUL's third input is its bias (1.11), not scales.
        let float = matches!(
            p.dtype,
            uapi::DTYPE_F32 | uapi::DTYPE_F16 | uapi::DTYPE_BF16
        );
        if p.params[0] == 0 && p.params[1] == 0 && (p.n_inputs == 2 || float) {
            return Ok(None);
        }
        let ((sa, za), (sb, zb)) = (split(p.params[0]), split(p.params[1]));
        let sb = if p.n_inputs == 3 {
            let s = load_f32(inputs[2], &p.operands[2], uapi::DTYPE_F32)?;
            if s.len() != n {
                return Err(CpuError::Shape("one B scale per output column"));
            }
            s
        } else {
            vec![sb]
        };
        if !(sa.is_finite() && sa > 0.0) || sb.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(CpuError::Quant("scales must be finite and positive"));
        }
        if p.dtype != uapi::DTYPE_I8 && (za != 0 || zb != 0) {
            return Err(CpuError::Quant("FP8 has no zero point"));
        }
        Ok(Some(Scaling { sa, za, sb, zb }))
    }

    /// Turns the raw sums `c` (batch × m × n) into the dequantized product.
    pub fn apply(&self, views: &MatmulViews<'_>, inputs: &[&[u8]], c: &mut [f32]) -> Result<()> {
        let (m, k, n) = (views.m, views.k, views.n);
        let zero_points = self.za != 0 || self.zb != 0;
        // The inputs as i8 only when zero points need their sums (FP8 has none).
        let (a, b) = if zero_points {
            (typed::<i8>(inputs[0])?, typed::<i8>(inputs[1])?)
        } else {
            (&[][..], &[][..])
        };
        for (bi, cb) in c.chunks_mut((m * n).max(1)).take(views.batch).enumerate() {
            let (row_sums, col_sums) = if zero_points {
                let av = MatmulViews::view(views.at, a, bi, m, k)?;
                let bv = MatmulViews::view(views.bt, b, bi, k, n)?;
                let rows: Vec<i64> = (0..m)
                    .map(|i| (0..k).map(|x| i64::from(av.at(i, x))).sum())
                    .collect();
                let cols: Vec<i64> = (0..n)
                    .map(|j| (0..k).map(|x| i64::from(bv.at(x, j))).sum())
                    .collect();
                (rows, cols)
            } else {
                (Vec::new(), Vec::new())
            };
            let (za, zb, kk) = (f64::from(self.za), f64::from(self.zb), k as f64);
            for (i, row) in cb.chunks_mut(n.max(1)).enumerate() {
                for (j, v) in row.iter_mut().enumerate() {
                    let mut sum = f64::from(*v);
                    if zero_points {
                        sum += -zb * row_sums[i] as f64 - za * col_sums[j] as f64 + kk * za * zb;
                    }
                    let sb = self.sb[if self.sb.len() == 1 { 0 } else { j }];
                    *v = (sum * f64::from(self.sa) * f64::from(sb)) as f32;
                }
            }
        }
        Ok(())
    }
}
