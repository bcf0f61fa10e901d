// SPDX-License-Identifier: GPL-2.0

//! MATMUL on the mesh: `out[M,N] = a[M,K] · b[K,N]` (and the 3-D batched form) tiled to the
//! device's N×N weights.
//!
//! The mesh computes `y = W·x` for a batch of input vectors. Rows of `a` are the input vectors
//! and rows of `out` the outputs, so a weight tile is a transposed tile of `b`:
//! `W[i][j] = b[kt + j][nt + i]`. For each output column tile and each chunk of rows, the K tiles are
//! programmed in turn and their products summed on the device (`CMD_ACCUMULATE`), in K order. Operands are
//! staged through the coherent buffer; elements move as raw 32-bit words (the kernel does no
//! floating-point arithmetic). Unused parts of a tile are zero.
//!
//! Double buffering (the default; `tiling` in the device's debugfs directory switches it): the
//! staging buffer holds two weight tiles and two input blocks, so while the device programs and
//! multiplies tile k the driver stages tile k+1 into the other half; it waits only for tile k−1,
//! which used that half. Single-buffered, each tile's commands complete before the next is staged.

use super::{
    npu::{Npu, STAGING_BYTES},
    pipeline::{Kind, Pipeline},
    regs,
};
use crate::{buffer::object::Buffer, sched::job::Job, time::monotonic_ns, uapi};
use kernel::{prelude::*, sync::atomic::Relaxed};

/// Bytes per element (f32).
const ELEM: usize = 4;
/// Each MATMUL asks the device to recalibrate first when the chip is this far (m°C) from its last
/// calibration (`CMD_CALIBRATE_IF_DRIFTED`, checked when the command runs, after however long it
/// waited in the ring). A uniform warming is a global phase the receiver's lock removes; what
/// drifts is the spread of the waveguides' thermo-optic coefficients, about 1.2 % of error per
/// kelvin on a 64-mode chip (docs/PHYSICS.md). At 0.25 K that is a tenth of the calibrated chip's
/// 3 %, while a calibration costs seconds of device time (every heater's fringe).
const RECALIBRATE_MC: u32 = 250;

/// Whether `t` is contiguous row-major (no strides, or exactly the row-major ones).
fn contiguous(t: &uapi::Tensor) -> bool {
    if t.strides.iter().all(|&s| s == 0) {
        return true;
    }
    let mut expect = 1u64;
    for i in (0..t.ndim as usize).rev() {
        if t.strides[i] != expect {
            return false;
        }
        expect = expect.saturating_mul(t.shape[i]);
    }
    true
}

/// One 2-D problem: operands and their byte offsets, and the sizes.
struct Problem<'a> {
    a: &'a Buffer,
    a_off: usize,
    b: &'a Buffer,
    b_off: usize,
    out: &'a Buffer,
    out_off: usize,
    m: usize,
    k: usize,
    n: usize,
}

/// Runs `job` (a validated MATMUL) on `npu`; returns the job's status.
pub(crate) fn run(npu: &Npu, job: &Job) -> u32 {
    match try_run(npu, job) {
        Ok(()) => uapi::STATUS_OK,
        Err(status) => status,
    }
}

fn try_run(npu: &Npu, job: &Job) -> Result<(), u32> {
    let p = job.prim();
    let bufs = job.buffers();
    let (Some(a), Some(b), Some(out)) = (&bufs[0], &bufs[1], &bufs[2]) else {
        return Err(uapi::STATUS_INVALID);
    };
    let (ta, tb, to) = (&p.operands[0], &p.operands[1], &p.operands[2]);
    let out_dtype = p.output_dtype();
    if p.dtype != uapi::DTYPE_F32 || out_dtype != uapi::DTYPE_F32 || ![ta, tb, to].iter().all(|t| contiguous(t)) {
        return Err(uapi::STATUS_INVALID);
    }
    let nd = ta.ndim as usize;
    let size = |v: u64| usize::try_from(v).map_err(|_| uapi::STATUS_INVALID);
    let batches = if nd == 3 { size(ta.shape[0])? } else { 1 };
    let (m, k, n) = (size(ta.shape[nd - 2])?, size(ta.shape[nd - 1])?, size(tb.shape[nd - 1])?);
    let mut row = KVec::<u8>::new();
    row.resize(npu.mesh * ELEM, 0, GFP_KERNEL).map_err(|_| uapi::STATUS_DEVICE_ERROR)?;
    for batch in 0..batches {
        let prob = Problem {
            a,
            a_off: size(ta.offset)? + batch * m * k * ELEM,
            b,
            b_off: size(tb.offset)? + batch * k * n * ELEM,
            out,
            out_off: size(to.offset)? + batch * m * n * ELEM,
            m,
            k,
            n,
        };
        run_2d(npu, job, &prob, &mut row)?;
    }
    Ok(())
}

fn run_2d(npu: &Npu, job: &Job, p: &Problem<'_>, row: &mut KVec<u8>) -> Result<(), u32> {
    let mut pipe = Pipeline::new(npu)?;
    let result = tiles(npu, job, p, row, &mut pipe);
    pipe.finish(result)
}

/// The staging buffer's layout: two weight tiles, two input blocks, one output block.
struct Staging {
    cpu: *mut u8,
    bus: u64,
    w_bytes: usize,
    block: usize,
}

impl Staging {
    fn new(npu: &Npu) -> Self {
        let (cpu, bus) = npu.staging();
        let w_bytes = npu.mesh * npu.mesh * ELEM;
        // Blocks start on page boundaries, as the single-buffered layout's did.
        let block = ((STAGING_BYTES - 2 * w_bytes) / 3) & !(kernel::page::PAGE_SIZE - 1);
        Self { cpu, bus, w_bytes, block }
    }

