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

/// The most elements of A the A-stationary path packs at once.
const A_WHOLE_MAX: usize = 16 << 20;

/// `C = A · B` for a product whose shapes `check_shapes` accepted. Where `ready` is given, the
/// whole of A is already packed in the layout `f.pack_a` gives it (depth panels of `f.kc` split
/// equally, one after another, each `ceil(m/mr)` slivers of `kb × mr`; families whose `kstep` is
/// 1): its slivers are read where they lie instead of being packed per call. A `ready` too short
/// for the product is not used.
pub(crate) fn run<P, C, PA, PB, K>(
    g: &Gemm,
    (m, k, n): (usize, usize, usize),
    f: &Family<PA, PB, K>,
    ready: Option<&[P]>,
    c: &mut [C],
    ldc: usize,
) where
    P: bytemuck::Pod + Default + Send + Sync,
    C: Accum,
    PA: Fn(usize, usize, usize, usize, &mut [P]) + Sync,
    PB: Fn(usize, usize, usize, usize, usize, &mut [P]) + Sync,
    K: Fn(usize, &[P], &[P], &mut [C]) + Sync,
{
    let ready = ready.filter(|a| f.kstep == 1 && a.len() >= m.div_ceil(f.mr) * f.mr * k);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        (0..m).for_each(|i| c[i * ldc..i * ldc + n].fill(C::default()));
        return;
    }
    // Equal panels: k = 300 with kc = 256 runs two of 150, not 256 and 44.
    // Rounded up to the family's k step: INT8 and bf16 panels then need no zero padding but the last.
    let kc = k.div_ceil(k.div_ceil(f.kc.max(1))).div_ceil(f.kstep) * f.kstep;
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
    let inline = g.threads == 1 || m.saturating_mul(n).saturating_mul(k) <= INLINE_MACS;
    // A small enough to stay packed whole (two L2-sized blocks of rows, at most 16 Mi elements: a
    // very deep product packs panel by panel instead), and (when threads share the work) at least
    // one sliver of B per thread.
    if m <= 2 * g.blocking.mc
        && m.saturating_mul(k) <= A_WHOLE_MAX
        && (inline || n.div_ceil(f.nr) >= g.threads)
    {
        return run_a_stationary(g, (m, k), f, &steps, ready, out, ldc, !inline);
    }
    let panel = (kp_max * f.nr + f.b_extra) * n.min(nc).div_ceil(f.nr);
    let buffers = if inline { 1 } else { 2 };
    with_scratch(&CALLER_SCRATCH, buffers * panel, |bufs: &mut [P]| {
        let (first, second) = bufs.split_at_mut(panel);
        if inline {
            for &step in &steps {
                pack_b(f, step, first, false);
                compute_step(g, m, f, step, first, ready, out, ldc, false);
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
                    || compute_step(g, m, f, step, cur, ready, out, ldc, true),
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

/// A small: A is packed whole once (every panel), and the work is split by slivers of B, each
/// task packing one sliver of B per panel right before using it with all of A (so it is still in
/// L1), panels in order. No barrier between panels: the threads meet twice per product (after
/// packing A, at the end) instead of twice per panel, which on a VM, where waking a thread costs
/// tens of microseconds, is what made products of a few hundred rows scale badly. Better than
/// packing whole panels of B ahead when there are few rows to reuse each sliver on (a convolution
/// with few output channels). The tiles and their sums are those of the panel path: the same bits.
#[allow(clippy::too_many_arguments)]
fn run_a_stationary<P, C, PA, PB, K>(
    g: &Gemm,
    (m, k): (usize, usize),
    f: &Family<PA, PB, K>,
    steps: &[Step],
    ready: Option<&[P]>,
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
    // The panels of depth (one per distinct pc, in order) and where each starts in packed A.
    let panels: Vec<(usize, usize, usize)> = {
        let mut at = 0;
        let mut v = Vec::new();
        for s in steps.iter().filter(|s| s.jc == 0) {
            v.push((s.pc, s.kb, at));
            at += rows * kp(f, s.kb);
        }
        v
    };
    let total = panels
        .last()
        .map_or(0, |&(_, kb, at)| at + rows * kp(f, kb));
    debug_assert!(panels.iter().map(|p| p.1).sum::<usize>() == k);
    // One task: sliver js of the column block at jc, every panel in order.
    let kp_max = panels.iter().map(|p| kp(f, p.1)).max().unwrap_or(0);
    let task = |apack: &[P], (jc, nb, js): (usize, usize, usize)| {
        with_scratch(&TASK_SCRATCH, kp_max * nr + f.b_extra, |bs: &mut [P]| {
            let mut tile = [C::default(); MAX_TILE];
            let tile = &mut tile[..mr * nr];
            let cols = (nb - js * nr).min(nr);
            for &(pc, kb, at) in &panels {
                let kp = kp(f, kb);
                (f.pack_b)(pc, kb, jc, nb, js, bs);
                let a = &apack[at..at + rows * kp];
                for is in 0..m.div_ceil(mr) {
                    (f.kernel)(kp, &a[is * kp * mr..(is + 1) * kp * mr], bs, tile);
                    let rows = (m - is * mr).min(mr);
                    let at = (is * mr, jc + js * nr);
                    write_tile(out, ldc, at, (rows, cols), tile, nr, pc > 0);
                }
            }
        })
    };
    let slivers: Vec<(usize, usize, usize)> = steps
        .iter()
        .filter(|s| s.pc == 0)
        .flat_map(|s| (0..s.nb.div_ceil(nr)).map(move |js| (s.jc, s.nb, js)))
        .collect();
    let compute = |apack: &[P]| {
        if parallel {
            slivers.par_iter().for_each(|&t| task(apack, t));
        } else {
            slivers.iter().for_each(|&t| task(apack, t));
        }
    };
    if let Some(apack) = ready {
        // Packed ahead in this very layout (`run_packed_a`).
        if parallel {
            g.pool.install(|| compute(apack));
        } else {
            compute(apack);
        }
        return;
    }
    let all = |apack: &mut [P]| {
        // Packing tasks: (panel, block of up to 8 slivers of A), each its own part of `apack`.
        let mut parts = Vec::new();
        let mut rest = &mut apack[..total];
        for &(pc, kb, _) in &panels {
            let kp = kp(f, kb);
            let (panel, tail) = std::mem::take(&mut rest).split_at_mut(rows * kp);
            for (b, part) in panel.chunks_mut(8 * mr * kp).enumerate() {
                let i0 = b * 8 * mr;
                parts.push((pc, kb, i0, (m - i0).min(8 * mr), part));
            }
            rest = tail;
        }
        let pack = |(pc, kb, i0, mb, part): &mut (usize, usize, usize, usize, &mut [P])| {
            (f.pack_a)(*i0, *mb, *pc, *kb, part)
        };
        if parallel {
            parts.par_iter_mut().for_each(pack);
        } else {
            parts.iter_mut().for_each(pack);
        }
        compute(apack);
    };
    with_scratch(&CALLER_SCRATCH, total, |apack: &mut [P]| {
        if parallel {
            g.pool.install(|| all(apack));
        } else {
            all(apack);
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
    /// Scratch of the thread that calls the GEMM (packed panels of B, or all of packed A), kept
    /// between calls.
    static CALLER_SCRATCH: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
    /// Scratch of each task (a packed block of A, or one packed sliver of B), kept between calls on
    /// each worker.
    pub(super) static TASK_SCRATCH: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
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
    ready: Option<&[P]>,
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
    // With A packed ahead, block i0's slivers of panel pc lie together (`run_packed_a`).
    let rows = m.div_ceil(mr) * mr;
    let task = |t: usize| {
        let (ib, grp) = (t / groups, t % groups);
        let (i0, mb) = (ib * mc, (m - ib * mc).min(mc));
        let len = if ready.is_some() { 0 } else { mc * kp };
        with_scratch(&TASK_SCRATCH, len, |scratch: &mut [P]| {
            let mut tile = [C::default(); MAX_TILE];
            let tile = &mut tile[..mr * nr];
            let apack: &[P] = match ready {
                Some(a) => {
                    let at = rows * s.pc + (i0 / mr) * kp * mr;
                    &a[at..at + mb.div_ceil(mr) * kp * mr]
                }
                None => {
                    (f.pack_a)(i0, mb, s.pc, s.kb, scratch);
                    scratch
                }
            };
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
