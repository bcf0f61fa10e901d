//! Engines run a compiled [`Program`]: [`Device`] through `/dev/lightos` (every primitive a job
//! of the kernel, run by whichever backend the context routes it to), [`InProcess`] by calling
//! the CPU backend's kernels in this process (the same code `lightosd` runs; for hosts without the
//! module, and as the in-process baseline of the benchmarks).

pub mod device;
mod in_process;

pub use device::Device;
pub use in_process::InProcess;

use crate::{compile::Program, GraphError, Result};

/// Something that runs a program.
pub trait Engine: Send {
    /// Runs the program once on `feeds` (the bytes of each graph input, in the program's input
    /// order); returns each graph output's bytes, in output order.
    fn run(&mut self, feeds: &[&[u8]]) -> Result<Vec<Vec<u8>>>;

    /// As [`Engine::run`], asking `stop` between steps (in process) or while it waits for jobs
    /// (through the kernel: the steps then go in smaller batches, [`device::STOPPABLE_BATCH`]);
    /// once `stop` says so, no further step starts, the jobs already submitted are waited for
    /// (their buffers are the next run's), and the run ends with [`GraphError::Interrupted`].
    fn run_until(&mut self, feeds: &[&[u8]], stop: &dyn Fn() -> bool) -> Result<Vec<Vec<u8>>>;

    /// The program it runs.
    fn program(&self) -> &Program;

    /// Nanoseconds each step took in the last run, by step (the device's own count through the
    /// kernel: the completion entry's `device_ns`; wall time in process); empty before a run.
    fn step_ns(&self) -> &[u64];
}

/// Checks `feeds` against the program's inputs and writes each into its space (`spaces[i]`: the
/// bytes of space `i`).
fn write_feeds<S: std::ops::DerefMut<Target = [u8]>>(
    program: &Program,
    feeds: &[&[u8]],
    spaces: &mut [S],
) -> Result<()> {
    check_feeds(program, feeds)?;
    for (feed, input) in feeds.iter().zip(&program.inputs) {
        let at = input.offset as usize;
        spaces[input.space as usize][at..at + feed.len()].copy_from_slice(feed);
    }
    Ok(())
}

/// Each graph output's bytes, read from its space.
fn read_outputs<S: std::ops::Deref<Target = [u8]>>(
    program: &Program,
    spaces: &[S],
) -> Vec<Vec<u8>> {
    program
        .outputs
        .iter()
        .map(|o| {
            let at = o.offset as usize;
            spaces[o.space as usize][at..at + o.bytes() as usize].to_vec()
        })
        .collect()
}

/// Checks `feeds` against the program's inputs: their count and each one's size.
pub fn check_feeds(program: &Program, feeds: &[&[u8]]) -> Result<()> {
    if feeds.len() != program.inputs.len() {
        return Err(GraphError::Run {
            what: "inputs".into(),
            reason: format!(
                "{} given, the graph has {}",
                feeds.len(),
                program.inputs.len()
            ),
        });
    }
    for (feed, input) in feeds.iter().zip(&program.inputs) {
        if feed.len() as u64 != input.bytes() {
            return Err(GraphError::Run {
                what: format!("input {}", input.name),
                reason: format!(
                    "{} bytes given, {:?} {} takes {}",
                    feed.len(),
                    input.dims,
                    input.dtype.name(),
                    input.bytes()
                ),
            });
        }
    }
    Ok(())
}

/// The error of step `index` of `program`.
fn step_error(program: &Program, index: usize, reason: impl std::fmt::Display) -> GraphError {
    let step = &program.steps[index];
    GraphError::Run {
        what: format!("node {} ({}, step {index})", step.node, step.op),
        reason: reason.to_string(),
    }
}
