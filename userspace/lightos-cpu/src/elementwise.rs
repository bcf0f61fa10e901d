//! ABI 1.13's element-wise functions (`OP_UNARY`, `OP_BINARY`), reductions over axes
//! (`OP_REDUCE`), softmax along any axis and gather (`OP_GATHER`), on values in logical row-major
//! order. Each sums in a fixed order, so results are the same for any thread count.

use crate::{CpuError, Result};
use lightos_uapi as uapi;
use rayon::prelude::*;

/// The `UNARY_*` function `f`, or why not.
pub fn unary(f: u64) -> Result<fn(f32) -> f32> {
    Ok(match f {
        uapi::UNARY_EXP => f32::exp,
        uapi::UNARY_TANH => f32::tanh,
        uapi::UNARY_SIGMOID => |x| 1.0 / (1.0 + (-x).exp()),
        uapi::UNARY_SQRT => f32::sqrt,
        uapi::UNARY_ERF => libm::erff,
        uapi::UNARY_RECIPROCAL => |x| 1.0 / x,
        uapi::UNARY_NEG => |x| -x,
        _ => return Err(CpuError::Unsupported("unary function")),
    })
}

/// The `BINARY_*` function `f`, or why not. MAX and MIN propagate NaN (numpy's `maximum`, ONNX's
/// `Max`), unlike `f32::max`.
pub fn binary(f: u64) -> Result<fn(f32, f32) -> f32> {
    Ok(match f {
        uapi::BINARY_SUB => |a, b| a - b,
        uapi::BINARY_DIV => |a, b| a / b,
        uapi::BINARY_MAX => |a: f32, b: f32| {
            if a.is_nan() || b.is_nan() {
                f32::NAN
            } else {
                a.max(b)
            }
        },
        uapi::BINARY_MIN => |a: f32, b: f32| {
            if a.is_nan() || b.is_nan() {
                f32::NAN
            } else {
                a.min(b)
            }
        },
        uapi::BINARY_POW => f32::powf,
        _ => return Err(CpuError::Unsupported("binary function")),
    })
}

/// Elements per task of the parallel element-wise maps: below it, one thread does the work.
const CHUNK: usize = 16 * 1024;

/// `f` of each element, in parallel on the current pool for large inputs (each element on its
/// own: the same bits for any thread count).
pub fn map(x: &[f32], f: fn(f32) -> f32) -> Vec<f32> {
    let mut out = vec![0f32; x.len()];
    map_into(x, f, &mut out);
    out
}

/// [`map`] into `out` (its first `x.len()` elements).
pub fn map_into(x: &[f32], f: impl Fn(f32) -> f32 + Sync, out: &mut [f32]) {
    let out = &mut out[..x.len()];
    if x.len() <= CHUNK {
        out.iter_mut().zip(x).for_each(|(o, &v)| *o = f(v));
        return;
    }
    out.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .for_each(|(o, i)| o.iter_mut().zip(i).for_each(|(o, &v)| *o = f(v)));
}

/// `f` of each pair of elements, as [`map`].
pub fn zip_map(a: &[f32], b: &[f32], f: fn(f32, f32) -> f32) -> Vec<f32> {
    let mut out = vec![0f32; a.len().min(b.len())];
    zip_map_into(a, b, f, &mut out);
    out
}

/// [`zip_map`] into `out` (its first `min(a.len(), b.len())` elements).
pub fn zip_map_into(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32 + Sync, out: &mut [f32]) {
    let n = a.len().min(b.len());
    let out = &mut out[..n];
    if n <= CHUNK {
        for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
            *o = f(x, y);
        }
        return;
    }
    out.par_chunks_mut(CHUNK)
        .zip(a[..n].par_chunks(CHUNK).zip(b[..n].par_chunks(CHUNK)))
        .for_each(|(o, (x, y))| {
            for ((o, &x), &y) in o.iter_mut().zip(x).zip(y) {
                *o = f(x, y);
            }
        });
}

