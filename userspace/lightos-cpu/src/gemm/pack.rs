//! Packing for the f32 family: copies a block of A into mr-row slivers and a panel of B into
//! nr-column slivers, k-major, converting each element to f32 on the way (so f16, bf16 and FP8
//! inputs share the f32 kernels). Rows or columns past the matrix edge are packed as zeros.

use crate::element::Element;
use crate::matrix::MatRef;

/// What packing reads: a matrix given element by element. A [`MatRef`] is one; an implicit
/// im2col matrix (convolution without the im2col buffer) is another.
pub(crate) trait Operand: Sync {
    /// The stored element.
    type Elem: Element;
    /// Element `(i, j)`.
    fn at(&self, i: usize, j: usize) -> Self::Elem;
    /// `len` consecutive elements of row `i` from column `j`, where storage keeps them contiguous.
    fn row(&self, _i: usize, _j: usize, _len: usize) -> Option<&[Self::Elem]> {
        None
    }
    /// Writes `out.len()` elements of row `i` from column `j`, as f32.
    fn fill_row(&self, i: usize, j: usize, out: &mut [f32]) {
        match self.row(i, j, out.len()) {
            Some(src) => out.iter_mut().zip(src).for_each(|(d, v)| *d = v.to_f32()),
            None => (out.iter_mut().enumerate()).for_each(|(c, d)| *d = self.at(i, j + c).to_f32()),
        }
    }
}

impl<T: Element> Operand for MatRef<'_, T> {
    type Elem = T;
    #[inline]
    fn at(&self, i: usize, j: usize) -> T {
        MatRef::at(self, i, j)
    }
    #[inline]
    fn row(&self, i: usize, j: usize, len: usize) -> Option<&[T]> {
        (self.col_stride() == 1).then(|| self.row_slice(i, j, len))
    }
}

/// Packs `A[i0..i0+mb, p0..p0+kb]` into `out` (`ceil(mb/mr)` slivers of `kb × mr`).
pub(crate) fn pack_a<O: Operand>(
    a: &O,
    mr: usize,
    (i0, mb): (usize, usize),
    (p0, kb): (usize, usize),
    out: &mut [f32],
) {
    for (s, sliver) in out
        .chunks_exact_mut(kb * mr)
        .take(mb.div_ceil(mr))
        .enumerate()
    {
        let rows = (mb - s * mr).min(mr);
        // Rows stored contiguously: read each along k, write it with stride mr.
        if let Some(first) = a.row(i0 + s * mr, p0, kb) {
            for r in 0..mr {
                let src = if r == 0 {
                    Some(first)
                } else if r < rows {
                    a.row(i0 + s * mr + r, p0, kb)
                } else {
                    None
                };
                match src {
                    Some(src) => sliver[r..]
                        .iter_mut()
                        .step_by(mr)
                        .zip(src)
                        .for_each(|(d, v)| *d = v.to_f32()),
                    None => sliver[r..].iter_mut().step_by(mr).for_each(|d| *d = 0.0),
                }
            }
            continue;
        }
        for (p, dst) in sliver.chunks_exact_mut(mr).enumerate() {
            for (r, d) in dst.iter_mut().enumerate() {
                *d = if r < rows {
                    a.at(i0 + s * mr + r, p0 + p).to_f32()
                } else {
                    0.0
                };
            }
        }
    }
}

/// Packs sliver `s` of `B[p0..p0+kb, j0..j0+nb]` (columns `j0+s*nr ..`) into `out` (`kb × nr`).
pub(crate) fn pack_b_sliver<O: Operand>(
    b: &O,
    nr: usize,
    (p0, kb): (usize, usize),
    (j0, nb): (usize, usize),
    s: usize,
    out: &mut [f32],
) {
    let cols = (nb - s * nr).min(nr);
    for (p, dst) in out.chunks_exact_mut(nr).take(kb).enumerate() {
        b.fill_row(p0 + p, j0 + s * nr, &mut dst[..cols]);
        dst[cols..].fill(0.0);
    }
}

/// Packs `A[i0..i0+mb, p0..p0+kb]` for kernels that consume `g` depths at once (INT8 pairs and
/// quads, bf16 pairs): per group of depths, `[a(r, g·q) … a(r, g·q+g−1)]` for each of the `mr` rows,
/// each element converted by `conv`; rows and depths past the edge are zero (`P::default()`).
pub(crate) fn pack_a_grouped<T: Copy, P: Copy + Default>(
    a: &MatRef<T>,
    (mr, g): (usize, usize),
    (i0, mb): (usize, usize),
    (p0, kb): (usize, usize),
    out: &mut [P],
    conv: impl Fn(T) -> P,
) {
    let kp = kb.div_ceil(g) * g;
    for (s, sliver) in out
        .chunks_exact_mut(kp * mr)
        .take(mb.div_ceil(mr))
        .enumerate()
    {
        let rows = (mb - s * mr).min(mr);
        for (q, group) in sliver.chunks_exact_mut(g * mr).enumerate() {
            for r in 0..mr {
                for d in 0..g {
                    let kk = g * q + d;
                    group[g * r + d] = if r < rows && kk < kb {
                        conv(a.at(i0 + s * mr + r, p0 + kk))
                    } else {
                        P::default()
                    };
                }
            }
        }
    }
}

/// Packs sliver `s` of `B[p0..p0+kb, j0..j0+nb]` the same way: per group of `g` depths,
/// `[b(g·q, c) … b(g·q+g−1, c)]` for each of the `nr` columns, zero past the edge.
pub(crate) fn pack_b_grouped<T: Copy, P: Copy + Default>(
    b: &MatRef<T>,
    (nr, g): (usize, usize),
    (p0, kb): (usize, usize),
    (j0, nb): (usize, usize),
    s: usize,
    out: &mut [P],
    conv: impl Fn(T) -> P,
) {
    let cols = (nb - s * nr).min(nr);
    for (q, group) in out
        .chunks_exact_mut(g * nr)
        .take(kb.div_ceil(g))
        .enumerate()
    {
        for c in 0..nr {
            for d in 0..g {
                let kk = g * q + d;
                group[g * c + d] = if c < cols && kk < kb {
                    conv(b.at(p0 + kk, j0 + s * nr + c))
                } else {
                    P::default()
                };
            }
        }
    }
}
