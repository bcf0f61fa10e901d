//! The GEMM: `C = A · B` with BLIS-style blocking (kc-deep panels of B packed once and shared,
//! mc-row blocks of A packed per task, an mr×nr register micro-kernel chosen per ISA at run time,
//! [`isa`]), run on a fixed pool; a matrix-vector path for one-row products.
//!
//! Double-buffered packing: while the pool computes with one packed panel of B, one of its
//! threads packs the next panel into the other buffer.
//!
//! Determinism: every element of C is the sum, in increasing order of k-panel, of micro-kernel
//! dot products that each run over k in increasing order. Which thread computes a tile never
//! changes how it is summed, so results are bit-identical for any thread count.

mod bf16;
mod driver;
mod gemv;
mod int8;
mod int8_vnni;
pub mod isa;
mod kernel;
pub(crate) mod pack;
mod prepacked;
mod small;

pub use int8::MAX_I8_DEPTH;
pub use isa::{Bf16Kernel, Int8Kernel, IsaLevel, KernelKind, Kernels};
pub use prepacked::PackedA;

use crate::cache::{Blocking, CacheSizes};
use crate::element::Element;
use crate::matrix::MatRef;
use crate::{CpuError, Result};
use driver::Family;
use pack::Operand;
use std::sync::Arc;

/// The depth of an f32 panel. Where panels end decides where partial sums are rounded, so it is
/// one constant for every f32 kernel and every machine: the AVX-512F and AVX2+FMA kernels then give
/// the same bits. 512 (measured against 256, 384 and 768 on a 48 KiB-L1 AVX-512 machine): a 12×512
/// sliver of A stays in L1 while the 512×32 sliver of B streams from L2, and C is updated half as
/// often as with 256.
pub const F32_KC: usize = 512;

/// A GEMM engine: its thread pool, block sizes and micro-kernels.
#[derive(Clone, Debug)]
pub struct Gemm {
    pub(crate) pool: Arc<rayon::ThreadPool>,
    pub(crate) threads: usize,
    pub(crate) blocking: Blocking,
    kernels: Kernels,
}

impl Gemm {
    /// An engine with `threads` workers (0 = one per CPU), blocking from this machine's caches and
    /// the best micro-kernels it supports, capped by `LIGHTOS_CPU_ISA` ([`Kernels::detect`]).
    pub fn new(threads: usize) -> Result<Gemm> {
        Self::with(
            threads,
            Blocking::for_caches(CacheSizes::detect()),
            Kernels::detect()?,
        )
    }

    /// An engine with explicit blocking and kernels; refuses kernels this CPU cannot run (the SIMD
    /// kernels rely on that check) and empty blocks. Blocks are rounded up to each kernel's tile.
    pub fn with(threads: usize, blocking: Blocking, kernels: Kernels) -> Result<Gemm> {
        kernels.level.available().map_err(CpuError::Unsupported)?;
        if !kernels.runnable() {
            return Err(CpuError::Unsupported(
                "kernels that this CPU or their level does not allow",
            ));
        }
        if blocking.kc == 0 || blocking.mc == 0 || blocking.nc == 0 {
            return Err(CpuError::Shape("blocks must be non-zero"));
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("lightos-cpu-{i}"))
            .build()
            .map_err(|e| CpuError::Pool(e.to_string()))?;
        let threads = pool.current_num_threads();
        Ok(Gemm {
            pool: Arc::new(pool),
            threads,
            blocking,
            kernels,
        })
    }

    /// Worker threads.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Block sizes.
    pub fn blocking(&self) -> Blocking {
        self.blocking
    }

    /// The f32 micro-kernel in use.
    pub fn kernel(&self) -> KernelKind {
        self.kernels.f32
    }

    /// Every micro-kernel in use, and the ISA level they were chosen under.
    pub fn kernels(&self) -> Kernels {
        self.kernels
    }

