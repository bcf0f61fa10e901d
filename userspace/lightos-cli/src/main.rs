//! `lightos`: the LightOS command line.

mod executor;
mod info;

use clap::{Parser, Subcommand};
use std::{path::PathBuf, process::ExitCode};

/// LightOS: one interface to AI compute on GPUs, CPUs and photonic NPUs, through /dev/lightos.
#[derive(Parser, Debug)]
#[command(name = "lightos", version, about, long_about = None)]
struct Cli {
    /// The LightOS device node.
    #[arg(long, global = true, default_value = lightos_runtime::DEFAULT_DEVICE_PATH, value_name = "PATH")]
    device: PathBuf,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Show the kernel module's version, ABI, capabilities and limits.
    ///
    /// Opens the device node (a new kernel context), calls LIGHTOS_IOC_GET_INFO and prints the reply.
    /// Exits 1 with the errno and a hint when the module is not loaded or refuses the call.
    Info,
    /// Serve primitives as the reference CPU executor (a userspace backend of /dev/lightos).
    ///
    /// Registers this process with the kernel as backend NAME (ops COPY, ADD, MUL, RELU, GELU,
    /// SOFTMAX, LAYERNORM, MATMUL on f32, bit-reproducible), then fetches, runs and completes jobs
    /// until killed (its in-flight jobs then fail with DEVICE_LOST) or MAX_JOBS have run.
    Executor {
        /// The backend name routing rules and `QUERY_BACKENDS` show.
        #[arg(long, default_value = "cpu0")]
        name: String,
        /// Exit after serving this many jobs.
        #[arg(long, value_name = "N")]
        max_jobs: Option<u64>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Info => info::run(&cli.device, cli.json),
        Command::Executor { name, max_jobs } => executor::run(&cli.device, &name, max_jobs),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("lightos: {err}");
            ExitCode::FAILURE
        }
    }
}