/// `x` (dims `dims`, row-major) reduced with `REDUCE_*` `kind` over the axes whose bit is set in
/// `mask`; the result has `dims` with each reduced axis 1, row-major. Each output sums its inputs
/// in row-major order.
pub fn reduce(x: &[f32], dims: &[usize], mask: u64, kind: u64) -> Result<Vec<f32>> {
    if dims.iter().product::<usize>() != x.len() || mask == 0 || mask >> dims.len() != 0 {
        return Err(CpuError::Shape(
            "reduce: dims and axes do not fit the values",
        ));
    }
    let reduced = |i: usize| mask >> i & 1 == 1;
    let out_dims: Vec<usize> = (0..dims.len())
        .map(|i| if reduced(i) { 1 } else { dims[i] })
        .collect();
    // The output's row-major strides, 0 along reduced axes: input coordinate → output index.
    let mut ostride = vec![0usize; dims.len()];
    let mut s = 1;
    for i in (0..dims.len()).rev() {
        ostride[i] = if reduced(i) { 0 } else { s };
        s *= out_dims[i];
    }
    let (init, max) = match kind {
        uapi::REDUCE_SUM | uapi::REDUCE_MEAN => (0.0, false),
        uapi::REDUCE_MAX => (f32::NEG_INFINITY, true),
        _ => return Err(CpuError::Unsupported("reduce kind")),
    };
    let mut out = vec![init; s];
    let mut coord = vec![0usize; dims.len()];
    let mut at = 0usize;
    for &v in x {
        let o = &mut out[at];
        *o = match max {
            true if v.is_nan() || o.is_nan() => f32::NAN,
            true => o.max(v),
            false => *o + v,
        };
        // Advance the coordinate (row-major) and the output index with it.
        for i in (0..dims.len()).rev() {
            coord[i] += 1;
            at += ostride[i];
            if coord[i] < dims[i] {
                break;
            }
            at -= ostride[i] * coord[i];
            coord[i] = 0;
        }
    }
    if kind == uapi::REDUCE_MEAN {
        let n = (x.len() / s.max(1)) as f32;
        out.iter_mut().for_each(|v| *v /= n);
    }
    Ok(out)
}

/// Softmax of `x` (dims `dims`, row-major) along `axis`, in place; a slice whose every entry is
/// −∞ becomes zeros, as the last-axis softmax has it.
pub fn softmax_axis(x: &mut [f32], dims: &[usize], axis: usize) -> Result<()> {
    if axis >= dims.len() || dims.iter().product::<usize>() != x.len() {
        return Err(CpuError::Shape("softmax: axis past the input's dims"));
    }
    let len = dims[axis];
    let inner: usize = dims[axis + 1..].iter().product();
    if inner == 1 {
        crate::ops::softmax_rows(x, len);
        return Ok(());
    }
    let mut lane = vec![0f32; len];
    for block in x.chunks_mut((len * inner).max(1)) {
        for j in 0..inner {
            for (k, l) in lane.iter_mut().enumerate() {
                *l = block[k * inner + j];
            }
            crate::ops::softmax_rows(&mut lane, len);
            for (k, l) in lane.iter().enumerate() {
                block[k * inner + j] = *l;
            }
        }
    }
    Ok(())
}

