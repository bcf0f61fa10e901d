//! Tensors whose memory is a kernel buffer mapped into this process: what the application writes
//! is what the device reads, with no copy in between.

use super::{AccelError, Result};
use crate::{uapi, Buffer, BufferFlags, Context, DType, MappedBuffer, Op, Placement};

/// A dense row-major tensor in its own kernel buffer.
#[derive(Debug)]
pub struct Tensor {
    buffer: Buffer,
    map: MappedBuffer,
    shape: Vec<u64>,
    dtype: DType,
}

impl Tensor {
    /// A zeroed tensor of `shape` (1 to 4 dims, none zero).
    pub(super) fn zeros(dev: &Context, shape: &[u64], dtype: DType) -> Result<Tensor> {
        let bad = |why: String| AccelError::Shape { op: Op::Copy, why };
        if shape.is_empty() || shape.len() > uapi::MAX_DIMS || shape.contains(&0) {
            return Err(bad(format!(
                "tensor shape {shape:?}: 1 to {} dims, none zero",
                uapi::MAX_DIMS
            )));
        }
        let bytes = shape
            .iter()
            .try_fold(dtype.size() as u64, |acc, &d| acc.checked_mul(d))
            .and_then(|b| usize::try_from(b).ok())
            .ok_or_else(|| bad(format!("tensor shape {shape:?} overflows")))?;
        let buffer = dev.create_buffer(bytes, BufferFlags::empty(), Placement::Any)?;
        let map = buffer.map()?;
        Ok(Tensor {
            buffer,
            map,
            shape: shape.to_vec(),
            dtype,
        })
    }

    /// Its shape.
    pub fn shape(&self) -> &[u64] {
        &self.shape
    }

    /// Its dtype.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Its element count.
    pub fn numel(&self) -> usize {
        self.shape.iter().product::<u64>() as usize
    }

    /// Its bytes (the kernel buffer, mapped).
    pub fn bytes(&self) -> &[u8] {
        &self.map[..self.numel() * self.dtype.size()]
    }

    /// Its bytes, writable. Do not write while a launched op uses the tensor.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        let n = self.numel() * self.dtype.size();
        &mut self.map[..n]
    }

    /// Writes f32 values (the tensor must be f32 and hold exactly as many).
    pub fn write_f32(&mut self, values: &[f32]) -> Result<()> {
        self.check_f32(values.len())?;
        for (c, v) in self.bytes_mut().chunks_exact_mut(4).zip(values) {
            c.copy_from_slice(&v.to_le_bytes());
        }
        Ok(())
    }

    /// Reads an f32 tensor's values.
    pub fn to_f32(&self) -> Result<Vec<f32>> {
        self.check_f32(self.numel())?;
        Ok(self
            .bytes()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }

    fn check_f32(&self, n: usize) -> Result<()> {
        if self.dtype != DType::F32 || n != self.numel() {
            return Err(AccelError::Shape {
                op: Op::Copy,
                why: format!(
                    "{n} f32 values for a {:?} tensor of {} elements",
                    self.dtype,
                    self.numel()
                ),
            });
        }
        Ok(())
    }

    /// The ABI descriptor of the whole tensor.
    pub(crate) fn descriptor(&self) -> uapi::Tensor {
        crate::primitive::tensor(&self.buffer, 0, &self.shape)
    }
}
