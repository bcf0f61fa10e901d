//! Engines run a compiled [`Program`]: [`Device`] through `/dev/lightos` (every primitive a job
//! of the kernel, run by whichever backend the context routes it to), [`InProcess`] by calling
//! the CPU backend's kernels in this process (the same code `lightosd` runs; for hosts without the
//! module, and as the in-process baseline of the benchmarks).

mod device;
mod in_process;

pub use device::Device;
pub use in_process::InProcess;

use crate::{compile::Program, GraphError, Result};

/// Something that runs a program.
pub trait Engine {
    /// Runs the program once on `feeds` (the bytes of each graph input, in the program's input
    /// order); returns each graph output's bytes, in output order.
    fn run(&mut self, feeds: &[&[u8]]) -> Result<Vec<Vec<u8>>>;

    /// The program it runs.
    fn program(&self) -> &Program;
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
