//! The f32 GEMM: `C = A · B` with BLIS-style blocking (kc-deep panels of B packed once and shared,
//! mc-row blocks of A packed per task, an MR×NR register micro-kernel), run on a fixed pool.
//!
//! Double-buffered packing: while the pool computes with one packed panel of B, one of its
//! threads packs the next panel into the other buffer.
//!
//! Determinism: every element of C is the sum, in increasing order of k-panel, of micro-kernel
//! dot products that each run over k in increasing order. Which thread computes a tile never
//! changes how it is summed, so results are bit-identical for any thread count.

mod driver;
mod int8;
mod kernel;
mod pack;
pub(crate) mod tile;

pub use kernel::KernelKind;

use crate::cache::{Blocking, CacheSizes};
use crate::element::Element;
use crate::matrix::MatRef;
use crate::{CpuError, Result};
use driver::Family;
use std::sync::Arc;

pub use tile::{MR, NR};

/// A GEMM engine: its thread pool, block sizes and micro-kernel.
#[derive(Clone, Debug)]
pub struct Gemm {
    pub(crate) pool: Arc<rayon::ThreadPool>,
    pub(crate) threads: usize,
    pub(crate) blocking: Blocking,
    kernel: KernelKind,
}

impl Gemm {
    /// An engine with `threads` workers (0 = one per CPU), blocking from this machine's caches and
    /// the best micro-kernel it supports.
    pub fn new(threads: usize) -> Result<Gemm> {
        Self::with(
            threads,
            Blocking::for_caches(CacheSizes::detect(), 4),
            KernelKind::detect(),
        )
    }

    /// An engine with explicit blocking and kernel; refuses a kernel this CPU cannot run (the
    /// SIMD kernels rely on that check) and blocks that are not multiples of the tile.
    pub fn with(threads: usize, blocking: Blocking, kernel: KernelKind) -> Result<Gemm> {
        if kernel == KernelKind::Avx2Fma && KernelKind::detect() != KernelKind::Avx2Fma {
            return Err(CpuError::Unsupported("this CPU lacks AVX2 and FMA"));
        }
        if blocking.kc == 0
            || blocking.mc == 0
            || !blocking.mc.is_multiple_of(MR)
            || blocking.nc == 0
            || !blocking.nc.is_multiple_of(NR)
        {
            return Err(CpuError::Shape(
                "blocks must be non-zero multiples of the MR×NR tile",
            ));
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
            kernel,
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

    /// The micro-kernel in use.
    pub fn kernel(&self) -> KernelKind {
        self.kernel
    }

    /// Runs `f` on this engine's pool (so nested parallel work uses its threads).
    pub fn install<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        self.pool.install(f)
    }

    /// `C = A · B`: `C` is row-major `A.rows() × B.cols()` with row stride `ldc` in `c`.
    pub fn run<A: Element, B: Element>(
        &self,
        a: MatRef<A>,
        b: MatRef<B>,
        c: &mut [f32],
        ldc: usize,
    ) -> Result<()> {
        let shape = check_shapes(a.rows(), a.cols(), b.rows(), b.cols(), c.len(), ldc)?;
        let kernel = self.kernel;
        let family = Family {
            kstep: 1,
            pack_a: |i0, mb, p0, kb, out: &mut [f32]| pack::pack_a(&a, i0, mb, p0, kb, out),
            pack_b: |p0, kb, j0, nb, s, out: &mut [f32]| {
                pack::pack_b_sliver(&b, p0, kb, j0, nb, s, out)
            },
            kernel: |kb, ap: &[f32], bp: &[f32], tile: &mut [f32; MR * NR]| {
                kernel::run(kernel, kb, ap, bp, tile)
            },
        };
        driver::run(self, shape, &family, c, ldc);
        Ok(())
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
