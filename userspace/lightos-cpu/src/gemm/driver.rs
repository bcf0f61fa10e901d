//! The blocked, multithreaded GEMM loop nest shared by every element family (f32, INT8, bf16,
//! implicit-GEMM convolution). A `Family` says how to pack A and B into the packed type `P`, its
//! register tile, and which micro-kernel turns two slivers into an mr×nr tile of accumulators `C`.

use super::Gemm;
use rayon::prelude::*;
use std::cell::RefCell;

/// Packing functions and micro-kernel of one element family.
pub(crate) struct Family<PA, PB, K> {
    /// Rows of the micro-kernel's tile.
    pub mr: usize,
    /// Columns of the micro-kernel's tile.
    pub nr: usize,
    /// Packed depth is a multiple of this (2 or 4 where the kernel consumes k in pairs or quads).
    pub kstep: usize,
    /// The deepest panel; the depth is split into equal panels no deeper than this. For the f32
    /// family it decides where partial sums are rounded, so it must not depend on the kernel.
    pub kc: usize,
    /// `(i0, mb, p0, kb, out)`: packs `A[i0.., p0..]` into `ceil(mb/mr)` slivers of `kp × mr`.
    pub pack_a: PA,
    /// `(p0, kb, j0, nb, sliver, out)`: packs one `kp × nr` sliver of `B[p0.., j0..]`, followed by
    /// `b_extra` values of its own (what the kernel needs per sliver, e.g. column sums).
    pub pack_b: PB,
    /// Values after each packed sliver of B.
    pub b_extra: usize,
    /// `(kp, a_sliver, b_sliver, tile)`; the tile holds `mr × nr` accumulators, row-major.
    pub kernel: K,
}

/// An accumulator type: adding a later panel's tile (i32 wraps, as the VNNI kernels' sums do).
pub(crate) trait Accum: Copy + Default + Send + Sync {
    /// `*self + v`.
    fn add(self, v: Self) -> Self;
}
impl Accum for f32 {
    fn add(self, v: f32) -> f32 {
        self + v
    }
}
impl Accum for i32 {
    fn add(self, v: i32) -> i32 {
        self.wrapping_add(v)
    }
}

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

/// Products with at most this many multiply-adds run on the calling thread: handing them to the
/// pool costs more than a second thread saves.
const INLINE_MACS: usize = 1 << 21;

/// `C = A · B` for a product whose shapes `check_shapes` accepted.
pub(crate) fn run<P, C, PA, PB, K>(
    g: &Gemm,
    (m, k, n): (usize, usize, usize),
    f: &Family<PA, PB, K>,
    c: &mut [C],
    ldc: usize,
) where
    P: bytemuck::Pod + Default + Send + Sync,
    C: Accum,
    PA: Fn(usize, usize, usize, usize, &mut [P]) + Sync,
    PB: Fn(usize, usize, usize, usize, usize, &mut [P]) + Sync,
    K: Fn(usize, &[P], &[P], &mut [C]) + Sync,
{
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        (0..m).for_each(|i| c[i * ldc..i * ldc + n].fill(C::default()));
        return;
    }
    // Equal panels: k = 300 with kc = 256 runs two of 150, not 256 and 44.
    let kc = k.div_ceil(k.div_ceil(f.kc.max(1)));
    let nc = g.blocking.nc.div_ceil(f.nr) * f.nr;
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
    let out = OutPtr(c.as_mut_ptr());
    let inline = g.threads == 1 || m * n * k <= INLINE_MACS;
    // One block of A, and (when threads share the work) enough slivers of B to split among them.
    if m <= g.blocking.mc && (inline || n.div_ceil(f.nr) >= 8 * g.threads) {
        return run_a_stationary(g, m, f, &steps, kp_max, out, ldc, !inline);
    }
    let panel = (kp_max * f.nr + f.b_extra) * n.min(nc).div_ceil(f.nr);
    with_scratch(&B_SCRATCH, 2 * panel, |bufs: &mut [P]| {
        let (first, second) = bufs.split_at_mut(panel);
        if inline {
            for &step in &steps {
                pack_b(f, step, first, false);
                compute_step(g, m, f, step, first, out, ldc, false);
            }
            return;
        }
        // Double-buffered: one thread packs the next panel of B while the others compute.
        g.pool.install(|| {
            pack_b(f, steps[0], first, true);
            for (i, &step) in steps.iter().enumerate() {
                let (cur, next) = if i % 2 == 0 {
                    (&*first, &mut *second)
                } else {
                    (&*second, &mut *first)
                };
                rayon::join(
                    || compute_step(g, m, f, step, cur, out, ldc, true),
                    || {
                        if let Some(&s) = steps.get(i + 1) {
                            pack_b(f, s, next, true);
                        }
                    },
                );
            }
        });
    });
}

