//! `lightosd`: the LightOS executor daemon.

use clap::{Parser, ValueEnum};
use lightos_cpu::Gemm;
use lightos_cuda::{CudaDevice, CudaError};
use lightos_runtime::{Context, ServeUntil, DEFAULT_DEVICE_PATH};
use lightosd::{Backend, Log, Server};
use std::{path::PathBuf, process::ExitCode};

/// Exit status when the chosen backend cannot run on this machine (sysexits' EX_UNAVAILABLE):
/// `--backend cuda` without an NVIDIA driver, cuBLAS or NVRTC.
const EXIT_UNAVAILABLE: u8 = 69;

/// Serve /dev/lightos jobs on the CPU or an NVIDIA GPU.
///
/// Registers this process with the kernel as executor backend NAME and then fetches, runs and
/// completes jobs until killed (the kernel fails its in-flight jobs with DEVICE_LOST) or MAX_JOBS
/// have run. A job the backend cannot run (say, a zero quantization scale) completes INVALID and
/// is logged on stderr with its reason.
///
/// --backend cpu (the default) declares every op of the ABI (MATMUL, CONV2D, SOFTMAX, LAYERNORM,
/// ATTENTION, GELU, RELU, ADD, MUL, QUANTIZE, DEQUANTIZE, COPY, SPIKE_ENCODE) in every dtype the
/// ABI allows for it (f32, f16, bf16, i8, fp8-e4m3), all bit-reproducible: results do not depend
/// on --threads.
///
/// --backend cuda runs on GPU --gpu through cuBLAS and NVRTC kernels, loaded at run time: MATMUL,
/// ATTENTION, SOFTMAX, LAYERNORM, GELU, RELU, ADD, MUL, QUANTIZE, DEQUANTIZE, COPY, SPIKE_ENCODE in the same
/// dtypes. Without an NVIDIA driver, cuBLAS or NVRTC it says "no CUDA driver" and exits with
/// status 69 before registering.
#[derive(Parser, Debug)]
#[command(name = "lightosd", version)]
struct Cli {
    /// What runs the jobs.
    #[arg(long, value_enum, default_value_t = BackendKind::Cpu)]
    backend: BackendKind,
    /// The backend name routing rules and `QUERY_BACKENDS` show [default: cpu0, or cudaN for
    /// --backend cuda --gpu N].
    #[arg(long)]
    name: Option<String>,
    /// Worker threads for one job on the CPU backend (0: one per CPU).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// The GPU (CUDA ordinal) of --backend cuda.
    #[arg(long, default_value_t = 0, value_name = "N")]
    gpu: usize,
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

/// The backends `--backend` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum BackendKind {
    /// The CPU backend (lightos-cpu).
    Cpu,
    /// An NVIDIA GPU through cudarc (lightos-cuda).
    Cuda,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let backend = match open_backend(&cli) {
        Ok(b) => b,
        Err(e @ CudaError::Unavailable(_)) => {
            eprintln!("lightosd: {e}");
            return ExitCode::from(EXIT_UNAVAILABLE);
        }
        Err(e) => {
            eprintln!("lightosd: {e}");
            return ExitCode::FAILURE;
        }
    };
    match run(&cli, backend) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lightosd: {e}");
            if let Some(hint) = e
                .downcast_ref::<lightos_runtime::Error>()
                .and_then(|e| e.hint())
            {
                eprintln!("lightosd: hint: {hint}");
            }
            ExitCode::FAILURE
        }
    }
}

fn open_backend(cli: &Cli) -> Result<Backend, CudaError> {
    Ok(match cli.backend {
        BackendKind::Cpu => Backend::Cpu(Gemm::new(cli.threads)?),
        BackendKind::Cuda => Backend::Cuda(Box::new(CudaDevice::open(cli.gpu)?)),
    })
}

fn run(cli: &Cli, backend: Backend) -> Result<(), Box<dyn std::error::Error>> {
    let name = cli.name.clone().unwrap_or_else(|| match cli.backend {
        BackendKind::Cpu => "cpu0".into(),
        BackendKind::Cuda => format!("cuda{}", cli.gpu),
    });
    let dev = Context::open_path(&cli.device)?;
    let spec = backend.spec(&name);
    let exec = dev.register_executor(&spec)?;
    eprintln!(
        "lightosd: serving as backend {} ({name}): {}",
        exec.backend_id(),
        backend.describe()
    );
    let mut server = Server::new(backend, &spec).log(if cli.verbose {
        Log::Every
    } else {
        Log::Refused
    });
    let served = exec.serve(
        &mut server,
        ServeUntil {
            max_jobs: cli.max_jobs,
            ..Default::default()
        },
    )?;
    eprintln!("lightosd: served {served} jobs");
    Ok(())
}
