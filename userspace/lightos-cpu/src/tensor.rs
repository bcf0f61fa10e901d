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

/// The index (in elements from the buffer start) of each element, in row-major logical order.
pub fn positions(t: &uapi::Tensor, esize: usize) -> Vec<usize> {
    let (d, s) = (dims(t), strides(t));
    let base = t.offset as usize / esize;
    let mut out = Vec::with_capacity(numel(t));
    let mut idx = vec![0u64; d.len()];
    for _ in 0..numel(t) {
        out.push(
            base + idx
                .iter()
                .zip(&s)
                .map(|(&i, &st)| i as usize * st)
                .sum::<usize>(),
        );
        for k in (0..d.len()).rev() {
            idx[k] += 1;
            if idx[k] < d[k] {
                break;
            }
            idx[k] = 0;
        }
    }
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
    positions(t, esize)
        .into_iter()
        .map(|p| {
            data.get(p)
                .map(|&v| f(v))
                .ok_or(CpuError::Operand("tensor past its buffer"))
        })
        .collect()
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

/// The tensor's raw elements (any dtype) as bytes, in logical order.
pub fn load_raw(bytes: &[u8], t: &uapi::Tensor, esize: usize) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(numel(t) * esize);
    for p in positions(t, esize) {
        out.extend_from_slice(
            bytes
                .get(p * esize..(p + 1) * esize)
                .ok_or(CpuError::Operand("tensor past its buffer"))?,
        );
    }
    Ok(out)
}

/// Writes raw elements (logical order) into the tensor's positions.
pub fn store_raw(src: &[u8], bytes: &mut [u8], t: &uapi::Tensor, esize: usize) -> Result<()> {
    for (p, v) in positions(t, esize).into_iter().zip(src.chunks_exact(esize)) {
        bytes
            .get_mut(p * esize..(p + 1) * esize)
            .ok_or(CpuError::Operand("tensor past its buffer"))?
            .copy_from_slice(v);
    }
    Ok(())
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
    for (p, &v) in positions(t, esize).into_iter().zip(values) {
        *data
            .get_mut(p)
            .ok_or(CpuError::Operand("tensor past its buffer"))? = f(v);
    }
    Ok(())
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