/// Gather (ONNX's `Gather`): raw elements of `esize` bytes of `data` (dims `dims`, row-major)
/// along `axis` at `indices` (negative ones count from the end); the result row-major, shaped
/// `dims[..axis] ++ indices' ++ dims[axis+1..]`. An index out of range is an error.
pub fn gather(
    data: &[u8],
    dims: &[usize],
    esize: usize,
    axis: usize,
    indices: &[i64],
) -> Result<Vec<u8>> {
    if axis >= dims.len() || dims.iter().product::<usize>() * esize != data.len() {
        return Err(CpuError::Shape("gather: axis past the data's dims"));
    }
    let n = dims[axis] as i64;
    let outer: usize = dims[..axis].iter().product();
    let inner = dims[axis + 1..].iter().product::<usize>() * esize;
    let rows: Vec<usize> = indices
        .iter()
        .map(|&i| {
            let j = if i < 0 { i + n } else { i };
            (0..n)
                .contains(&j)
                .then_some(j as usize)
                .ok_or(CpuError::Operand("gather: an index is out of range"))
        })
        .collect::<Result<_>>()?;
    let mut out = Vec::with_capacity(outer * rows.len() * inner);
    for o in 0..outer {
        let base = o * dims[axis] * inner;
        for &r in &rows {
            out.extend_from_slice(&data[base + r * inner..base + (r + 1) * inner]);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reductions_over_any_axes_keep_their_dims() {
        let x: Vec<f32> = (0..24).map(|v| v as f32).collect();
        let dims = [2, 3, 4];
        // Over axis 1: out[i, 0, k] = Σ_j x[i, j, k].
        let s = reduce(&x, &dims, 0b010, uapi::REDUCE_SUM).unwrap();
        assert_eq!(s, [12.0, 15.0, 18.0, 21.0, 48.0, 51.0, 54.0, 57.0]);
        let m = reduce(&x, &dims, 0b101, uapi::REDUCE_MEAN).unwrap();
        // Over axes 0 and 2: mean of x[i, j, k] for each j.
        assert_eq!(m, [7.5, 11.5, 15.5]);
        let mx = reduce(&x, &dims, 0b111, uapi::REDUCE_MAX).unwrap();
        assert_eq!(mx, [23.0]);
        let mut y = x.clone();
        y[5] = f32::NAN;
        assert!(reduce(&y, &dims, 0b100, uapi::REDUCE_MAX).unwrap()[1].is_nan());
        assert!(reduce(&x, &dims, 0b1000, uapi::REDUCE_SUM).is_err());
        assert!(reduce(&x, &dims, 0, uapi::REDUCE_SUM).is_err());
        assert!(reduce(&x, &dims, 1, 9).is_err());
    }

    #[test]
    fn softmax_along_a_middle_axis_sums_to_one_along_it() {
        let mut x: Vec<f32> = (0..24).map(|v| (v as f32 * 0.37).sin()).collect();
        let orig = x.clone();
        softmax_axis(&mut x, &[2, 3, 4], 1).unwrap();
        for i in 0..2 {
            for k in 0..4 {
                let at = |j: usize| i * 12 + j * 4 + k;
                let z: f32 = (0..3).map(|j| orig[at(j)].exp()).sum();
                for j in 0..3 {
                    assert!((x[at(j)] - orig[at(j)].exp() / z).abs() < 1e-6);
                }
            }
        }
        assert!(softmax_axis(&mut x, &[2, 3, 4], 3).is_err());
    }

    #[test]
    fn gather_picks_rows_and_counts_negative_indices_from_the_end() {
        let data: Vec<u8> = (0..12u8).collect(); // [3, 4] of one byte
        let g = gather(&data, &[3, 4], 1, 0, &[2, -3]).unwrap();
        assert_eq!(g, [8, 9, 10, 11, 0, 1, 2, 3]);
        let g = gather(&data, &[3, 4], 1, 1, &[3]).unwrap();
        assert_eq!(g, [3, 7, 11]);
        assert!(gather(&data, &[3, 4], 1, 0, &[3]).is_err());
        assert!(gather(&data, &[3, 4], 1, 0, &[-4]).is_err());
    }

    #[test]
    fn functions_follow_their_definitions() {
        let erf = unary(uapi::UNARY_ERF).unwrap();
        assert!((erf(0.5) - 0.520_499_9).abs() < 1e-6);
        assert_eq!(unary(uapi::UNARY_NEG).unwrap()(2.0), -2.0);
        assert!((unary(uapi::UNARY_SIGMOID).unwrap()(0.0) - 0.5).abs() < 1e-7);
        assert!(unary(0).is_err() && unary(uapi::UNARY_MAX + 1).is_err());
        assert!(binary(uapi::BINARY_MAX).unwrap()(1.0, f32::NAN).is_nan());
        assert_eq!(binary(uapi::BINARY_MIN).unwrap()(1.0, -2.0), -2.0);
        assert_eq!(binary(uapi::BINARY_POW).unwrap()(3.0, 2.0), 9.0);
        assert!(binary(uapi::BINARY_MAX_FN + 1).is_err());
    }
}
