//! The probe paths under injection: binding a photonic NPU (its probe runs inside the `write` to
//! the driver's `bind` file) and loading the module (`finit_module`, whose init registers
//! `/dev/lightos`, debugfs and the PCI driver; the NPUs' `driver_override` keeps them from binding
//! during that sweep, their probe being swept on its own).
//!
//! Both run in the calling task, so its `fail-nth` reaches them: driver_register() and the
//! `bind` file probe synchronously, and pci_call_probe() (drivers/pci/pci-driver.c) calls the
//! probe directly unless the device sits on another online NUMA node than the caller; a device's
//! `numa_node` of -1 (no NUMA, as in this guest) means it does. [`check_local_probe`] verifies it.

use super::{inject::Kmsg, state::State, sweep::Tally};
use crate::sys;
use std::{
    fs,
    os::{fd::AsRawFd, unix::fs::FileExt},
    path::Path,
    time::Duration,
};

/// The photonic driver's sysfs directory.
const DRIVER: &str = "/sys/bus/pci/drivers/lightos_photonic";
/// The module's file in the guest.
const MODULE: &str = "/lib/modules/lightos_core.ko";

/// The NPUs' PCI addresses in address order (ivshmem-doorbell functions with an MSI-X BAR, as
/// tests/vm/src/photonic.rs finds them).
pub fn npu_addresses() -> Vec<String> {
    let mut found: Vec<String> = fs::read_dir("/sys/bus/pci/devices")
        .map(|dir| {
            dir.flatten()
                .map(|e| e.path())
                .filter(|d| {
                    let id = |f: &str| fs::read_to_string(d.join(f)).unwrap_or_default();
                    id("vendor").trim() == "0x1af4"
                        && id("device").trim() == "0x1110"
                        && d.join("resource1").exists()
                })
                .filter_map(|d| Some(d.file_name()?.to_str()?.to_string()))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

/// `Err` when `addr`'s probe would run on a worker, out of `fail-nth`'s reach.
fn check_local_probe(addr: &str) -> Result<(), String> {
    let node = fs::read_to_string(format!("/sys/bus/pci/devices/{addr}/numa_node"))
        .unwrap_or_else(|_| "-1".into());
    let online = fs::read_to_string("/sys/devices/system/node/online").unwrap_or_default();
    match node.trim() {
        "-1" => Ok(()),
        n if online.trim() == n => Ok(()),
        n => Err(format!(
            "{addr} is on NUMA node {n} (online: {}): pci_call_probe() may probe it on a worker, \
             where this thread's fail-nth does not reach",
            online.trim()
        )),
    }
}

/// Whether `addr` is bound to the photonic driver.
fn bound(addr: &str) -> bool {
    Path::new(DRIVER).join(addr).exists()
}

/// The backend lines of `/sys/kernel/debug/lightos/stats` (name and id).
fn debugfs_backends() -> Vec<String> {
    fs::read_to_string("/sys/kernel/debug/lightos/stats")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("backend "))
        .map(|l| l.split(" count ").next().unwrap_or(l).to_string())
        .collect()
}

/// Writes `addr` to the driver's `unbind` or `bind` file, unarmed.
fn driver_write(file: &str, addr: &str) -> Result<(), String> {
    fs::write(format!("{DRIVER}/{file}"), addr).map_err(|e| format!("{file} {addr}: {e}"))
}

/// Sweeps the probe of the last NPU: unbind it, then bind it with `fail-nth` = 1, 2, ...
pub fn sweep_bind(
    fail: &sys::FailNth,
    kmsg: &mut Kmsg,
    max_n: u32,
    tally: &mut Tally,
) -> Result<u64, String> {
    let addrs = npu_addresses();
    let Some(addr) = addrs.last().cloned() else {
        println!("failnth: probe: no photonic NPU (boot with --photonic 2); skipped");
        tally.skipped.push("photonic probe");
        return Ok(0);
    };
    check_local_probe(&addr)?;
    let mut found = Vec::new();
    let mut sites = Vec::new();
    let mut others = Vec::new();
    let mut violation = |what: String| {
        eprintln!("failnth: VIOLATION probe {addr}: {what}");
        found.push(format!("probe {addr}: {what}"));
    };
    driver_write("unbind", &addr)?;
    let bind = fs::OpenOptions::new()
        .write(true)
        .open(format!("{DRIVER}/bind"))
        .map_err(|e| format!("{DRIVER}/bind: {e}"))?;
    // Captured with `bind` open, as it stays during the sweep.
    let state = State::capture(&[])?;
    let backends = debugfs_backends();
    let (mut injected, mut enomem, mut tolerated) = (0u64, 0u64, 0u64);
    let mut n = 1;
    let unbound_state_ok = |violation: &mut dyn FnMut(String), n: u32, what: &str| {
        if bound(&addr) {
            violation(format!("n = {n}: {what}, yet the NPU is bound"));
        }
        match State::capture(&[]) {
            Ok(now) => {
                let d = state.diff(&now);
                if !d.is_empty() {
                    violation(format!(
                        "n = {n}: {what}, and the module's state differs: {d}"
                    ));
                }
            }
            Err(e) => violation(format!(
                "n = {n}: {what}, and the state cannot be read: {e}"
            )),
        }
        let now = debugfs_backends();
        if now != backends {
            violation(format!(
                "n = {n}: {what}, and debugfs lists backends {now:?}, not {backends:?}"
            ));
        }
    };
    loop {
        if n > max_n {
            violation(format!("still failing at n = {max_n} (--max-n)"));
            break;
        }
        kmsg.skip();
        fail.arm(n).map_err(|e| format!("arming fail-nth: {e}"))?;
        let r = bind.write_at(addr.as_bytes(), 0);
        let fired = fail.disarm();
        if !fired {
            if let Err(e) = r {
                violation(format!("n = {n} (nothing injected): bind failed: {e}"));
            }
            break;
        }
        injected += 1;
        let site = kmsg
            .site()
            .unwrap_or_else(|| "a silent (__GFP_NOWARN) allocation".into());
        match r {
            Ok(_) => {
                tolerated += 1;
                sites.push(format!("photonic probe at {site}"));
                if !bound(&addr) {
                    violation(format!(
                        "n = {n}: bind succeeded (failure at {site}) but the NPU is not bound"
                    ));
                }
                driver_write("unbind", &addr)?;
            }
            Err(e) => {
                if e.raw_os_error() == Some(libc::ENOMEM) {
                    enomem += 1;
                } else {
                    // The kernel service that failed answered otherwise (pci_alloc_irq_vectors:
                    // ENOSPC); the probe passes its error on. Clean (checked below), reported.
                    println!("failnth: probe n = {n}: failure at {site}: bind failed with {e}");
                    others.push(format!("photonic probe: {e} at {site}"));
                }
                unbound_state_ok(&mut violation, n, &format!("bind failed ({e}, at {site})"));
                // A clean bind must work after the failed one.
                match driver_write("bind", &addr) {
                    Ok(()) => driver_write("unbind", &addr)?,
                    Err(e) => {
                        violation(format!(
                            "n = {n}: after the failure at {site}, a clean bind fails: {e}"
                        ));
                        break;
                    }
                }
            }
        }
        n += 1;
    }
    if !bound(&addr) {
        driver_write("bind", &addr)?;
    }
    println!(
        "failnth: {:<44} {n:>4} tries, {injected:>4} injected: {enomem:>4} ENOMEM, {tolerated:>3} tolerated",
        format!("photonic probe (bind {addr})")
    );
    tally.tries += u64::from(n);
    tally.other_errnos.extend(others);
    tally.violations.extend(found);
    for site in sites {
        *tally.tolerated.entry(site).or_default() += 1;
    }
    tally.kernel_reports(kmsg, "photonic probe");
    tally.injected += injected;
    tally.enomem += enomem;
    Ok(injected)
}

/// Sets every NPU's `driver_override` (`none`: no driver binds it; a bare newline clears it: any
/// matching driver; an empty write would not reach the attribute at all).
fn override_npus(value: &str) -> Result<(), String> {
    for addr in npu_addresses() {
        let path = format!("/sys/bus/pci/devices/{addr}/driver_override");
        fs::write(&path, value).map_err(|e| format!("{path}: {e}"))?;
    }
    Ok(())
}

/// Whether lightos_core is loaded.
fn loaded() -> bool {
    Path::new("/sys/module/lightos_core").exists()
}

/// Unloads lightos_core (it may take a moment for the last file references to go).
fn unload() -> Result<(), String> {
    let mut last = 0;
    for _ in 0..50 {
        match sys::delete_module(c"lightos_core") {
            Ok(()) => return Ok(()),
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("delete_module(lightos_core): errno {last}"))
}

/// After a load, the module must work: `/dev/lightos` answers GET_INFO and `npus` NPUs are bound.
fn works(npus: usize) -> Result<(), String> {
    let fd = super::fixture::open()?;
    let mut info = lightos_uapi::Info::zeroed();
    super::fixture::call(fd.0, lightos_uapi::IOC_NR_GET_INFO, &mut info, "GET_INFO")?;
    let bound = npu_addresses().iter().filter(|a| bound(a)).count();
    if bound != npus {
        return Err(format!("{bound} of {npus} NPUs bound"));
    }
    Ok(())
}

/// Sweeps module loading: unload lightos_core, then load it with `fail-nth` = 1, 2, ... No
/// descriptor of `/dev/lightos` may be open. Leaves the module loaded.
pub fn sweep_init(
    fail: &sys::FailNth,
    kmsg: &mut Kmsg,
    max_n: u32,
    stride: u32,
    tally: &mut Tally,
) -> Result<u64, String> {
    let mut found = Vec::new();
    let mut sites = Vec::new();
    let mut others = Vec::new();
    let mut violation = |what: String| {
        eprintln!("failnth: VIOLATION module init: {what}");
        found.push(format!("module init: {what}"));
    };
    let ko = fs::File::open(MODULE).map_err(|e| format!("{MODULE}: {e}"))?;
    let npus = npu_addresses().iter().filter(|a| bound(a)).count();
    for addr in npu_addresses() {
        check_local_probe(&addr)?;
    }
    unload()?;
    // The NPUs' probe has its own sweep (above); during this one no NPU binds, so that every try
    // is the init alone (a probe failing in init only leaves its NPU unbound).
    override_npus("none")?;
    let (mut injected, mut enomem, mut tolerated, mut in_module) = (0u64, 0u64, 0u64, 0u64);
    let mut tries = 0u64;
    let mut n = 1;
    let mut stop = false;
    while !stop {
        if n > max_n {
            violation(format!("still failing at n = {max_n} (--max-n)"));
            break;
        }
        kmsg.skip();
        fail.arm(n).map_err(|e| format!("arming fail-nth: {e}"))?;
        let r = sys::finit_module(ko.as_raw_fd());
        let fired = fail.disarm();
        tries += 1;
        if !fired {
            match r {
                Ok(()) => {
                    if let Err(e) = works(0) {
                        violation(format!("n = {n} (nothing injected): loaded but {e}"));
                    }
                }
                Err(e) => violation(format!(
                    "n = {n} (nothing injected): finit_module: errno {e}"
                )),
            }
            break;
        }
        injected += 1;
        let site = kmsg
            .site()
            .unwrap_or_else(|| "a silent (__GFP_NOWARN) allocation".into());
        if site.contains("[lightos_core]") {
            in_module += 1;
        }
        match r {
            Ok(()) => {
                // Allowed when what failed was optional (a debugfs file) or one NPU's probe (the
                // driver stays registered without it).
                tolerated += 1;
                sites.push(format!("module init at {site}"));
                if let Err(e) = super::fixture::open() {
                    violation(format!(
                        "n = {n}: loaded despite the failure at {site}, but {e}"
                    ));
                }
                unload()?;
            }
            Err(e) => {
                if e == libc::ENOMEM {
                    enomem += 1;
                } else {
                    println!("failnth: init n = {n}: failure at {site}: finit_module failed with errno {e}");
                    others.push(format!("module init: errno {e} at {site}"));
                }
                if loaded()
                    || Path::new(sys::DEV).exists()
                    || Path::new("/sys/kernel/debug/lightos").exists()
                {
                    violation(format!(
                        "n = {n}: the load failed (at {site}) but the module, /dev/lightos or its debugfs remain"
                    ));
                    stop = true;
                }
            }
        }
        n += stride;
    }
    // Whatever happened, a clean load must work now, and bind the NPUs again.
    if loaded() {
        unload()?;
    }
    override_npus("\n")?;
    if !loaded() {
        if let Err(e) = sys::finit_module(ko.as_raw_fd()) {
            violation(format!("a clean load after the sweep fails: errno {e}"));
        }
    }
    if let Err(e) = works(npus) {
        violation(format!("after the sweep, the module does not work: {e}"));
    }
    println!(
        "failnth: {:<44} {tries:>4} tries, {injected:>4} injected: {enomem:>4} ENOMEM, {tolerated:>3} tolerated; {in_module} in lightos_core's own code",
        if stride == 1 { "module init".to_string() } else { format!("module init (every {stride}th n)") }
    );
    tally.tries += tries;
    tally.injected += injected;
    tally.enomem += enomem;
    tally.other_errnos.extend(others);
    tally.violations.extend(found);
    for site in sites {
        *tally.tolerated.entry(site).or_default() += 1;
    }
    tally.kernel_reports(kmsg, "module init");
    Ok(injected)
}
