//! `lightosd`: the LightOS executor daemon.

use clap::Parser;
use lightos_cpu::Gemm;
use lightos_runtime::{Device, DEFAULT_DEVICE_PATH};
use std::{path::PathBuf, process::ExitCode, sync::atomic::AtomicBool};

/// Serve /dev/lightos jobs on the CPU backend.
///
/// Registers this process with the kernel as executor backend NAME, declaring every op of the ABI
/// (MATMUL, CONV2D, SOFTMAX, LAYERNORM, ATTENTION, GELU, RELU, ADD, MUL, QUANTIZE, DEQUANTIZE,
/// COPY, SPIKE_ENCODE) in every dtype the ABI allows for it (f32, f16, bf16, i8, fp8-e4m3), all
/// bit-reproducible: results do not depend on --threads. Then fetches, runs and completes jobs
/// until killed (the kernel fails its in-flight jobs with DEVICE_LOST) or MAX_JOBS have run.
/// A job the backend cannot run (say, a zero quantization scale) completes INVALID and is logged
/// on stderr with its reason.
#[derive(Parser, Debug)]
#[command(name = "lightosd", version)]
struct Cli {
    /// The backend name routing rules and `QUERY_BACKENDS` show.
    #[arg(long, default_value = "cpu0")]
    name: String,
    /// Worker threads for one job (0: one per CPU).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Exit after serving this many jobs.
    #[arg(long, value_name = "N")]
    max_jobs: Option<u64>,
    /// The LightOS device node.
    #[arg(long, default_value = DEFAULT_DEVICE_PATH)]
    device: PathBuf,
    /// Log every job, not only refused ones.
    #[arg(long, short)]
    verbose: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lightosd: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> Result<(), Box<dyn std::error::Error>> {
    let engine = Gemm::new(cli.threads)?;
    let dev = Device::open_path(&cli.device)?;
    let exec = dev.register_executor(&lightosd::spec(&cli.name))?;
    eprintln!(
        "lightosd: serving as backend {} ({}): CPU, {} threads, {:?} kernel, blocks {:?}",
        exec.backend_id(),
        cli.name,
        engine.threads(),
        engine.kernel(),
        engine.blocking()
    );
    let stop = AtomicBool::new(false);
    let served = lightosd::serve(&engine, &exec, &stop, cli.max_jobs, |job, report| {
        if let Some(why) = &report.error {
            eprintln!(
                "lightosd: job {} (op {}) refused: {why}",
                job.job_id, job.prim.op
            );
        } else if cli.verbose {
            eprintln!(
                "lightosd: job {} (op {}) {:?}",
                job.job_id, job.prim.op, report.status
            );
        }
    })?;
    eprintln!("lightosd: served {served} jobs");
    Ok(())
}
