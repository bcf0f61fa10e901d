//! ABI tensors (`lightos_tensor`) over mapped buffer bytes: element positions from shape and
//! strides, and loading or storing their values as f32 in any of the ABI's numeric dtypes.

use crate::fp8::Fp8E4M3;
use crate::round::Rounding;
use crate::{CpuError, Result};
use half::{bf16, f16};
use lightos_uapi as uapi;

/// Bytes per element of a numeric dtype.
pub fn dtype_size(dtype: u8) -> Result<usize> {
    match dtype {
        uapi::DTYPE_F32 => Ok(4),
        uapi::DTYPE_F16 | uapi::DTYPE_BF16 => Ok(2),
        uapi::DTYPE_I8 | uapi::DTYPE_FP8_E4M3 => Ok(1),
        _ => Err(CpuError::Unsupported("dtype")),
    }
}

/// A tensor at byte `offset` with `dims`, contiguous unless `strides` (in elements) are given.
pub fn describe(dims: &[u64], offset: u64, strides: &[u64]) -> uapi::Tensor {
    let mut x = uapi::Tensor {
        ndim: dims.len() as u32,
        offset,
        ..Default::default()
    };
    x.shape[..dims.len()].copy_from_slice(dims);
    x.strides[..strides.len()].copy_from_slice(strides);
    x
}

/// The tensor's dims.
pub fn dims(t: &uapi::Tensor) -> &[u64] {
    &t.shape[..(t.ndim as usize).min(uapi::MAX_DIMS)]
}

/// Its element count.
pub fn numel(t: &uapi::Tensor) -> usize {
    dims(t).iter().product::<u64>() as usize
}

/// Whether it is contiguous row-major (all strides 0).
pub fn is_contiguous(t: &uapi::Tensor) -> bool {
    t.strides.iter().all(|&s| s == 0)
}

/// Element strides, the contiguous ones where the tensor gives none.
pub fn strides(t: &uapi::Tensor) -> Vec<usize> {
    let d = dims(t);
    if !is_contiguous(t) {
        return t.strides[..d.len()].iter().map(|&s| s as usize).collect();
    }
    let mut s = vec![1usize; d.len()];
    for i in (0..d.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * d[i + 1] as usize;
    }
    s
}

/// Calls `f(start, len, stride)` for each row of the innermost dimension, in row-major logical
/// order: `len` elements from element `start` (counted from the buffer's start) `stride` apart.
/// Offsets advance by additions only; nothing is allocated but the index of the outer dims.
pub fn for_each_row(t: &uapi::Tensor, esize: usize, mut f: impl FnMut(usize, usize, usize)) {
    let (d, s) = (dims(t), strides(t));
    if d.is_empty() || d.contains(&0) {
        return;
    }
    let nd = d.len();
    let (inner, inner_stride) = (d[nd - 1] as usize, s[nd - 1]);
    let mut idx = [0usize; uapi::MAX_DIMS];
    let mut at = t.offset as usize / esize.max(1);
    loop {
        f(at, inner, inner_stride);
        let mut k = nd - 1;
        loop {
            if k == 0 {
                return;
            }
            k -= 1;
            idx[k] += 1;
            at += s[k];
            if idx[k] < d[k] as usize {
                break;
            }
            at -= s[k] * d[k] as usize;
            idx[k] = 0;
        }
    }
}

/// `value` when every row was inside its buffer (`fits`), else the error saying it was not.
fn within<T>(fits: bool, value: T) -> Result<T> {
    if fits {
        Ok(value)
    } else {
        Err(CpuError::Operand("tensor past its buffer"))
    }
}

/// The index (in elements from the buffer start) of each element, in row-major logical order.
pub fn positions(t: &uapi::Tensor, esize: usize) -> Vec<usize> {
    let mut out = Vec::with_capacity(numel(t));
    for_each_row(t, esize, |start, len, stride| {
        out.extend((0..len).map(|j| start + j * stride));
    });
    out
}

/// The operand's bytes as elements of `T` (alignment and length checked).
pub fn typed<T: bytemuck::Pod>(bytes: &[u8]) -> Result<&[T]> {
    let whole = bytes.len() / std::mem::size_of::<T>() * std::mem::size_of::<T>();
    bytemuck::try_cast_slice(&bytes[..whole]).map_err(|_| CpuError::Operand("misaligned buffer"))
}

/// As [`typed`], writable.
pub fn typed_mut<T: bytemuck::Pod>(bytes: &mut [u8]) -> Result<&mut [T]> {
    let whole = bytes.len() / std::mem::size_of::<T>() * std::mem::size_of::<T>();
    bytemuck::try_cast_slice_mut(&mut bytes[..whole])
        .map_err(|_| CpuError::Operand("misaligned buffer"))
}

