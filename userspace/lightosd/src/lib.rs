//! `lightosd`: registers with `/dev/lightos` as an executor backend and runs the jobs the kernel
//! routes to it on the CPU backend ([`lightos_cpu`]): every op of the ABI in every dtype it
//! allows, with the cache-blocked multithreaded GEMM. Every op is declared bit-reproducible: the
//! backend's results do not depend on its thread count (see `lightos_cpu::gemm`).
//!
//! Killing the daemon is safe: the kernel fails its in-flight jobs with `DEVICE_LOST`, and clients
//! may resubmit them to another backend.

use lightos_cpu::Gemm;
use lightos_runtime::{
    reference_cpu, uapi, DType, Executor, ExecutorSpec, FetchedJob, JobStatus, Op, OperandMap,
    Result,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The registration of a CPU backend called `name`.
pub fn spec(name: &str) -> ExecutorSpec {
    let ops = lightos_cpu::exec::OPS
        .iter()
        .filter_map(|&op| Op::from_raw(op))
        .chain([Op::SpikeEncode])
        .fold(0, |m, op| m | op.bit());
    ExecutorSpec {
        name: name.to_string(),
        ops,
        deterministic_ops: ops,
        dtypes: lightos_cpu::exec::DTYPES | DType::SpikeEvent.bit(),
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

/// Runs one fetched job on `engine`; SPIKE_ENCODE goes to the runtime's encoder.
pub fn run_job(engine: &Gemm, exec: &Executor, job: &FetchedJob) -> (JobReport, u32) {
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
    match lightos_cpu::exec::execute(engine, p, &inputs, out) {
        Ok(()) => (
            JobReport {
                status: JobStatus::Ok,
                error: None,
            },
            0,
        ),
        Err(e) => refused(e.to_string()),
    }
}

/// Serves jobs until `stop` is set (checked every 100 ms) or `max_jobs` have run; calls `report`
/// for every job; returns how many ran.
pub fn serve(
    engine: &Gemm,
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
        let (outcome, produced) = run_job(engine, exec, &job);
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
