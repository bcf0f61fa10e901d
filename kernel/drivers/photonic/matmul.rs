// SPDX-License-Identifier: GPL-2.0

//! MATMUL on the mesh: `out[M,N] = a[M,K] · b[K,N]` (and the 3-D batched form) tiled to the
//! device's N×N weights.
//!
//! The mesh computes `y = W·x` for a batch of input vectors. Rows of `a` are the input vectors
//! and rows of `out` the outputs, so a weight tile is a transposed tile of `b`:
//! `W[i][j] = b[kt + j][nt + i]`. For each output column tile and each chunk of rows, the K tiles are
//! programmed in turn and their products summed on the device (`CMD_ACCUMULATE`). Operands are
//! staged through the coherent buffer; elements move as raw 32-bit words (the kernel does no
//! floating-point arithmetic). Unused parts of a tile are zero.

use super::{
    npu::{CommandError, Npu, STAGING_BYTES},
    regs,
};
use crate::{buffer::Buffer, job::Job, uapi};
use kernel::prelude::*;

/// Bytes per element (f32).
const ELEM: usize = 4;
/// Recalibrate before programming weights or multiplying when the chip has drifted this far from its last
/// calibration (m°C): at ≈0.07 rad/K per arm, a 64-mode mesh loses percent-level accuracy within
/// a tenth of a kelvin.
const RECALIBRATE_MC: i32 = 10;

/// Calibrates the chip when its temperature has moved away from the last calibration.
fn calibrate_if_drifted(npu: &Npu) -> Result<(), u32> {
    let t = npu.telemetry().ok_or(uapi::STATUS_DEVICE_LOST)?;
    if (t.temp_mc - t.calibrated_mc).abs() > RECALIBRATE_MC {
        device(npu, regs::Command { opcode: regs::OP_CALIBRATE, ..Default::default() })?;
        npu.calibrations.add(1, kernel::sync::atomic::Relaxed);
    }
    Ok(())
}

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

/// Runs one device command; the job status it maps to when it failed.
fn device(npu: &Npu, cmd: regs::Command) -> Result<(), u32> {
    match npu.run(cmd) {
        Ok(regs::ST_OK) => Ok(()),
        Ok(regs::ST_THERMAL) => Err(uapi::STATUS_THERMAL_ABORT),
        Ok(regs::ST_BAD_VALUE) => Err(uapi::STATUS_INVALID),
        Ok(regs::ST_ABORTED) => Err(uapi::STATUS_ABORTED),
        Ok(status) => {
            pr_err!("photonic0: the device refused command {}: status {}\n", cmd.opcode, status);
            Err(uapi::STATUS_DEVICE_ERROR)
        }
        Err(CommandError::Timeout) => Err(uapi::STATUS_TIMEOUT),
        Err(CommandError::Corrupt) => Err(uapi::STATUS_DEVICE_ERROR),
        Err(CommandError::Lost) => Err(uapi::STATUS_DEVICE_LOST),
    }
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
    let out_dtype = if p.out_dtype == 0 { p.dtype } else { p.out_dtype };
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
    let mesh = npu.mesh;
    let (cpu, bus) = npu.staging();
    let w_bytes = mesh * mesh * ELEM;
    let half = (STAGING_BYTES - w_bytes) / 2;
    let vec_bytes = mesh * ELEM;
    let batch_max = (half / vec_bytes).min(regs::MAX_BATCH as usize);
    // SAFETY (for the pointer arithmetic below): the staging buffer holds `STAGING_BYTES`; the
    // weights take `w_bytes` at 0, inputs and outputs `half` each after them, and every access
    // stays inside its part because rows ≤ `batch_max` = half / vec_bytes.
    let (x_cpu, y_cpu) = (cpu.wrapping_add(w_bytes), cpu.wrapping_add(w_bytes + half));
    let (x_bus, y_bus) = (bus + w_bytes as u64, bus + (w_bytes + half) as u64);
    let fault = |_| uapi::STATUS_INVALID;

    for nt in (0..p.n).step_by(mesh) {
        let nn = mesh.min(p.n - nt);
        for mc in (0..p.m).step_by(batch_max) {
            let rows = batch_max.min(p.m - mc);
            if p.k == 0 {
                // An empty sum: the outputs are zero.
                // SAFETY: `rows * vec_bytes <= half` bytes of outputs.
                unsafe { core::ptr::write_bytes(y_cpu, 0, rows * vec_bytes) };
            }
            for (ki, kt) in (0..p.k).step_by(mesh).enumerate() {
                if job.ended() {
                    // Timed out or aborted meanwhile: stop using the device for it.
                    return Err(uapi::STATUS_ABORTED);
                }
                let kn = mesh.min(p.k - kt);
                // SAFETY: `cpu` holds `w_bytes` bytes of weights; the device is idle (commands
                // run one at a time and the last one completed).
                unsafe { core::ptr::write_bytes(cpu, 0, w_bytes) };
                for j in 0..kn {
                    let at = p.b_off + ((kt + j) * p.n + nt) * ELEM;
                    // SAFETY: `row` has `mesh * ELEM >= nn * ELEM` bytes.
                    unsafe { p.b.copy_out(at, row.as_mut_ptr(), nn * ELEM) }.map_err(fault)?;
                    for i in 0..nn {
                        // SAFETY: `(i * mesh + j) * ELEM + ELEM <= w_bytes`; `row` has the bytes.
                        unsafe {
                            core::ptr::copy_nonoverlapping(
                                row.as_ptr().add(i * ELEM),
                                cpu.add((i * mesh + j) * ELEM),
                                ELEM,
                            )
                        };
                    }
                }
                calibrate_if_drifted(npu)?;
                device(npu, regs::Command { opcode: regs::OP_PROGRAM_WEIGHTS, src: bus, ..Default::default() })?;

                // SAFETY: `rows * vec_bytes <= half` bytes of inputs.
                unsafe { core::ptr::write_bytes(x_cpu, 0, rows * vec_bytes) };
                for r in 0..rows {
                    let at = p.a_off + ((mc + r) * p.k + kt) * ELEM;
                    // SAFETY: row `r` of the inputs has `vec_bytes >= kn * ELEM` bytes.
                    unsafe { p.a.copy_out(at, x_cpu.add(r * vec_bytes), kn * ELEM) }.map_err(fault)?;
                }
                let flags = if ki == 0 { 0 } else { regs::CMD_ACCUMULATE };
                calibrate_if_drifted(npu)?;
                device(
                    npu,
                    regs::Command {
                        opcode: regs::OP_MATMUL,
                        flags,
                        src: x_bus,
                        dst: y_bus,
                        batch: rows as u32,
                        ..Default::default()
                    },
                )?;
            }
            for r in 0..rows {
                let at = p.out_off + ((mc + r) * p.n + nt) * ELEM;
                // SAFETY: row `r` of the outputs has `vec_bytes >= nn * ELEM` bytes.
                unsafe { p.out.copy_in(at, y_cpu.add(r * vec_bytes), nn * ELEM) }.map_err(fault)?;
            }
        }
    }
    Ok(())
}
