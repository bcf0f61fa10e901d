//! Small f32 products without packing: when one k-panel covers the depth and the product is small,
//! packing costs as much as it saves, so full tiles run on A, B and C in place
//! ([`kernel::run_in_place`]) and only edge tiles are packed (zero-padded slivers). Same
//! multiply-adds in the same order as the packed path, so the same bits.

use super::driver::{with_scratch, TASK_SCRATCH};
use super::{kernel, pack, Gemm, KernelKind};
use crate::matrix::MatRef;

/// Products of at most this many multiply-adds (128³) take this path.
const SMALL_MACS: usize = 1 << 21;

/// Whether `(m, k, n)` runs here: a SIMD kernel, rows of A and B contiguous and not overlapping,
/// one panel deep.
pub(super) fn fits(
    g: &Gemm,
    (m, k, n): (usize, usize, usize),
    a: &MatRef<f32>,
    b: &MatRef<f32>,
) -> bool {
    g.kernels.f32 != KernelKind::Portable
        && a.col_stride() == 1
        && b.col_stride() == 1
        && a.row_stride() >= k
        && b.row_stride() >= n
        && (1..=g.blocking.kc).contains(&k)
        && m * n * k <= SMALL_MACS
}

/// `C = A · B` for a product `fits` accepted, on the calling thread.
pub(super) fn run(
    g: &Gemm,
    (m, k, n): (usize, usize, usize),
    a: &MatRef<f32>,
    b: &MatRef<f32>,
    c: &mut [f32],
    ldc: usize,
) {
    let kind = g.kernels.f32;
    let (mr, nr) = kind.tile();
    let (lda, ldb) = (a.row_stride(), b.row_stride());
    with_scratch(
        &TASK_SCRATCH,
        k * (mr + nr) + mr * nr,
        |buf: &mut [f32]| {
            let (apack, rest) = buf.split_at_mut(k * mr);
            let (bpack, tile) = rest.split_at_mut(k * nr);
            for i0 in (0..m).step_by(mr) {
                let rows = (m - i0).min(mr);
                if rows < mr {
                    pack::pack_a(a, mr, (i0, rows), (0, k), apack);
                }
                for j0 in (0..n).step_by(nr) {
                    let cols = (n - j0).min(nr);
                    if rows == mr && cols == nr {
                        kernel::run_in_place(
                            kind,
                            k,
                            (a.tail(i0, 0), lda),
                            (b.tail(0, j0), ldb),
                            (&mut c[i0 * ldc + j0..], ldc),
                        );
                        continue;
                    }
                    if rows == mr {
                        pack::pack_a(a, mr, (i0, rows), (0, k), apack);
                    }
                    pack::pack_b_sliver(b, nr, (0, k), (j0, cols), 0, bpack);
                    kernel::run(kind, k, apack, bpack, tile);
                    for r in 0..rows {
                        let dst = &mut c[(i0 + r) * ldc + j0..(i0 + r) * ldc + j0 + cols];
                        dst.copy_from_slice(&tile[r * nr..r * nr + cols]);
                    }
                }
            }
        },
    );
}
