//! Packing: copies a block of A into MR-row slivers and a panel of B into NR-column slivers,
//! k-major, converting each element to f32 on the way (so f16, bf16 and FP8 inputs share the f32
//! kernel). Rows or columns past the matrix edge are packed as zeros.

use super::{MR, NR};
use crate::element::Element;
use crate::matrix::MatRef;

/// Packs `A[i0..i0+mb, p0..p0+kb]` into `out` (`ceil(mb/MR)` slivers of `kb × MR`).
pub(crate) fn pack_a<T: Element>(
    a: &MatRef<T>,
    i0: usize,
    mb: usize,
    p0: usize,
    kb: usize,
    out: &mut [f32],
) {
    for (s, sliver) in out
        .chunks_exact_mut(kb * MR)
        .take(mb.div_ceil(MR))
        .enumerate()
    {
        let rows = (mb - s * MR).min(MR);
        for (p, dst) in sliver.chunks_exact_mut(MR).enumerate() {
            for (r, d) in dst.iter_mut().enumerate() {
                *d = if r < rows {
                    a.at(i0 + s * MR + r, p0 + p).to_f32()
                } else {
                    0.0
                };
            }
        }
    }
}

/// Packs sliver `s` of `B[p0..p0+kb, j0..j0+nb]` (columns `j0+s*NR ..`) into `out` (`kb × NR`).
pub(crate) fn pack_b_sliver<T: Element>(
    b: &MatRef<T>,
    p0: usize,
    kb: usize,
    j0: usize,
    nb: usize,
    s: usize,
    out: &mut [f32],
) {
    let cols = (nb - s * NR).min(NR);
    for (p, dst) in out.chunks_exact_mut(NR).take(kb).enumerate() {
        if cols == NR && b.col_stride() == 1 {
            let row = b.row_slice(p0 + p, j0 + s * NR, NR);
            for (d, v) in dst.iter_mut().zip(row) {
                *d = v.to_f32();
            }
            continue;
        }
        for (c, d) in dst.iter_mut().enumerate() {
            *d = if c < cols {
                b.at(p0 + p, j0 + s * NR + c).to_f32()
            } else {
                0.0
            };
        }
    }
}