fn gather<T: bytemuck::Pod>(
    bytes: &[u8],
    t: &uapi::Tensor,
    f: impl Fn(T) -> f32,
) -> Result<Vec<f32>> {
    let data = typed::<T>(bytes)?;
    let esize = std::mem::size_of::<T>();
    if is_contiguous(t) {
        let start = t.offset as usize / esize;
        let slice = data
            .get(start..start + numel(t))
            .ok_or(CpuError::Operand("tensor past its buffer"))?;
        return Ok(slice.iter().map(|&v| f(v)).collect());
    }
    let mut out = Vec::with_capacity(numel(t));
    let mut fits = true;
    for_each_row(t, esize, |start, len, stride| {
        let end = start + len.saturating_sub(1) * stride;
        match data.get(start..=end) {
            // A broadcast row (stride 0) is one element repeated.
            Some(row) if fits && stride == 0 => out.extend(std::iter::repeat_n(f(row[0]), len)),
            Some(row) if fits => out.extend(row.iter().step_by(stride).map(|&v| f(v))),
            _ => fits = false,
        }
    });
    within(fits, out)
}

/// The tensor's values as f32 (i8 as its integer value, FP8 exactly).
pub fn load_f32(bytes: &[u8], t: &uapi::Tensor, dtype: u8) -> Result<Vec<f32>> {
    match dtype {
        uapi::DTYPE_F32 => gather::<f32>(bytes, t, |v| v),
        uapi::DTYPE_F16 => gather::<f16>(bytes, t, f16::to_f32),
        uapi::DTYPE_BF16 => gather::<bf16>(bytes, t, bf16::to_f32),
        uapi::DTYPE_I8 => gather::<i8>(bytes, t, f32::from),
        uapi::DTYPE_FP8_E4M3 => gather::<Fp8E4M3>(bytes, t, Fp8E4M3::to_f32),
        _ => Err(CpuError::Unsupported("dtype")),
    }
}

/// The tensor's values as f32, borrowed from `bytes` when they are contiguous, aligned f32
/// (no copy: weights and activations read in place), else as [`load_f32`] makes them.
pub fn view_f32<'a>(
    bytes: &'a [u8],
    t: &uapi::Tensor,
    dtype: u8,
) -> Result<std::borrow::Cow<'a, [f32]>> {
    if dtype == uapi::DTYPE_F32 && is_contiguous(t) {
        if let Ok(data) = typed::<f32>(bytes) {
            let start = t.offset as usize / 4;
            let slice = data
                .get(start..start + numel(t))
                .ok_or(CpuError::Operand("tensor past its buffer"))?;
            return Ok(std::borrow::Cow::Borrowed(slice));
        }
    }
    load_f32(bytes, t, dtype).map(std::borrow::Cow::Owned)
}

/// The tensor's elements in `bytes` as a writable f32 slice when they are contiguous, aligned f32
/// (an output written in place); `None` when they are not, or lie past `bytes`.
pub fn view_f32_mut<'a>(bytes: &'a mut [u8], t: &uapi::Tensor, dtype: u8) -> Option<&'a mut [f32]> {
    if dtype != uapi::DTYPE_F32 || !is_contiguous(t) {
        return None;
    }
    let start = usize::try_from(t.offset).ok()? / 4;
    if !t.offset.is_multiple_of(4) {
        return None;
    }
    typed_mut::<f32>(bytes)
        .ok()?
        .get_mut(start..start.checked_add(numel(t))?)
}

/// The tensor's raw elements (any dtype) as bytes, in logical order.
pub fn load_raw(bytes: &[u8], t: &uapi::Tensor, esize: usize) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(numel(t) * esize);
    let mut fits = true;
    for_each_row(t, esize, |start, len, stride| {
        let end = (start + len.saturating_sub(1) * stride + 1) * esize;
        match bytes.get(start * esize..end) {
            // A contiguous row is one copy.
            Some(row) if fits && stride == 1 => out.extend_from_slice(row),
            Some(row) if fits && stride == 0 => {
                for _ in 0..len {
                    out.extend_from_slice(row);
                }
            }
            Some(row) if fits => {
                for e in row.chunks(esize).step_by(stride) {
                    out.extend_from_slice(e);
                }
            }
            _ => fits = false,
        }
    });
    within(fits, out)
}

/// Writes raw elements (logical order) into the tensor's positions (as many as `src` holds).
pub fn store_raw(src: &[u8], bytes: &mut [u8], t: &uapi::Tensor, esize: usize) -> Result<()> {
    let (mut next, mut fits) = (0usize, true);
    for_each_row(t, esize, |start, len, stride| {
        let end = (start + len.saturating_sub(1) * stride + 1) * esize;
        let from = src.get((next * esize).min(src.len())..).unwrap_or_default();
        let n = len.min(from.len() / esize.max(1));
        match bytes.get_mut(start * esize..end) {
            Some(row) if fits && stride == 1 => {
                row[..n * esize].copy_from_slice(&from[..n * esize])
            }
            Some(row) if fits && stride == 0 => {
                if n > 0 {
                    row.copy_from_slice(&from[(n - 1) * esize..n * esize]);
                }
            }
            Some(row) if fits => {
                let dst = row.chunks_mut(esize).step_by(stride);
                for (d, v) in dst.zip(from.chunks_exact(esize)).take(n) {
                    d.copy_from_slice(v);
                }
            }
            _ => fits = false,
        }
        next += len;
    });
    within(fits, ())
}

