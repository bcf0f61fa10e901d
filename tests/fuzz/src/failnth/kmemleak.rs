//! kmemleak after the sweeps: suspects whose allocation stack passes through lightos_core, module
//! loading, a PCI probe or an ioctl fail the run (the failure paths swept are the only such
//! allocations this process made); others are listed as unrelated.

use std::{fs, thread, time::Duration};

const KMEMLEAK: &str = "/sys/kernel/debug/kmemleak";

/// Frames that tie a suspect to what the sweep exercised.
const RELATED: [&str; 8] = [
    "lightos",
    "load_module",
    "do_init_module",
    "really_probe",
    "pci_device_probe",
    "__x64_sys_ioctl",
    "__x64_sys_mmap",
    "do_dentry_open",
];

/// Forgets the suspects found so far (before the sweeps); false when kmemleak is unavailable.
pub fn clear() -> bool {
    fs::write(KMEMLEAK, "clear").is_ok()
}

/// Scans twice (objects younger than 5 s are never reported, so it waits first) and returns
/// `(related, unrelated)` suspects, each as its report text.
pub fn scan() -> Result<(Vec<String>, Vec<String>), String> {
    thread::sleep(Duration::from_secs(6));
    for _ in 0..2 {
        fs::write(KMEMLEAK, "scan").map_err(|e| format!("{KMEMLEAK}: scan: {e}"))?;
    }
    let report = fs::read_to_string(KMEMLEAK).map_err(|e| format!("{KMEMLEAK}: {e}"))?;
    let mut related = Vec::new();
    let mut unrelated = Vec::new();
    for suspect in report
        .split("unreferenced object")
        .skip(1)
        .map(|s| format!("unreferenced object{s}"))
    {
        if RELATED.iter().any(|r| suspect.contains(r)) {
            related.push(suspect);
        } else {
            unrelated.push(suspect);
        }
    }
    Ok((related, unrelated))
}
