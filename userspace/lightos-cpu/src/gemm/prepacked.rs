//! An f32 A operand packed once and reused by many products (a layer's weights: onnxruntime's
//! MLAS packs a convolution's filter the same way when a session is created). Packing A costs one
//! pass over it per product, which is as much as the arithmetic when B has few columns (a late
//! ResNet layer's 7×7 output); a packed A turns that pass into a copy of contiguous slivers.

use super::pack::{self, Operand};
use super::{check_shapes, Gemm, KernelKind};
use crate::element::Element;
use crate::matrix::MatRef;
use crate::{CpuError, Result};

/// `A` (m × k) in the layout the f32 family's packing produces for one engine's kernel and panel
/// depth: panel after panel (the depth split into equal panels), each `ceil(m/mr)` slivers of
/// `kb × mr`.
#[derive(Clone, Debug)]
pub struct PackedA {
    m: usize,
    k: usize,
    kernel: KernelKind,
    kc: usize,
    data: Vec<f32>,
}

impl PackedA {
    /// Rows.
    pub fn rows(&self) -> usize {
        self.m
    }

    /// Columns (the product's depth).
    pub fn cols(&self) -> usize {
        self.k
    }

    /// Copies rows `i0 .. i0 + mb` (`i0` a multiple of mr) of the panel at depth `p0` (`kb` deep).
    fn copy_block(&self, i0: usize, mb: usize, p0: usize, kb: usize, out: &mut [f32]) {
        let mr = self.kernel.tile().0;
        let rows = self.m.div_ceil(mr) * mr;
        let base = rows * p0 + (i0 / mr) * kb * mr;
        let len = mb.div_ceil(mr) * kb * mr;
        out[..len].copy_from_slice(&self.data[base..base + len]);
    }
}

impl Gemm {
    /// Packs `a` for this engine's f32 kernel and panel depth, to be multiplied by many B's with
    /// [`Gemm::run_packed`].
    pub fn pack_a<T: Element>(&self, a: MatRef<T>) -> PackedA {
        let (m, k) = (a.rows(), a.cols());
        let kernel = self.kernels().f32;
        let mr = kernel.tile().0;
        let kc = self.blocking.kc;
        let rows = m.div_ceil(mr) * mr;
        let mut data = vec![0f32; rows * k];
        if k > 0 {
            let depth = k.div_ceil(k.div_ceil(kc));
            for p0 in (0..k).step_by(depth) {
                let kb = (k - p0).min(depth);
                pack::pack_a(
                    &a,
                    mr,
                    (0, m),
                    (p0, kb),
                    &mut data[rows * p0..rows * (p0 + kb)],
                );
            }
        }
        PackedA {
            m,
            k,
            kernel,
            kc,
            data,
        }
    }

    /// `C = A · B` with A packed by [`Gemm::pack_a`] on an engine with the same kernel and panel
    /// depth (else `Unsupported`). The same bits as [`Gemm::run`] on the unpacked A, except for
    /// one-row products, which `run` computes on its one-row path.
    pub fn run_packed<B: Element>(
        &self,
        a: &PackedA,
        b: MatRef<B>,
        c: &mut [f32],
        ldc: usize,
    ) -> Result<()> {
        let shape = check_shapes(a.m, a.k, b.rows(), b.cols(), c.len(), ldc)?;
        self.run_packed_operand(a, shape, &b, c, ldc)
    }

    /// [`Gemm::run_packed`] on any B operand whose shapes were checked.
    pub(crate) fn run_packed_operand<OB: Operand>(
        &self,
        a: &PackedA,
        shape: (usize, usize, usize),
        b: &OB,
        c: &mut [f32],
        ldc: usize,
    ) -> Result<()> {
        if a.kernel != self.kernels().f32 || a.kc != self.blocking.kc {
            return Err(CpuError::Unsupported(
                "an A packed for another kernel or panel depth",
            ));
        }
        let pack_a = |i0, mb, p0, kb, out: &mut [f32]| a.copy_block(i0, mb, p0, kb, out);
        self.run_f32(shape, pack_a, Some(&a.data), b, c, ldc);
        Ok(())
    }
}