/// A whose rows fit one block: A is packed once per panel and stays in L2, and each task packs one
/// sliver of B at a time right before the kernel uses it with every sliver of A, so that sliver is
/// still in L1. Better than packing whole panels of B ahead when there are few rows to reuse each
/// sliver on (a convolution with few output channels, a wide product of few rows). Tasks are
/// slivers of B, so the threads share the work whatever m is. The tiles and their sums are those
/// of the panel path: the same bits.
#[allow(clippy::too_many_arguments)]
fn run_a_stationary<P, C, PA, PB, K>(
    g: &Gemm,
    m: usize,
    f: &Family<PA, PB, K>,
    steps: &[Step],
    kp_max: usize,
    out: OutPtr<C>,
    ldc: usize,
    parallel: bool,
) where
    P: bytemuck::Pod + Default + Send + Sync,
    C: Accum,
    PA: Fn(usize, usize, usize, usize, &mut [P]) + Sync,
    PB: Fn(usize, usize, usize, usize, usize, &mut [P]) + Sync,
    K: Fn(usize, &[P], &[P], &mut [C]) + Sync,
{
    let (mr, nr) = (f.mr, f.nr);
    let rows = m.div_ceil(mr) * mr;
    with_scratch(&B_SCRATCH, rows * kp_max, |apack: &mut [P]| {
        for &s in steps {
            let kp = kp(f, s.kb);
            (f.pack_a)(0, m, s.pc, s.kb, apack);
            let apack = &*apack;
            let sliver = kp * nr + f.b_extra;
            let task = |js: usize| {
                with_scratch(&A_SCRATCH, sliver, |bs: &mut [P]| {
                    (f.pack_b)(s.pc, s.kb, s.jc, s.nb, js, bs);
                    let mut tile = [C::default(); MAX_TILE];
                    let tile = &mut tile[..mr * nr];
                    let cols = (s.nb - js * nr).min(nr);
                    for is in 0..m.div_ceil(mr) {
                        (f.kernel)(kp, &apack[is * kp * mr..(is + 1) * kp * mr], bs, tile);
                        let rows = (m - is * mr).min(mr);
                        write_tile(
                            out,
                            ldc,
                            (is * mr, s.jc + js * nr),
                            (rows, cols),
                            tile,
                            nr,
                            s.pc > 0,
                        );
                    }
                })
            };
            let slivers = s.nb.div_ceil(nr);
            if parallel {
                g.pool
                    .install(|| (0..slivers).into_par_iter().for_each(task));
            } else {
                (0..slivers).for_each(task);
            }
        }
    });
}

/// Writes (or, for a later panel, adds) the top-left `rows × cols` of `tile` (row stride `nr`) into
/// C at `(row, col)`.
fn write_tile<C: Accum>(
    out: OutPtr<C>,
    ldc: usize,
    (row, col): (usize, usize),
    (rows, cols): (usize, usize),
    tile: &[C],
    nr: usize,
    accumulate: bool,
) {
    for r in 0..rows {
        // SAFETY: callers pass rows and columns inside the `(m-1)*ldc + n` elements
        // `check_shapes` verified; no other task writes this tile, and panels (steps) run one after
        // another.
        let dst =
            unsafe { std::slice::from_raw_parts_mut(out.get().add((row + r) * ldc + col), cols) };
        let src = &tile[r * nr..r * nr + cols];
        if accumulate {
            dst.iter_mut().zip(src).for_each(|(d, &v)| *d = d.add(v));
        } else {
            dst.copy_from_slice(src);
        }
    }
}

thread_local! {
    /// Packed panels of B, kept between calls on the calling thread.
    static B_SCRATCH: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
    /// Packed blocks of A, kept between calls on each worker.
    pub(super) static A_SCRATCH: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on `len` elements of this thread's scratch `cell` (grown, never zeroed: packing
/// writes every element it later reads). A nested use of the same cell gets a fresh vector.
pub(super) fn with_scratch<P: bytemuck::Pod, R>(
    cell: &'static std::thread::LocalKey<RefCell<Vec<u64>>>,
    len: usize,
    f: impl FnOnce(&mut [P]) -> R,
) -> R {
    let words = (len * std::mem::size_of::<P>()).div_ceil(8);
    cell.with(|c| match c.try_borrow_mut() {
        Ok(mut v) => {
            if v.len() < words {
                v.resize(words, 0);
            }
            let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut v[..words]);
            f(bytemuck::cast_slice_mut(
                &mut bytes[..len * std::mem::size_of::<P>()],
            ))
        }
        Err(_) => f(&mut vec![P::zeroed(); len]),
    })
}

