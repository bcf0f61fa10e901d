//! Pooling over NCHW tensors, as ONNX defines it: max and average pooling with a kernel, strides,
//! dilations (max), asymmetric zero padding and ceil mode, average pooling counting the padding or
//! not (`count_include_pad`), global pooling, and local response normalisation across channels
//! (LRN). One plane (n, c) per task.

use crate::{CpuError, Result};
use rayon::prelude::*;

/// What a pooling window computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolKind {
    /// The largest element (padding never wins: it is not an element).
    Max,
    /// The mean; with `count_include_pad` the divisor is the whole window (padding counted as
    /// zeros), else only the elements inside the input.
    Avg {
        /// Count padded positions in the divisor.
        count_include_pad: bool,
    },
}

/// A pooling's shapes and parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool2d {
    /// Batch, channels, height, width of the input.
    pub input: [usize; 4],
    /// Kernel height and width (≥ 1).
    pub kernel: [usize; 2],
    /// Vertical and horizontal stride (≥ 1).
    pub stride: [usize; 2],
    /// Vertical and horizontal dilation (≥ 1).
    pub dilation: [usize; 2],
    /// Padding: top, left, bottom, right.
    pub pads: [usize; 4],
    /// Round the output size up (ONNX `ceil_mode`): a last window that starts inside the input or
    /// its top/left padding is kept even if it runs past the bottom/right padding.
    pub ceil: bool,
    /// Max or average.
    pub kind: PoolKind,
}

impl Pool2d {
    /// Output height and width, or why the parameters are inconsistent.
    pub fn out_hw(&self) -> Result<(usize, usize)> {
        let [_, _, h, w] = self.input;
        let mut out = [0usize; 2];
        for (a, extent) in [h, w].into_iter().enumerate() {
            let (k, s, d) = (self.kernel[a], self.stride[a], self.dilation[a]);
            let (p0, p1) = (self.pads[a], self.pads[a + 2]);
            if k == 0 || s == 0 || d == 0 {
                return Err(CpuError::Shape(
                    "kernel, stride and dilation must be at least 1",
                ));
            }
            let span = (k - 1)
                .checked_mul(d)
                .and_then(|x| x.checked_add(1))
                .ok_or(CpuError::Shape("pooling sizes overflow"))?;
            let padded = extent
                .checked_add(p0 + p1)
                .ok_or(CpuError::Shape("pooling sizes overflow"))?;
            if span > padded {
                return Err(CpuError::Shape(
                    "the (dilated) kernel is larger than the padded input",
                ));
            }
            let mut n = if self.ceil {
                (padded - span).div_ceil(s) + 1
            } else {
                (padded - span) / s + 1
            };
            if self.ceil && (n - 1) * s >= extent + p0 {
                n -= 1;
            }
            out[a] = n;
        }
        Ok((out[0], out[1]))
    }
}

/// `out[N, C, OH, OW]`: the pooling `p` of `x`.
pub fn pool2d(x: &[f32], p: &Pool2d) -> Result<Vec<f32>> {
    let [n, c, h, w] = p.input;
    let (oh, ow) = p.out_hw()?;
    let plane = h
        .checked_mul(w)
        .ok_or(CpuError::Shape("pooling sizes overflow"))?;
    if n.checked_mul(c)
        .and_then(|nc| nc.checked_mul(plane))
        .is_none_or(|need| x.len() < need)
    {
        return Err(CpuError::Operand("pooling input shorter than its shape"));
    }
    let mut out = vec![0.0f32; n * c * oh * ow];
    out.par_chunks_mut(oh * ow).enumerate().for_each(|(nc, o)| {
        let src = &x[nc * plane..(nc + 1) * plane];
        for oy in 0..oh {
            for ox in 0..ow {
                let (mut best, mut sum, mut inside) = (f32::NEG_INFINITY, 0.0f32, 0usize);
                let mut window = 0usize;
                for ky in 0..p.kernel[0] {
                    let y = (oy * p.stride[0] + ky * p.dilation[0]) as isize - p.pads[0] as isize;
                    for kx in 0..p.kernel[1] {
                        let xx =
                            (ox * p.stride[1] + kx * p.dilation[1]) as isize - p.pads[1] as isize;
                        // The divisor with padding counted stops at the padded input's end.
                        let in_padded =
                            y < (h + p.pads[2]) as isize && xx < (w + p.pads[3]) as isize;
                        window += usize::from(in_padded);
                        if y < 0 || xx < 0 || y >= h as isize || xx >= w as isize {
                            continue;
                        }
                        let v = src[y as usize * w + xx as usize];
                        best = best.max(v);
                        sum += v;
                        inside += 1;
                    }
                }
                o[oy * ow + ox] = match p.kind {
                    PoolKind::Max => best,
                    PoolKind::Avg {
                        count_include_pad: true,
                    } => sum / window.max(1) as f32,
                    PoolKind::Avg {
                        count_include_pad: false,
                    } => sum / inside.max(1) as f32,
                };
            }
        }
    });
    Ok(out)
}

