//! The reference CPU executor: a small, single-threaded, deterministic implementation of the f32
//! ops, so the kernel's chain (client → kernel → executor → completion) runs end to end. It is a
//! reference, not the fast CPU backend: contiguous tensors only, no blocking, no SIMD.
//!
//! Ops: COPY, ADD, MUL, RELU, GELU, SOFTMAX, LAYERNORM, MATMUL on f32 (declared bit-reproducible:
//! one thread, fixed summation order), and SPIKE_ENCODE (f32 → spike events staged for the kernel
//! to produce into a queue; seeded, so reproducible too). Anything else is reported `INVALID`.

use crate::{Executor, ExecutorSpec, FetchedJob, JobStatus, Op, OperandMap, Result};
use lightos_uapi as uapi;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How a job ended, as the executor reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Its status.
    pub status: JobStatus,
    /// Events an `OP_SPIKE_ENCODE` staged (0 for other ops).
    pub produced: u32,
}

impl Outcome {
    fn of(status: JobStatus) -> Outcome {
        Outcome {
            status,
            produced: 0,
        }
    }
}

/// The ops this executor runs.
pub const OPS: [Op; 9] = [
    Op::Copy,
    Op::Add,
    Op::Mul,
    Op::Relu,
    Op::Gelu,
    Op::Softmax,
    Op::LayerNorm,
    Op::Matmul,
    Op::SpikeEncode,
];

/// Its registration: the ops above, f32 (and spike events as SPIKE_ENCODE's output), all
/// deterministic.
pub fn spec(name: &str) -> ExecutorSpec {
    let ops = OPS.iter().fold(0, |m, op| m | op.bit());
    ExecutorSpec {
        name: name.to_string(),
        ops,
        deterministic_ops: ops,
        dtypes: crate::DType::F32.bit() | crate::DType::SpikeEvent.bit(),
    }
}

/// Serves jobs until `stop` is set (checked every 100 ms) or `max_jobs` have run; returns how many ran.
pub fn serve(exec: &Executor, stop: &AtomicBool, max_jobs: Option<u64>) -> Result<u64> {
    let mut done = 0;
    while !stop.load(Ordering::Relaxed) && max_jobs.is_none_or(|m| done < m) {
        let Some(job) = exec.fetch(Some(Duration::from_millis(100)))? else {
            continue;
        };
        let outcome = run_job(exec, &job);
        match exec.complete_with_events(job.job_id, outcome.status, outcome.produced) {
            Ok(()) => {}
            // The job timed out or was aborted meanwhile: not this executor's error.
            Err(e) if e.errno() == Some(nix::errno::Errno::ECANCELED) => {}
            Err(e) => return Err(e),
        }
        done += 1;
    }
    Ok(done)
}

/// Maps a job's operands and runs it. A job whose operands hold no elements (a null primitive)
/// touches no memory, so nothing is mapped for it.
pub fn run_job(exec: &Executor, job: &FetchedJob) -> Outcome {
    if job.is_null() {
        return Outcome::of(JobStatus::Ok);
    }
    let n = usize::from(job.prim.n_inputs) + 1;
    let maps: Result<Vec<OperandMap>> = (0..n).map(|i| exec.map_operand(job, i)).collect();
    match maps {
        Ok(mut maps) if job.prim.op == uapi::OP_SPIKE_ENCODE => spike_encode(&job.prim, &mut maps),
        Ok(mut maps) => Outcome::of(execute(&job.prim, &mut maps)),
        Err(_) => Outcome::of(JobStatus::Invalid),
    }
}

/// SPIKE_ENCODE: the input's f32 values to events in the staging output.
fn spike_encode(p: &uapi::Primitive, maps: &mut [OperandMap]) -> Outcome {
    let staged = (|| {
        let (io, ilen) = span(&p.operands[0], 4)?;
        let (so, slen) = span(&p.operands[1], 16)?;
        let (input, output) = maps.split_at_mut(1);
        let OperandMap::Output(out) = &mut output[0] else {
            return None;
        };
        let input = input[0].bytes().get(io..io + ilen)?;
        crate::spike::encode_job::run(p, input, out.get_mut(so..so + slen)?)
    })();
    match staged {
        Some(produced) => Outcome {
            status: JobStatus::Ok,
            produced,
        },
        None => Outcome::of(JobStatus::Invalid),
    }
}

/// Byte range and element count of a contiguous operand, or `None` if it is strided.
fn span(t: &uapi::Tensor, esize: usize) -> Option<(usize, usize)> {
    if t.strides.iter().any(|&s| s != 0) {
        return None;
    }
    let n = t.shape[..t.ndim as usize].iter().product::<u64>() as usize;
    Some((t.offset as usize, n * esize))
}

fn read_f32(map: &OperandMap, t: &uapi::Tensor) -> Option<Vec<f32>> {
    let (off, len) = span(t, 4)?;
    let bytes = map.bytes().get(off..off + len)?;
    Some(
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    )
}

fn write_f32(map: &mut OperandMap, t: &uapi::Tensor, values: &[f32]) -> Option<()> {
    let (off, len) = span(t, 4)?;
    let OperandMap::Output(out) = map else {
        return None;
    };
    let dst = out.get_mut(off..off + len)?;
    for (d, v) in dst.chunks_exact_mut(4).zip(values) {
        d.copy_from_slice(&v.to_le_bytes());
    }
    Some(())
}