fn kp<PA, PB, K>(f: &Family<PA, PB, K>, kb: usize) -> usize {
    kb.div_ceil(f.kstep) * f.kstep
}

/// Packs step `s`'s panel of B, one sliver per task.
fn pack_b<P, PA, PB, K>(f: &Family<PA, PB, K>, s: Step, buf: &mut [P], parallel: bool)
where
    P: Send,
    PB: Fn(usize, usize, usize, usize, usize, &mut [P]) + Sync,
    PA: Sync,
    K: Sync,
{
    let kp = kp(f, s.kb);
    let slivers = s.nb.div_ceil(f.nr);
    let sliver = kp * f.nr + f.b_extra;
    let chunks = buf[..slivers * sliver].par_chunks_mut(sliver);
    let pack = |(i, out): (usize, &mut [P])| (f.pack_b)(s.pc, s.kb, s.jc, s.nb, i, out);
    if parallel {
        chunks.enumerate().for_each(pack);
    } else {
        buf[..slivers * sliver]
            .chunks_mut(sliver)
            .enumerate()
            .for_each(pack);
    }
}

/// Computes one step's contribution: tasks over (mc-block of A, group of B slivers).
#[allow(clippy::too_many_arguments)]
fn compute_step<P, C, PA, PB, K>(
    g: &Gemm,
    m: usize,
    f: &Family<PA, PB, K>,
    s: Step,
    bpack: &[P],
    out: OutPtr<C>,
    ldc: usize,
    parallel: bool,
) where
    P: bytemuck::Pod + Default + Send + Sync,
    C: Accum,
    PA: Fn(usize, usize, usize, usize, &mut [P]) + Sync,
    PB: Sync,
    K: Fn(usize, &[P], &[P], &mut [C]) + Sync,
{
    let (mr, nr) = (f.mr, f.nr);
    let kp = kp(f, s.kb);
    let threads = if parallel { g.threads } else { 1 };
    // Blocks of equal size: m = 512 with mc = 504 runs two of 256, not 504 and 8 (a block of 8
    // rows would stream every sliver of B again for a few rows).
    let cap = g.blocking.mc.min(m.div_ceil(threads)).max(1);
    let mc = m.div_ceil(m.div_ceil(cap)).div_ceil(mr) * mr;
    let mblocks = m.div_ceil(mc);
    let slivers = s.nb.div_ceil(nr);
    // Enough tasks for every thread when A has fewer row blocks than there are threads; each
    // group packs its block of A again, so no more groups than that.
    let groups = threads.div_ceil(mblocks).clamp(1, slivers);
    let per_group = slivers.div_ceil(groups);
    let task = |t: usize| {
        with_scratch(&A_SCRATCH, mc * kp, |apack: &mut [P]| {
            let mut tile = [C::default(); MAX_TILE];
            let tile = &mut tile[..mr * nr];
            let (ib, grp) = (t / groups, t % groups);
            let (i0, mb) = (ib * mc, (m - ib * mc).min(mc));
            (f.pack_a)(i0, mb, s.pc, s.kb, apack);
            for js in grp * per_group..((grp + 1) * per_group).min(slivers) {
                let sliver = kp * nr + f.b_extra;
                let bs = &bpack[js * sliver..(js + 1) * sliver];
                let cols = (s.nb - js * nr).min(nr);
                for is in 0..mb.div_ceil(mr) {
                    (f.kernel)(kp, &apack[is * kp * mr..(is + 1) * kp * mr], bs, tile);
                    let rows = (mb - is * mr).min(mr);
                    write_tile(
                        out,
                        ldc,
                        (i0 + is * mr, s.jc + js * nr),
                        (rows, cols),
                        tile,
                        nr,
                        s.pc > 0,
                    );
                }
            }
        })
    };
    if parallel {
        (0..mblocks * groups).into_par_iter().for_each(task);
    } else {
        (0..mblocks * groups).for_each(task);
    }
}

/// The largest register tile of any kernel (12×32).
const MAX_TILE: usize = 12 * 32;