/// `out[N, C, 1, 1]`: the maximum or mean of each plane of `x` (`[N, C, H, W]`).
pub fn global_pool(x: &[f32], input: [usize; 4], kind: PoolKind) -> Result<Vec<f32>> {
    let [n, c, h, w] = input;
    let plane = h * w;
    if plane == 0 || x.len() < n * c * plane {
        return Err(CpuError::Operand("pooling input shorter than its shape"));
    }
    Ok(x[..n * c * plane]
        .par_chunks(plane)
        .map(|p| match kind {
            PoolKind::Max => p.iter().copied().fold(f32::NEG_INFINITY, f32::max),
            PoolKind::Avg { .. } => p.iter().sum::<f32>() / plane as f32,
        })
        .collect())
}

/// Local response normalisation across channels (ONNX LRN): `y = x / (bias + alpha/size ·
/// Σ x²)^beta` over the `size` channels centred on each (`floor((size-1)/2)` before,
/// `ceil((size-1)/2)` after), of `x` `[N, C, H, W]`.
pub fn lrn(
    x: &[f32],
    input: [usize; 4],
    size: usize,
    alpha: f32,
    beta: f32,
    bias: f32,
) -> Result<Vec<f32>> {
    let [n, c, h, w] = input;
    let plane = h * w;
    if size == 0 {
        return Err(CpuError::Shape("LRN size must be at least 1"));
    }
    if x.len() < n * c * plane {
        return Err(CpuError::Operand("LRN input shorter than its shape"));
    }
    let (before, after) = ((size - 1) / 2, (size - 1).div_ceil(2));
    let mut out = vec![0.0f32; n * c * plane];
    out.par_chunks_mut(c * plane)
        .enumerate()
        .for_each(|(b, o)| {
            let xb = &x[b * c * plane..(b + 1) * c * plane];
            for ch in 0..c {
                let lo = ch.saturating_sub(before);
                let hi = (ch + after).min(c - 1);
                for p in 0..plane {
                    let sq: f32 = (lo..=hi)
                        .map(|k| xb[k * plane + p] * xb[k * plane + p])
                        .sum();
                    o[ch * plane + p] =
                        xb[ch * plane + p] / (bias + alpha / size as f32 * sq).powf(beta);
                }
            }
        });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(
        input: [usize; 4],
        k: usize,
        s: usize,
        pads: [usize; 4],
        ceil: bool,
        kind: PoolKind,
    ) -> Pool2d {
        Pool2d {
            input,
            kernel: [k; 2],
            stride: [s; 2],
            dilation: [1; 2],
            pads,
            ceil,
            kind,
        }
    }

    #[test]
    fn max_pool_of_a_ramp_takes_each_windows_last_element() {
        let x: Vec<f32> = (0..16).map(|v| v as f32).collect();
        let p = pool([1, 1, 4, 4], 2, 2, [0; 4], false, PoolKind::Max);
        assert_eq!(p.out_hw().unwrap(), (2, 2));
        assert_eq!(pool2d(&x, &p).unwrap(), vec![5.0, 7.0, 13.0, 15.0]);
    }

    #[test]
    fn average_pool_counts_padding_only_when_asked() {
        let x = vec![1.0f32; 9];
        // 3x3 of ones, kernel 3, stride 1, pad 1: the corner window has 4 inside, 9 in all.
        let excl = pool(
            [1, 1, 3, 3],
            3,
            1,
            [1; 4],
            false,
            PoolKind::Avg {
                count_include_pad: false,
            },
        );
        let incl = pool(
            [1, 1, 3, 3],
            3,
            1,
            [1; 4],
            false,
            PoolKind::Avg {
                count_include_pad: true,
            },
        );
        assert!(pool2d(&x, &excl).unwrap().iter().all(|&v| v == 1.0));
        let y = pool2d(&x, &incl).unwrap();
        assert_eq!(y[0], 4.0 / 9.0);
        assert_eq!(y[4], 1.0);
    }

    #[test]
    fn asymmetric_padding_and_ceil_mode_follow_onnx() {
        // Inception v1's last pool: 7x7, stride 1, pads [0,0,1,1] on a 6x6 input: one output, the
        // mean of the 36 elements inside (padding not counted).
        let x: Vec<f32> = (0..36).map(|v| v as f32).collect();
        let p = pool(
            [1, 1, 6, 6],
            7,
            1,
            [0, 0, 1, 1],
            false,
            PoolKind::Avg {
                count_include_pad: false,
            },
        );
        assert_eq!(p.out_hw().unwrap(), (1, 1));
        assert_eq!(pool2d(&x, &p).unwrap(), vec![17.5]);
        // AlexNet's caffe-style pool: 3x3 stride 2 on 5x5 with pads [0,0,1,1] gives 2x2 (the ceil
        // of caffe), and ceil_mode on an unpadded 5x5 gives the same.
        let a = pool([1, 1, 5, 5], 3, 2, [0, 0, 1, 1], false, PoolKind::Max);
        let b = pool([1, 1, 5, 5], 3, 2, [0; 4], true, PoolKind::Max);
        assert_eq!(a.out_hw().unwrap(), (2, 2));
        assert_eq!(b.out_hw().unwrap(), (2, 2));
        let x: Vec<f32> = (0..25).map(|v| v as f32).collect();
        assert_eq!(pool2d(&x, &a).unwrap(), pool2d(&x, &b).unwrap());
        // A window that would start in the bottom padding only is dropped in ceil mode: 4 + 1 of
        // padding, kernel 2, stride 2 rounds up to 3 windows, but the third starts in the padding.
        let c = pool([1, 1, 4, 4], 2, 2, [0, 0, 1, 1], true, PoolKind::Max);
        assert_eq!(c.out_hw().unwrap(), (2, 2));
    }

    #[test]
    fn dilated_max_pool_skips_between_taps() {
        let x: Vec<f32> = (0..25).map(|v| v as f32).collect();
        let p = Pool2d {
            dilation: [2; 2],
            ..pool([1, 1, 5, 5], 2, 1, [0; 4], false, PoolKind::Max)
        };
        assert_eq!(p.out_hw().unwrap(), (3, 3));
        // The window at (0,0) reads (0,0),(0,2),(2,0),(2,2): the max is 12.
        assert_eq!(pool2d(&x, &p).unwrap()[0], 12.0);
    }

    #[test]
    fn global_pools_reduce_each_plane() {
        let x: Vec<f32> = (0..8).map(|v| v as f32).collect();
        assert_eq!(
            global_pool(&x, [1, 2, 2, 2], PoolKind::Max).unwrap(),
            vec![3.0, 7.0]
        );
        assert_eq!(
            global_pool(
                &x,
                [1, 2, 2, 2],
                PoolKind::Avg {
                    count_include_pad: false
                }
            )
            .unwrap(),
            vec![1.5, 5.5]
        );
    }

    #[test]
    fn lrn_matches_its_definition() {
        let (c, size, alpha, beta, bias) = (5usize, 3usize, 1e-2f32, 0.75f32, 2.0f32);
        let x: Vec<f32> = (0..c).map(|v| v as f32 + 1.0).collect();
        let y = lrn(&x, [1, c, 1, 1], size, alpha, beta, bias).unwrap();
        for ch in 0..c {
            let lo = ch.saturating_sub(1);
            let hi = (ch + 1).min(c - 1);
            let sq: f32 = (lo..=hi).map(|k| x[k] * x[k]).sum();
            let want = x[ch] / (bias + alpha / size as f32 * sq).powf(beta);
            assert!(
                (y[ch] - want).abs() <= 1e-6 * want.abs(),
                "channel {ch}: {} vs {want}",
                y[ch]
            );
        }
    }

    #[test]
    fn inconsistent_shapes_are_errors() {
        assert!(pool([1, 1, 2, 2], 3, 1, [0; 4], false, PoolKind::Max)
            .out_hw()
            .is_err());
        assert!(pool([1, 1, 2, 2], 1, 0, [0; 4], false, PoolKind::Max)
            .out_hw()
            .is_err());
        assert!(pool2d(
            &[0.0; 3],
            &pool([1, 1, 2, 2], 1, 1, [0; 4], false, PoolKind::Max)
        )
        .is_err());
        assert!(lrn(&[1.0], [1, 1, 1, 1], 0, 1.0, 1.0, 1.0).is_err());
    }
}
