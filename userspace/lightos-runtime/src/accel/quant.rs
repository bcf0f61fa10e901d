//! Quantized MATMUL through the device API (ABI 1.7): i8 or FP8-E4M3 operands with their scales and
//! zero points, dequantized by the backend into a float output.
//!
//! ```no_run
//! # fn main() -> Result<(), lightos_runtime::accel::AccelError> {
//! use lightos_runtime::{accel::{Accelerator, BQuant, Quant}, DType};
//! let acc = Accelerator::open()?;
//! let a = acc.zeros(&[64, 128], DType::I8)?; // filled with quantized activations
//! let b = acc.zeros(&[128, 32], DType::I8)?; // quantized weights
//! let scales = acc.tensor_from_f32(&[32], &[0.01; 32])?; // one per output column
//! let out = acc.zeros(&[64, 32], DType::F32)?;
//! let qa = Quant { scale: 0.05, zero_point: 3 };
//! acc.matmul_quantized(&a, qa, &b, BQuant::PerColumn { scales: &scales, zero_point: 0 }, &out)?.wait()?;
//! # Ok(()) }
//! ```

use super::{launch::check, AccelError, Accelerator, Event, Result, Tensor};
use crate::{DType, Op, PrimitiveBuilder};

/// How a quantized operand maps to real values: `real = scale · (q − zero_point)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quant {
    /// Positive and finite.
    pub scale: f32,
    /// In i8's range for i8 operands; 0 for FP8 (it has none).
    pub zero_point: i32,
}

/// How B (`[K, N]`) is quantized.
#[derive(Clone, Copy, Debug)]
pub enum BQuant<'t> {
    /// One scale and zero point for the whole matrix.
    PerTensor(Quant),
    /// One scale per output column (an f32 tensor of `[N]`) and one zero point.
    PerColumn {
        /// The scales.
        scales: &'t Tensor,
        /// The zero point of every column.
        zero_point: i32,
    },
}

/// One `params` word: the scale's bits low, the zero point high.
fn word(scale: f32, zero_point: i32) -> u64 {
    u64::from(scale.to_bits()) | (u64::from(zero_point as u32) << 32)
}

impl Accelerator {
    /// `out = (sa·(a − za)) · (sb·(b − zb))` for i8 or FP8 `a` and `b` and a float `out`: the backend
    /// multiplies the quantized values exactly and applies the scales and zero points after.
    pub fn matmul_quantized(
        &self,
        a: &Tensor,
        qa: Quant,
        b: &Tensor,
        qb: BQuant<'_>,
        out: &Tensor,
    ) -> Result<Event<'_>> {
        let op = Op::Matmul;
        let bad = |why: String| Err(AccelError::Shape { op, why });
        check(
            op,
            &[(a.shape(), a.dtype()), (b.shape(), b.dtype())],
            (out.shape(), out.dtype()),
        )?;
        let dtype = a.dtype();
        if !matches!(dtype, DType::I8 | DType::Fp8E4m3) || out.dtype() == dtype {
            return bad(format!(
                "quantized MATMUL takes i8 or fp8 inputs and a float output, not {dtype:?} → {:?}",
                out.dtype()
            ));
        }
        let zero_ok = |z: i32| {
            if dtype == DType::I8 {
                (-128..=127).contains(&z)
            } else {
                z == 0
            }
        };
        let scale_ok = |s: f32| s.is_finite() && s > 0.0;
        let (b_scale, zb, scales) = match qb {
            BQuant::PerTensor(q) => (Some(q.scale), q.zero_point, None),
            BQuant::PerColumn { scales, zero_point } => (None, zero_point, Some(scales)),
        };
        if !scale_ok(qa.scale) || b_scale.is_some_and(|s| !scale_ok(s)) {
            return bad("scales must be finite and positive".into());
        }
        if !zero_ok(qa.zero_point) || !zero_ok(zb) {
            return bad(format!(
                "zero points {} and {zb} are out of range for {dtype:?}",
                qa.zero_point
            ));
        }
        let n = b.shape()[b.shape().len() - 1];
        if let Some(s) = scales {
            if s.dtype() != DType::F32 || s.shape() != [n] {
                return bad(format!(
                    "per-column scales must be f32 [{n}], not {:?} {:?}",
                    s.dtype(),
                    s.shape()
                ));
            }
        }
        let prim = PrimitiveBuilder::new(op, dtype)
            .out_dtype(out.dtype())
            .param(0, word(qa.scale, qa.zero_point))
            .param(1, word(b_scale.unwrap_or(0.0), zb));
        let mut inputs = vec![a.descriptor(), b.descriptor()];
        if let Some(s) = scales {
            inputs.push(s.descriptor());
        }
        self.submit_one(op, prim.output_descriptor(inputs, out.descriptor()))
    }
}
