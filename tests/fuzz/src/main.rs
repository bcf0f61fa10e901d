//! `lightos-fuzz`: the structure-aware fuzzer of `/dev/lightos` and its allocation-failure injector.
//! It runs inside the guest (`make fuzz`, and a short smoke run in `make test`); see
//! tests/fuzz/README.md for the pass rule and docs/RELIABILITY.md for the runs.

mod failnth;
mod sys;

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
    /// Sweep allocation failures over every ioctl and the probe path (needs the debug kernel).
    Failnth(failnth::FailNthArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
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