    /// Offset of weight tile `slot` (0 or 1).
    fn w(&self, slot: usize) -> usize {
        slot * self.w_bytes
    }

    /// Offset of input block `slot` (0 or 1).
    fn x(&self, slot: usize) -> usize {
        2 * self.w_bytes + slot * self.block
    }

    /// Offset of the output block.
    fn y(&self) -> usize {
        2 * self.w_bytes + 2 * self.block
    }
}

fn tiles(npu: &Npu, job: &Job, p: &Problem<'_>, row: &mut KVec<u8>, pipe: &mut Pipeline<'_>) -> Result<(), u32> {
    let mesh = npu.mesh;
    let st = Staging::new(npu);
    let vec_bytes = mesh * ELEM;
    let batch_max = (st.block / vec_bytes).min(regs::MAX_BATCH as usize);
    let stats = &npu.tile_stats;
    let double = stats.double_buffer.load(Relaxed);
    // SAFETY (for the pointer arithmetic below): the staging buffer holds `STAGING_BYTES` =
    // 2 weight tiles of `w_bytes` and 3 blocks of `block` bytes (`Staging`); every access stays
    // inside its part because rows ≤ `batch_max` ≤ block / vec_bytes. The device reads a part only
    // through commands posted after it was written, and the driver rewrites a part only after the
    // commands that read it completed (`drain_before`).
    let fault = |_| uapi::STATUS_INVALID;
    let y_cpu = st.cpu.wrapping_add(st.y());
    let mut tile = 0usize;
    for nt in (0..p.n).step_by(mesh) {
        let nn = mesh.min(p.n - nt);
        for mc in (0..p.m).step_by(batch_max) {
            let rows = batch_max.min(p.m - mc);
            if p.k == 0 {
                // An empty sum: the outputs are zero.
                // SAFETY: `rows * vec_bytes <= block` bytes of outputs; nothing is in flight.
                unsafe { core::ptr::write_bytes(y_cpu, 0, rows * vec_bytes) };
            }
            for (ki, kt) in (0..p.k).step_by(mesh).enumerate() {
                if job.ended() {
                    // Timed out or aborted meanwhile: stop using the device for it.
                    return Err(uapi::STATUS_ABORTED);
                }
                // The half this tile uses was last read by tile − 2 (double) or tile − 1 (single).
                let slot = if double { tile % 2 } else { 0 };
                pipe.drain_before(if double { tile.saturating_sub(1) } else { tile })?;
                let t0 = monotonic_ns();
                let kn = mesh.min(p.k - kt);
                let w_cpu = st.cpu.wrapping_add(st.w(slot));
                // SAFETY: weight tile `slot` holds `w_bytes` bytes and no command in flight reads it.
                unsafe { core::ptr::write_bytes(w_cpu, 0, st.w_bytes) };
                for j in 0..kn {
                    let at = p.b_off + ((kt + j) * p.n + nt) * ELEM;
                    // SAFETY: `row` has `mesh * ELEM >= nn * ELEM` bytes.
                    unsafe { p.b.copy_out(at, row.as_mut_ptr(), nn * ELEM) }.map_err(fault)?;
                    for i in 0..nn {
                        // SAFETY: `(i * mesh + j) * ELEM + ELEM <= w_bytes`; `row` has the bytes.
                        unsafe {
                            core::ptr::copy_nonoverlapping(row.as_ptr().add(i * ELEM), w_cpu.add((i * mesh + j) * ELEM), ELEM)
                        };
                    }
                }
                let x_cpu = st.cpu.wrapping_add(st.x(slot));
                // SAFETY: input block `slot` holds `block >= rows * vec_bytes` bytes, unread now.
                unsafe { core::ptr::write_bytes(x_cpu, 0, rows * vec_bytes) };
                for r in 0..rows {
                    let at = p.a_off + ((mc + r) * p.k + kt) * ELEM;
                    // SAFETY: row `r` of the inputs has `vec_bytes >= kn * ELEM` bytes.
                    unsafe { p.a.copy_out(at, x_cpu.add(r * vec_bytes), kn * ELEM) }.map_err(fault)?;
                }
                stats.stage_ns.add(monotonic_ns().saturating_sub(t0), Relaxed);
                let program = regs::Command { opcode: regs::OP_PROGRAM_WEIGHTS, src: st.bus + st.w(slot) as u64, ..Default::default() };
                pipe.post(program, Kind::Program, tile)?;
                stats.tiles.add(1, Relaxed);
                let accumulate = if ki == 0 { 0 } else { regs::CMD_ACCUMULATE };
                let multiply = regs::Command {
                    opcode: regs::OP_MATMUL,
                    flags: accumulate | regs::CMD_CALIBRATE_IF_DRIFTED,
                    src: st.bus + st.x(slot) as u64,
                    dst: st.bus + st.y() as u64,
                    batch: rows as u32,
                    arg: RECALIBRATE_MC,
                    ..Default::default()
                };
                pipe.post(multiply, Kind::Matmul, tile)?;
                tile += 1;
            }
            // The block's sums are complete once its last MATMUL is.
            pipe.drain()?;
            let t0 = monotonic_ns();
            for r in 0..rows {
                let at = p.out_off + ((mc + r) * p.n + nt) * ELEM;
                // SAFETY: row `r` of the outputs has `vec_bytes >= nn * ELEM` bytes.
                unsafe { p.out.copy_in(at, y_cpu.add(r * vec_bytes), nn * ELEM) }.map_err(fault)?;
            }
            stats.readback_ns.add(monotonic_ns().saturating_sub(t0), Relaxed);
        }
    }
    Ok(())
}
