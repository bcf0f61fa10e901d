//! Helpers for the guest test suite. These tests run only inside the QEMU guest (qemu/run), where
//! `/dev/lightos` is the real module; on the host they are built but not run (see tests/run-all.sh).

use lightos_uapi as uapi;
use std::{
    fs::File,
    os::fd::{AsRawFd, RawFd},
    process::Command,
};

/// Where the guest image keeps the module.
pub const MODULE_PATH: &str = "/lib/modules/lightos_core.ko";

/// Opens `/dev/lightos` read-write, panicking with the errno if that fails.
pub fn open_dev() -> File {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/lightos")
        .unwrap_or_else(|e| panic!("open /dev/lightos: {e}"))
}

/// Issues a raw ioctl whose argument is the user address `arg`; returns `Ok(ret)` or `Err(errno)`.
/// Tests pass addresses of memory valid for the size encoded in `cmd`, or deliberately invalid ones
/// that the kernel must reject with EFAULT.
pub fn raw_ioctl(fd: RawFd, cmd: u32, arg: usize) -> Result<i32, i32> {
    // SAFETY: the kernel validates `arg` as a user address; an invalid one is EFAULT, never UB here
    // (the tests own any memory they point it at for the duration of the call).
    let ret = unsafe { libc::ioctl(fd, cmd as libc::Ioctl, arg as *mut libc::c_void) };
    if ret < 0 {
        Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    } else {
        Ok(ret)
    }
}

/// Calls GET_INFO on the user address `buf` with the size encoded as `size`.
pub fn get_info_sized(file: &File, buf: usize, size: usize) -> Result<i32, i32> {
    let cmd = uapi::iowr(uapi::IOC_NR_GET_INFO, size);
    raw_ioctl(file.as_raw_fd(), cmd, buf)
}

/// Calls GET_INFO with the exact v1 size.
pub fn get_info(file: &File, info: &mut uapi::Info) -> Result<i32, i32> {
    get_info_sized(
        file,
        info as *mut uapi::Info as usize,
        std::mem::size_of::<uapi::Info>(),
    )
}

/// The module-wide count of open contexts, seen from a fresh context (so one more than the others).
pub fn open_contexts_besides_probe() -> u32 {
    let f = open_dev();
    let mut info = uapi::Info::zeroed();
    get_info(&f, &mut info).expect("GET_INFO");
    info.open_contexts - 1
}

/// Whether lightos_core is listed in /proc/modules.
pub fn module_loaded() -> bool {
    std::fs::read_to_string("/proc/modules")
        .map(|s| s.lines().any(|l| l.starts_with("lightos_core ")))
        .unwrap_or(false)
}

/// Runs a command, returning whether it succeeded and its stderr.
pub fn run(cmd: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Loads the module if it is not loaded.
pub fn ensure_loaded() {
    if !module_loaded() {
        let (ok, err) = run("insmod", &[MODULE_PATH]);
        assert!(ok, "insmod: {err}");
    }
}

/// The kmemleak control file (CONFIG_DEBUG_KMEMLEAK, debugfs mounted by the guest's init).
const KMEMLEAK: &str = "/sys/kernel/debug/kmemleak";

/// Forgets every leak suspect kmemleak knows of now; returns false when kmemleak is unavailable.
pub fn kmemleak_clear() -> bool {
    std::fs::write(KMEMLEAK, "clear").is_ok()
}

/// Scans for leaks and returns the suspects reported since the last [`kmemleak_clear`].
/// kmemleak only reports objects older than 5 s, so callers wait that long after the work.
pub fn kmemleak_reports() -> Vec<String> {
    std::fs::write(KMEMLEAK, "scan").expect("kmemleak scan");
    let report = std::fs::read_to_string(KMEMLEAK).expect("read kmemleak");
    report
        .split("unreferenced object")
        .skip(1)
        .map(|r| r.trim().to_string())
        .collect()
}
