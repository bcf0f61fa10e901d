//! `lightosd`: registers with `/dev/lightos` as an executor backend and runs the jobs the kernel
//! routes to it on one of two backends:
//! - the CPU backend ([`lightos_cpu`]): every op of the ABI in every dtype it allows, with the
//!   cache-blocked multithreaded GEMM; every op bit-reproducible whatever the thread count;
//! - the CUDA backend ([`lightos_cuda`]): MATMUL and ATTENTION through cuBLAS and the
//!   element-wise, softmax, layernorm and quantization ops as NVRTC kernels on an NVIDIA GPU, declared bit-reproducible
//!   run to run (cuBLAS on one compute stream: its guarantee for one GPU model and toolkit).
//!
//! Killing the daemon is safe: the kernel fails its in-flight jobs with `DEVICE_LOST`, and clients
//! may resubmit them to another backend.

use lightos_cpu::Gemm;
use lightos_cuda::CudaDevice;
use lightos_runtime::{
    reference_cpu, uapi, DType, Executor, ExecutorSpec, FetchedJob, JobStatus, Op, OperandMap,
    Result,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The registration of a backend called `name` running `ops` in `dtypes` (ABI op numbers,
/// `1 << DTYPE_*`), all declared deterministic, plus SPIKE_ENCODE (the runtime's encoder).
fn spec_of(name: &str, ops: &[u16], dtypes: u32) -> ExecutorSpec {
    let ops = ops
        .iter()
        .filter_map(|&op| Op::from_raw(op))
        .chain([Op::SpikeEncode])
        .fold(0, |m, op| m | op.bit());
    ExecutorSpec {
        name: name.to_string(),
        ops,
        deterministic_ops: ops,
        dtypes: dtypes | DType::SpikeEvent.bit(),
    }
}

/// The registration of a CPU backend called `name`.
pub fn spec(name: &str) -> ExecutorSpec {
    spec_of(name, &lightos_cpu::exec::OPS, lightos_cpu::exec::DTYPES)
}

/// What one `lightosd` process computes on.
pub enum Backend {
    /// The CPU backend's engine.
    Cpu(Gemm),
    /// An opened GPU.
    Cuda(Box<CudaDevice>),
}

impl Backend {
    /// The registration of this backend under `name`.
    pub fn spec(&self, name: &str) -> ExecutorSpec {
        match self {
            Backend::Cpu(_) => spec(name),
            Backend::Cuda(_) => spec_of(name, &lightos_cuda::exec::OPS, lightos_cuda::exec::DTYPES),
        }
    }

    /// One line on what it runs on, for the daemon's log.
    pub fn describe(&self) -> String {
        match self {
            Backend::Cpu(g) => format!(
                "CPU, {} threads, {:?} kernel, blocks {:?}",
                g.threads(),
                g.kernel(),
                g.blocking()
            ),
            Backend::Cuda(d) => {
                let i = d.info();
                format!(
                    "CUDA device {}: {}, {} MiB, compute capability {}.{}",
                    i.ordinal,
                    i.name,
                    i.memory >> 20,
                    i.capability.0,
                    i.capability.1
                )
            }
        }
    }

    /// Runs primitive `p` on its operands' bytes; the error says why it was refused.
    fn execute(
        &self,
        p: &uapi::Primitive,
        inputs: &[&[u8]],
        out: &mut [u8],
    ) -> std::result::Result<(), String> {
        match self {
            Backend::Cpu(g) => {
                lightos_cpu::exec::execute(g, p, inputs, out).map_err(|e| e.to_string())
            }
            Backend::Cuda(d) => {
                lightos_cuda::exec::execute(d.as_ref(), p, inputs, out).map_err(|e| e.to_string())
            }
        }
    }
}

/// What a served job ended as, for the caller's log.
#[derive(Debug)]
pub struct JobReport {
    /// The status reported to the kernel.
    pub status: JobStatus,
    /// Why it was refused, when it was.
    pub error: Option<String>,
}

/// Runs one fetched job on `backend`; SPIKE_ENCODE goes to the runtime's encoder.
pub fn run_job(backend: &Backend, exec: &Executor, job: &FetchedJob) -> (JobReport, u32) {
    let p = &job.prim;
    if p.op == uapi::OP_SPIKE_ENCODE {
        let outcome = reference_cpu::run_job(exec, job);
        return (
            JobReport {
                status: outcome.status,
                error: None,
            },
            outcome.produced,
        );
    }
    let n = usize::from(p.n_inputs);
    if job.is_null() {
        return (
            JobReport {
                status: JobStatus::Ok,
                error: None,
            },
            0,
        );
    }
    let refused = |e: String| {
        (
            JobReport {
                status: JobStatus::Invalid,
                error: Some(e),
            },
            0,
        )
    };
    let mut maps = match (0..=n)
        .map(|i| exec.map_operand(job, i))
        .collect::<Result<Vec<_>>>()
    {
        Ok(m) => m,
        Err(e) => return refused(format!("mapping its operands: {e}")),
    };
    let (inputs, output) = maps.split_at_mut(n);
    let OperandMap::Output(out) = &mut output[0] else {
        return refused("the output operand was mapped read-only".into());
    };
    let inputs: Vec<&[u8]> = inputs.iter().map(OperandMap::bytes).collect();
    match backend.execute(p, &inputs, out) {
        Ok(()) => (
            JobReport {
                status: JobStatus::Ok,
                error: None,
            },
            0,
        ),
        Err(e) => refused(e),
    }
}

/// Serves jobs until `stop` is set (checked every 100 ms) or `max_jobs` have run; calls `report`
/// for every job; returns how many ran.
pub fn serve(
    backend: &Backend,
    exec: &Executor,
    stop: &AtomicBool,
    max_jobs: Option<u64>,
    mut report: impl FnMut(&FetchedJob, &JobReport),
) -> Result<u64> {
    let mut done = 0;
    while !stop.load(Ordering::Relaxed) && max_jobs.is_none_or(|m| done < m) {
        let Some(job) = exec.fetch(Some(Duration::from_millis(100)))? else {
            continue;
        };
        let (outcome, produced) = run_job(backend, exec, &job);
        report(&job, &outcome);
        match exec.complete_with_events(job.job_id, outcome.status, produced) {
            Ok(()) => {}
            // Timed out or aborted meanwhile: not this executor's error.
            Err(e) if e.errno() == Some(nix::errno::Errno::ECANCELED) => {}
            Err(e) => return Err(e),
        }
        done += 1;
    }
    Ok(done)
}