    /// Runs `f` on this engine's pool (so nested parallel work uses its threads).
    pub fn install<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        self.pool.install(f)
    }

    /// `C = A · B`: `C` is row-major `A.rows() × B.cols()` with row stride `ldc` in `c`. bf16 × bf16
    /// runs on the native bf16 kernel where the CPU has one ([`Gemm::run_widened`] never does);
    /// f32 with one row of A (batch-1 inference) on the matrix-vector path.
    pub fn run<A: Element, B: Element>(
        &self,
        a: MatRef<A>,
        b: MatRef<B>,
        c: &mut [f32],
        ldc: usize,
    ) -> Result<()> {
        if self.kernels.bf16 == Bf16Kernel::Avx512Bf16 {
            if let (Some(a), Some(b)) = (a.cast::<half::bf16>(), b.cast::<half::bf16>()) {
                let shape = check_shapes(a.rows(), a.cols(), b.rows(), b.cols(), c.len(), ldc)?;
                return bf16::run(self, shape, &a, &b, c, ldc);
            }
        }
        self.run_widened(a, b, c, ldc)
    }

    /// `C = A · B` with every input widened to f32 and the f32 kernels: bits that do not depend on
    /// the ISA level between AVX2 and AVX-512 (what deterministic primitives use for bf16).
    pub fn run_widened<A: Element, B: Element>(
        &self,
        a: MatRef<A>,
        b: MatRef<B>,
        c: &mut [f32],
        ldc: usize,
    ) -> Result<()> {
        let shape = check_shapes(a.rows(), a.cols(), b.rows(), b.cols(), c.len(), ldc)?;
        if let (1, Some(a), Some(b)) = (shape.0, a.cast::<f32>(), b.cast::<f32>()) {
            if gemv::fits(self, &a, &b) {
                gemv::run(self, shape, &a, &b, c);
                return Ok(());
            }
        }
        if let (Some(a), Some(b)) = (a.cast::<f32>(), b.cast::<f32>()) {
            if small::fits(self, shape, &a, &b) {
                small::run(self, shape, &a, &b, c, ldc);
                return Ok(());
            }
        }
        self.run_operands(shape, &a, &b, c, ldc);
        Ok(())
    }

    /// The f32 family on any operands whose shapes were checked.
    pub(crate) fn run_operands<OA: Operand, OB: Operand>(
        &self,
        shape: (usize, usize, usize),
        a: &OA,
        b: &OB,
        c: &mut [f32],
        ldc: usize,
    ) {
        let mr = self.kernels.f32.tile().0;
        let pack_a = |i0, mb, p0, kb, out: &mut [f32]| pack::pack_a(a, mr, (i0, mb), (p0, kb), out);
        self.run_f32(shape, pack_a, None, b, c, ldc);
    }

    /// The f32 family with A packed by `pack_a` (`(i0, mb, p0, kb, out)`, as `Family::pack_a`),
    /// or read where it lies when the whole of it is `ready`, packed ahead in that layout.
    pub(super) fn run_f32<PA, OB>(
        &self,
        shape: (usize, usize, usize),
        pack_a: PA,
        ready: Option<&[f32]>,
        b: &OB,
        c: &mut [f32],
        ldc: usize,
    ) where
        PA: Fn(usize, usize, usize, usize, &mut [f32]) + Sync,
        OB: Operand,
    {
        let kind = self.kernels.f32;
        let (mr, nr) = kind.tile();
        let family = Family {
            mr,
            nr,
            kstep: 1,
            b_extra: 0,
            kc: self.blocking.kc,
            pack_a,
            pack_b: |p0, kb, j0, nb, s, out: &mut [f32]| {
                pack::pack_b_sliver(b, nr, (p0, kb), (j0, nb), s, out)
            },
            kernel: |kb, ap: &[f32], bp: &[f32], tile: &mut [f32]| {
                kernel::run(kind, kb, ap, bp, tile)
            },
        };
        driver::run(self, shape, &family, ready, c, ldc);
    }
}

/// `(m, k, n)` of a product whose operands and output agree.
pub(crate) fn check_shapes(
    m: usize,
    k: usize,
    k2: usize,
    n: usize,
    c_len: usize,
    ldc: usize,
) -> Result<(usize, usize, usize)> {
    if k2 != k {
        return Err(CpuError::Shape("inner dimensions differ"));
    }
    if m > 0
        && n > 0
        && (ldc < n
            || (m - 1)
                .checked_mul(ldc)
                .and_then(|v| v.checked_add(n))
                .is_none_or(|end| end > c_len))
    {
        return Err(CpuError::Shape("output too small for the product"));
    }
    Ok((m, k, n))
}

#[cfg(test)]
mod tests;