fn scatter<T: bytemuck::Pod>(
    values: &[f32],
    bytes: &mut [u8],
    t: &uapi::Tensor,
    mut f: impl FnMut(f32) -> T,
) -> Result<()> {
    let esize = std::mem::size_of::<T>();
    let data = typed_mut::<T>(bytes)?;
    if is_contiguous(t) {
        let start = t.offset as usize / esize;
        let dst = data
            .get_mut(start..start + values.len())
            .ok_or(CpuError::Operand("tensor past its buffer"))?;
        dst.iter_mut().zip(values).for_each(|(d, &v)| *d = f(v));
        return Ok(());
    }
    let (mut next, mut fits) = (0usize, true);
    for_each_row(t, esize, |start, len, stride| {
        let end = start + len.saturating_sub(1) * stride;
        // As many values as remain (fewer than the tensor holds: the rest is left as it was).
        let src = values.get(next.min(values.len())..);
        match (data.get_mut(start..=end), src) {
            // Stride 0: every value lands on the one element (the last one stays), as element
            // by element.
            (Some(row), Some(src)) if fits && stride == 0 => {
                if let Some(&v) = src.get(..len.min(src.len())).and_then(<[f32]>::last) {
                    row[0] = f(v);
                }
            }
            (Some(row), Some(src)) if fits => {
                for (d, &v) in row.iter_mut().step_by(stride).zip(src) {
                    *d = f(v);
                }
            }
            _ => fits = false,
        }
        next += len;
    });
    within(fits, ())
}

/// Stores f32 values into the tensor as `dtype`: f16/bf16 round to nearest even; i8 and FP8 round
/// with `mode` and saturate.
pub fn store_f32(
    values: &[f32],
    bytes: &mut [u8],
    t: &uapi::Tensor,
    dtype: u8,
    mode: &mut Rounding,
) -> Result<()> {
    match dtype {
        uapi::DTYPE_F32 => scatter::<f32>(values, bytes, t, |v| v),
        uapi::DTYPE_F16 => scatter::<f16>(values, bytes, t, f16::from_f32),
        uapi::DTYPE_BF16 => scatter::<bf16>(values, bytes, t, bf16::from_f32),
        uapi::DTYPE_I8 => scatter::<i8>(values, bytes, t, |v| {
            mode.round(v).clamp(-128.0, 127.0) as i8
        }),
        uapi::DTYPE_FP8_E4M3 => {
            scatter::<Fp8E4M3>(values, bytes, t, |v| Fp8E4M3::from_f32(v, mode))
        }
        _ => Err(CpuError::Unsupported("dtype")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Row-wise loads and stores agree with element-by-element ones ([`positions`]) for
    /// contiguous, permuted, broadcast (stride 0) and offset views.
    #[test]
    fn rows_agree_with_positions_for_any_strides() {
        let bytes: Vec<u8> = (0..64u32).flat_map(|v| (v as f32).to_le_bytes()).collect();
        let views = [
            describe(&[2, 3], 8, &[]),
            describe(&[3, 2], 0, &[1, 3]),
            describe(&[2, 4], 4, &[0, 1]),
            describe(&[2, 3, 2], 0, &[1, 0, 5]),
            describe(&[4], 12, &[0]),
            describe(&[2, 3], 4, &[1, 0]),
        ];
        for t in &views {
            let want: Vec<f32> = positions(t, 4).iter().map(|&p| p as f32).collect();
            assert_eq!(load_f32(&bytes, t, uapi::DTYPE_F32).unwrap(), want, "{t:?}");
            let raw = load_raw(&bytes, t, 4).unwrap();
            let raw: Vec<f32> = raw
                .chunks(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                .collect();
            assert_eq!(raw, want, "{t:?}");
            // Stores: element i of the values lands at positions[i] (the last write wins).
            let values: Vec<f32> = (0..numel(t)).map(|i| 100.0 + i as f32).collect();
            let mut expect = vec![0f32; 64];
            for (i, &p) in positions(t, 4).iter().enumerate() {
                expect[p] = values[i];
            }
            let mut out = vec![0u8; 256];
            store_f32(
                &values,
                &mut out,
                t,
                uapi::DTYPE_F32,
                &mut crate::round::Rounding::NearestEven,
            )
            .unwrap();
            let got: Vec<f32> = out
                .chunks(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                .collect();
            assert_eq!(got, expect, "{t:?}");
            let mut raw_out = vec![0u8; 256];
            let src: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            store_raw(&src, &mut raw_out, t, 4).unwrap();
            assert_eq!(raw_out, out, "{t:?}");
        }
        assert!(load_raw(&bytes, &describe(&[2, 40], 0, &[]), 4).is_err());
    }
}
