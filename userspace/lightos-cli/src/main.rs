//! `lightos`: the LightOS command line.

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Info => info::run(&cli.device, cli.json),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("lightos: {err}");
            ExitCode::FAILURE
        }
    }
}
