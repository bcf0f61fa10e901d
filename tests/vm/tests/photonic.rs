//! The emulated photonic NPU as the guest sees it (make test boots with `qemu/run --photonic`): a PCI
//! ivshmem-doorbell function whose BAR2 carries the emulator's header (`regs.rs`), read here through
//! the sysfs resource file, before any driver exists.

use std::{fs, os::fd::AsRawFd, path::PathBuf};

#[path = "../../../kernel/drivers/photonic/regs.rs"]
#[allow(dead_code)]
mod regs;

/// The PCI function with ivshmem's vendor and device ids and an MSI-X table (BAR1): the
/// doorbell variant the emulator serves (qemu/run also attaches a plain one with the same ids).
fn ivshmem_device() -> Option<PathBuf> {
    fs::read_dir("/sys/bus/pci/devices")
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|d| {
            let id = |f: &str| {
                fs::read_to_string(d.join(f))
                    .unwrap_or_default()
                    .trim()
                    .to_string()
            };
            id("vendor") == "0x1af4" && id("device") == "0x1110" && d.join("resource1").exists()
        })
}

#[test]
fn the_guest_sees_the_npu_and_its_bar2_header() {
    let dev =
        ivshmem_device().expect("no ivshmem PCI function: was the guest booted with --photonic?");
    let bar2 = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(dev.join("resource2"))
        .unwrap();
    let len = bar2.metadata().unwrap().len() as usize;
    assert!(len >= regs::BAR2_MIN_SIZE, "BAR2 is {len} bytes");
    // SAFETY: a shared read-only mapping of the device's BAR2 for the duration of this test; the
    // header is read with a volatile load and the mapping is removed before returning.
    let header = unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            bar2.as_raw_fd(),
            0,
        );
        assert_ne!(
            p,
            libc::MAP_FAILED,
            "mmap of BAR2: {}",
            std::io::Error::last_os_error()
        );
        let h = std::ptr::read_volatile(p.cast::<regs::Header>());
        libc::munmap(p, len);
        h
    };
    assert_eq!(header.magic, regs::MAGIC, "BAR2 magic");
    assert_eq!(header.version, regs::VERSION);
    assert_eq!(header.ring_entries as usize, regs::RING_ENTRIES);
    assert_eq!(header.mesh_size, 64);
    assert_ne!(header.capabilities & regs::CAP_MATMUL, 0);
}
