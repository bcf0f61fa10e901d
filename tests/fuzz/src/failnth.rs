//! Allocation-failure injection: every ioctl and the probe path, with `fail-nth`.
//! (Being written; see `lightos-fuzz failnth --help`.)

use clap::Args;

/// Options of `lightos-fuzz failnth`.
#[derive(Args, Debug)]
pub struct FailNthArgs {}

/// Runs the allocation-failure sweep.
pub fn run(_args: &FailNthArgs) -> Result<(), String> {
    Err("failnth: not written yet".into())
}
