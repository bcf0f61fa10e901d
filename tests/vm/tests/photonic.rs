//! The emulated photonic NPU as the guest sees it (make test boots with `qemu/run --photonic`): a PCI
//! ivshmem-doorbell function whose BAR2 carries the emulator's header (`regs.rs`), read here through
//! the sysfs resource file, before any driver exists.

use std::{fs, os::fd::AsRawFd, path::PathBuf};

#[path = "../../../kernel/drivers/photonic/regs.rs"]
#[allow(dead_code)]
mod regs;

/// NPU 0's PCI function (see `lightos_vm_tests::photonic::npu_addresses`).
fn ivshmem_device() -> Option<PathBuf> {
    let address = lightos_vm_tests::photonic::npu_addresses()
        .into_iter()
        .next()?;
    Some(PathBuf::from("/sys/bus/pci/devices").join(address))
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
