//! `lightos-fuzz`: the structure-aware fuzzer of `/dev/lightos` and its allocation-failure injector.
//! It runs inside the guest (`make fuzz` on the debug kernel, and a short smoke run in `make test`);
//! tests/fuzz/README.md has the pass rule and docs/RELIABILITY.md the runs.

mod check;
mod emulator;
mod exec;
mod failnth;
mod fuzz;
mod gen;
mod kcov;
mod kmsg;
mod prog;
mod shared;
mod sys;
mod watchdog;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(name = "lightos-fuzz", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Fuzz /dev/lightos: generated and coverage-mutated call sequences, checked against the kernel log.
    Run(fuzz::RunArgs),
    /// Run a saved program (the JSON a failing run printed) and fail on a kernel report.
    Replay {
        /// The program file.
        file: String,
        /// How many times to run it.
        #[arg(long, default_value_t = 1)]
        repeat: u32,
        /// Photonic NPUs its fault commands may go to.
        #[arg(long, default_value_t = 0)]
        npus: u8,
    },
    /// Check that the module's counters are back to zero (after a run, with no fuzzer left).
    Check,
    /// Read the whole kernel log (every level) and fail on any oops, WARN, lockdep or sanitizer report.
    KernelLog,
    /// Sweep allocation failures over every ioctl and the probe path (needs the debug kernel).
    Failnth(failnth::FailNthArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Run(a) => fuzz::run(a),
        Command::Replay { file, repeat, npus } => fuzz::replay(file, *repeat, *npus),
        Command::Check => check::run(),
        Command::KernelLog => kmsg::scan_all(),
        Command::Failnth(a) => failnth::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lightos-fuzz: {e}");
            ExitCode::FAILURE
        }
    }
}
