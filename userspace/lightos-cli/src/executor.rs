//! `lightos executor`: serve jobs as the reference CPU executor until killed or done.

use lightos_runtime::{reference_cpu, Device, Result};
use std::{path::Path, sync::atomic::AtomicBool};

/// Registers as executor `name` and serves jobs; stops after `max_jobs` when given.
pub fn run(device: &Path, name: &str, max_jobs: Option<u64>) -> Result<()> {
    let dev = Device::open_path(device)?;
    let exec = dev.register_executor(&reference_cpu::spec(name))?;
    eprintln!(
        "lightos executor: serving as backend {} ({name}, reference CPU, f32); Ctrl-C to stop",
        exec.backend_id()
    );
    let stop = AtomicBool::new(false);
    let served = reference_cpu::serve(&exec, &stop, max_jobs)?;
    eprintln!("lightos executor: served {served} jobs");
    Ok(())
}
