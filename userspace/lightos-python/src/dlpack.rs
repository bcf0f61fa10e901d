//! `lightos.from_dlpack(x, ctx=None)`: a LightOS tensor from anything that speaks DLPack. Memory
//! that already is a LightOS buffer (a NumPy view of one, a tensor) is shared, not copied; any
//! other host array is copied into a new buffer of `ctx` (a default context when None).

use crate::{
    context::Context,
    error::invalid,
    tensor::{ElemType, Memory, Tensor},
};
use dlpark::{ffi::DLDevice, python::from_dlpack as import};
use pyo3::prelude::*;

/// Imports `x` (an object with `__dlpack__`, or a DLPack capsule) as a tensor: the same memory
/// when it lies in a LightOS buffer and is C-contiguous, else a copy into a buffer of `ctx`.
#[pyfunction]
#[pyo3(signature = (x, ctx = None))]
pub(crate) fn from_dlpack<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    ctx: Option<Bound<'py, Context>>,
) -> PyResult<Bound<'py, PyAny>> {
    if x.is_instance_of::<Tensor>() {
        return Ok(x.clone());
    }
    let imported = import(x.as_borrowed(), None, None)?;
    let t = imported
        .validate()
        .map_err(|e| invalid(format!("not a valid DLPack tensor: {e}"), "export it again"))?;
    if t.device() != DLDevice::CPU {
        return Err(invalid(
            format!(
                "the tensor is on DLPack device {:?}, not the CPU",
                t.device()
            ),
            "copy it to host memory first (e.g. .cpu())",
        ));
    }
    let dtype = ElemType::from_dl(t.dtype()).ok_or_else(|| {
        invalid(
            format!("DLPack dtype {:?} has no LightOS type", t.dtype()),
            "use float32, float16, bfloat16, int8, uint8, int32 or int64",
        )
    })?;
    let shape: Vec<u64> = t.shape().iter().map(|&d| d.max(0) as u64).collect();
    let strides = t
        .strides_or_compact()
        .map_err(|e| invalid(format!("bad strides: {e}"), "export it again"))?
        .into_owned();
    let esize = dtype.size();
    let numel: usize = shape.iter().product::<u64>() as usize;
    let base = t.data_ptr() as usize + t.byte_offset() as usize;
    let compact = t.is_compact().unwrap_or(false);
    if compact {
        if let Some((mem, offset)) = Memory::containing(base, numel * esize) {
            let view = Tensor::new(mem, offset, shape, dtype)?;
            return Ok(Bound::new(py, view)?.into_any());
        }
    }
    let ctx = match ctx {
        Some(c) => c,
        None => Bound::new(py, Context::open_default(py)?)?,
    };
    let buffer = ctx.get().alloc(py, shape.clone(), dtype)?;
    let dst = buffer.as_super().get();
    // SAFETY: the buffer is new, so no job and no other view uses its pages yet; the source is
    // read through the DLPack tensor, which stays alive (`imported`) until this function returns.
    let out = unsafe { dst.mem.write() };
    let ndim = shape.len();
    let mut index = vec![0u64; ndim];
    for i in 0..numel {
        let src_elem: i64 = index
            .iter()
            .zip(&strides)
            .map(|(&k, &s)| k as i64 * s)
            .sum();
        let src = (base as isize + src_elem as isize * esize as isize) as *const u8;
        // SAFETY: `index` is within `shape`, so `src` is one of the DLPack tensor's elements;
        // `i * esize` is inside the new buffer, which holds `numel` elements.
        unsafe { std::ptr::copy_nonoverlapping(src, out.as_mut_ptr().add(i * esize), esize) };
        for d in (0..ndim).rev() {
            index[d] += 1;
            if index[d] < shape[d] {
                break;
            }
            index[d] = 0;
        }
    }
    drop(imported);
    Ok(buffer.into_any())
}
