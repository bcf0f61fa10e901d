//! The blocked, multithreaded GEMM loop nest shared by the f32 and the INT8 paths. A `Family`
//! says how to pack A and B into the packed type `P` and which micro-kernel turns two slivers into
//! an MR×NR tile of accumulators `C`.

use super::{Gemm, MR, NR};
use rayon::prelude::*;
use std::ops::AddAssign;

/// Packing functions and micro-kernel of one element family.
pub(crate) struct Family<PA, PB, K> {
    /// Packed depth is a multiple of this (2 where the kernel consumes k in pairs).
    pub kstep: usize,
    /// `(i0, mb, p0, kb, out)`: packs `A[i0.., p0..]` into `ceil(mb/MR)` slivers of `kp × MR`.
    pub pack_a: PA,
    /// `(p0, kb, j0, nb, sliver, out)`: packs one `kp × NR` sliver of `B[p0.., j0..]`.
    pub pack_b: PB,
    /// `(kp, a_sliver, b_sliver, tile)`.
    pub kernel: K,
}

/// An accumulator type.
pub(crate) trait Accum: Copy + Default + Send + Sync + AddAssign {}
impl Accum for f32 {}
impl Accum for i32 {}

/// One (column panel, depth panel) step of the outer loops.
#[derive(Clone, Copy, Debug)]
struct Step {
    jc: usize,
    nb: usize,
    pc: usize,
    kb: usize,
}

/// The output pointer shared by tasks that write disjoint tiles.
#[derive(Clone, Copy)]
struct OutPtr<C>(*mut C);
// SAFETY: tasks write disjoint elements through it (see `compute_step`), and the pool is joined
// before the borrow it came from ends.
unsafe impl<C: Send> Send for OutPtr<C> {}
// SAFETY: as above.
unsafe impl<C: Send> Sync for OutPtr<C> {}

impl<C> OutPtr<C> {
    /// The pointer (a method, so closures capture the `Sync` wrapper, not the raw field).
    fn get(self) -> *mut C {
        self.0
    }
}

/// `C = A · B` for a product whose shapes `check_shapes` accepted.
pub(crate) fn run<P, C, PA, PB, K>(
    g: &Gemm,
    (m, k, n): (usize, usize, usize),
    f: &Family<PA, PB, K>,
    c: &mut [C],
    ldc: usize,
) where
    P: Copy + Default + Send + Sync,
    C: Accum,
    PA: Fn(usize, usize, usize, usize, &mut [P]) + Sync,
    PB: Fn(usize, usize, usize, usize, usize, &mut [P]) + Sync,
    K: Fn(usize, &[P], &[P], &mut [C; MR * NR]) + Sync,
{
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        (0..m).for_each(|i| c[i * ldc..i * ldc + n].fill(C::default()));
        return;
    }
    let (kc, nc) = (g.blocking.kc, g.blocking.nc);
    let mut steps = Vec::new();
    for jc in (0..n).step_by(nc) {
        for pc in (0..k).step_by(kc) {
            steps.push(Step {
                jc,
                nb: (n - jc).min(nc),
                pc,
                kb: (k - pc).min(kc),
            });
        }
    }
    let kp_max = kc.div_ceil(f.kstep) * f.kstep;
    let panel = kp_max * n.min(nc).div_ceil(NR) * NR;
    let mut bufs = [vec![P::default(); panel], vec![P::default(); panel]];
    let out = OutPtr(c.as_mut_ptr());
    g.pool.install(|| {
        pack_b(f, steps[0], &mut bufs[0]);
        for (i, &step) in steps.iter().enumerate() {
            let (first, second) = bufs.split_at_mut(1);
            let (cur, next) = if i % 2 == 0 {
                (&first[0], &mut second[0])
            } else {
                (&second[0], &mut first[0])
            };
            rayon::join(
                || compute_step(g, m, f, step, cur, out, ldc),
                || {
                    if let Some(&s) = steps.get(i + 1) {
                        pack_b(f, s, next);
                    }
                },
            );
        }
    });
}

fn kp<PA, PB, K>(f: &Family<PA, PB, K>, kb: usize) -> usize {
    kb.div_ceil(f.kstep) * f.kstep
}

/// Packs step `s`'s panel of B, one sliver per task.
fn pack_b<P, PA, PB, K>(f: &Family<PA, PB, K>, s: Step, buf: &mut [P])
where
    P: Send,
    PB: Fn(usize, usize, usize, usize, usize, &mut [P]) + Sync,
    PA: Sync,
    K: Sync,
{
    let kp = kp(f, s.kb);
    let slivers = s.nb.div_ceil(NR);
    buf[..slivers * kp * NR]
        .par_chunks_mut(kp * NR)
        .enumerate()
        .for_each(|(i, out)| (f.pack_b)(s.pc, s.kb, s.jc, s.nb, i, out));
}

/// Computes one step's contribution: tasks over (mc-block of A, group of B slivers).
fn compute_step<P, C, PA, PB, K>(
    g: &Gemm,
    m: usize,
    f: &Family<PA, PB, K>,
    s: Step,
    bpack: &[P],
    out: OutPtr<C>,
    ldc: usize,
) where
    P: Copy + Default + Send + Sync,
    C: Accum,
    PA: Fn(usize, usize, usize, usize, &mut [P]) + Sync,
    PB: Sync,
    K: Fn(usize, &[P], &[P], &mut [C; MR * NR]) + Sync,
{
    let kp = kp(f, s.kb);
    let mc = g
        .blocking
        .mc
        .min(m.div_ceil(g.threads).div_ceil(MR) * MR)
        .max(MR);
    let mblocks = m.div_ceil(mc);
    let slivers = s.nb.div_ceil(NR);
    // Enough tasks for every thread (twice over, for balance) when A has few row blocks.
    let groups = (2 * g.threads).div_ceil(mblocks).clamp(1, slivers);
    let per_group = slivers.div_ceil(groups);
    (0..mblocks * groups).into_par_iter().for_each_init(
        || vec![P::default(); mc * kp],
        |apack, t| {
            let (ib, grp) = (t / groups, t % groups);
            let (i0, mb) = (ib * mc, (m - ib * mc).min(mc));
            (f.pack_a)(i0, mb, s.pc, s.kb, apack);
            let mut tile = [C::default(); MR * NR];
            for js in grp * per_group..((grp + 1) * per_group).min(slivers) {
                let bs = &bpack[js * kp * NR..(js + 1) * kp * NR];
                let cols = (s.nb - js * NR).min(NR);
                for is in 0..mb.div_ceil(MR) {
                    (f.kernel)(kp, &apack[is * kp * MR..(is + 1) * kp * MR], bs, &mut tile);
                    for r in 0..(mb - is * MR).min(MR) {
                        let (row, col) = (i0 + is * MR + r, s.jc + js * NR);
                        // SAFETY: row < m and col + cols <= n, inside the `(m-1)*ldc + n` elements
                        // `check_shapes` verified; no other task writes this (row block, sliver
                        // group) and steps run one after another.
                        let dst = unsafe {
                            std::slice::from_raw_parts_mut(out.get().add(row * ldc + col), cols)
                        };
                        let src = &tile[r * NR..r * NR + cols];
                        if s.pc == 0 {
                            dst.copy_from_slice(src);
                        } else {
                            dst.iter_mut().zip(src).for_each(|(d, &v)| *d += v);
                        }
                    }
                }
            }
        },
    );
}
