//! `lightos executor`: serve the core ops on the CPU backend until killed or done.

use lightos_runtime::{Context, ServeUntil};
use lightosd::{core_spec, Server};
use std::path::Path;

/// Registers as executor `name` (the core set, [`core_spec`]) and serves its jobs with the CPU
/// backend on one thread; stops after `max_jobs` when given.
pub fn run(
    device: &Path,
    name: &str,
    max_jobs: Option<u64>,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut server = Server::core_cpu()?;
    let dev = Context::open_path(device)?;
    let exec = dev.register_executor(&core_spec(name))?;
    eprintln!(
        "lightos executor: serving as backend {} ({name}, CPU backend, core ops on f32); Ctrl-C to stop",
        exec.backend_id()
    );
    let served = exec.serve(
        &mut server,
        ServeUntil {
            max_jobs,
            ..Default::default()
        },
    )?;
    eprintln!("lightos executor: served {served} jobs");
    Ok(())
}