/// Runs `prim` on mapped operands (`maps[n_inputs]` is the output).
pub fn execute(prim: &uapi::Primitive, maps: &mut [OperandMap]) -> JobStatus {
    match compute(prim, maps) {
        Some(()) => JobStatus::Ok,
        None => JobStatus::Invalid,
    }
}

fn compute(p: &uapi::Primitive, maps: &mut [OperandMap]) -> Option<()> {
    let op = Op::from_raw(p.op)?;
    let n_in = usize::from(p.n_inputs);
    let ops = &p.operands;
    if op == Op::Copy {
        let esize = crate::primitive::dtype_size(p.dtype)?;
        let (so, len) = span(&ops[0], esize)?;
        let (dof, dlen) = span(&ops[n_in], esize)?;
        if len != dlen {
            return None;
        }
        let src = maps[0].bytes().get(so..so + len)?.as_ptr();
        let OperandMap::Output(out) = &mut maps[n_in] else {
            return None;
        };
        let dst = out.get_mut(dof..dof + len)?;
        // SAFETY: `src` is valid for `len` bytes (checked slice above) and the kernel refuses
        // overlapping COPY operands, so the ranges are disjoint even if the buffers are the same.
        unsafe { std::ptr::copy_nonoverlapping(src, dst.as_mut_ptr(), len) };
        return Some(());
    }
    if p.dtype != uapi::DTYPE_F32 {
        return None;
    }
    let inputs: Vec<Vec<f32>> = (0..n_in)
        .map(|i| read_f32(&maps[i], &ops[i]))
        .collect::<Option<_>>()?;
    let x = &inputs[0];
    let last = |t: &uapi::Tensor| t.shape[t.ndim as usize - 1] as usize;
    let out: Vec<f32> = match op {
        Op::Add => x.iter().zip(&inputs[1]).map(|(a, b)| a + b).collect(),
        Op::Mul => x.iter().zip(&inputs[1]).map(|(a, b)| a * b).collect(),
        Op::Relu => x.iter().map(|v| v.max(0.0)).collect(),
        Op::Gelu => x.iter().map(|&v| gelu(v)).collect(),
        Op::Softmax => {
            let d = last(&ops[0]);
            x.chunks(d.max(1)).flat_map(softmax).collect()
        }
        Op::LayerNorm => {
            let d = last(&ops[0]).max(1);
            let eps = match p.params[0] as u32 {
                0 => 1e-5,
                bits => f32::from_bits(bits),
            };
            let (g, b) = (inputs.get(1), inputs.get(2));
            x.chunks(d)
                .flat_map(|row| {
                    let mean = row.iter().sum::<f32>() / d as f32;
                    let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / d as f32;
                    let inv = 1.0 / (var + eps).sqrt();
                    row.iter()
                        .enumerate()
                        .map(|(i, v)| {
                            let y = (v - mean) * inv;
                            y * g.map_or(1.0, |g| g[i]) + b.map_or(0.0, |b| b[i])
                        })
                        .collect::<Vec<_>>()
                })
                .collect()
        }
        Op::Matmul => {
            let a = &ops[0];
            let nd = a.ndim as usize;
            let (m, k) = (a.shape[nd - 2] as usize, a.shape[nd - 1] as usize);
            let n = ops[1].shape[nd - 1] as usize;
            let batch = if nd == 3 { a.shape[0] as usize } else { 1 };
            let b = &inputs[1];
            let mut out = vec![0f32; batch * m * n];
            for bi in 0..batch {
                for i in 0..m {
                    for j in 0..n {
                        let mut acc = 0f32;
                        for kk in 0..k {
                            acc += x[bi * m * k + i * k + kk] * b[bi * k * n + kk * n + j];
                        }
                        out[bi * m * n + i * n + j] = acc;
                    }
                }
            }
            out
        }
        _ => return None,
    };
    write_f32(&mut maps[n_in], &ops[n_in], &out)
}

/// GELU, tanh approximation.
pub fn gelu(v: f32) -> f32 {
    let c = (2.0f32 / std::f32::consts::PI).sqrt();
    0.5 * v * (1.0 + (c * (v + 0.044715 * v * v * v)).tanh())
}

fn softmax(row: &[f32]) -> Vec<f32> {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = row.iter().map(|v| (v - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    exps.iter().map(|e| e / sum).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_rows_sum_to_one_and_keep_order() {
        let s = softmax(&[1.0, 2.0, 3.0]);
        assert!((s.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(s[0] < s[1] && s[1] < s[2]);
    }

    #[test]
    fn gelu_matches_known_values() {
        assert_eq!(gelu(0.0), 0.0);
        assert!((gelu(1.0) - 0.841192).abs() < 1e-5);
        assert!((gelu(-1.0) + 0.158808).abs() < 1e-5);
    }

    #[test]
    fn spec_declares_f32_and_every_op_deterministic() {
        let s = spec("cpu0");
        assert_eq!(s.ops, s.deterministic_ops);
        assert_eq!(s.ops.count_ones() as usize, OPS.len());
        assert_eq!(
            s.dtypes,
            1 << uapi::DTYPE_F32 | 1 << uapi::DTYPE_SPIKE_EVENT
        );
    }
}
