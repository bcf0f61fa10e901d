//! `photonic-emu SOCKET`: the emulated photonic NPU. Creates BAR2 (shared memory) with the layout of
//! `regs.rs`, listens for QEMU's ivshmem-doorbell device on SOCKET, and serves the guest until QEMU
//! goes away or the process is killed. (The command loop on the rings is the next step of issue 4;
//! today every doorbell is acknowledged on the completion vector.)

use photonic_emu::{ivshmem::IvshmemServer, regs};
use std::{path::PathBuf, process::ExitCode};

/// BAR2 size: a power of two that holds the layout.
const BAR2_SIZE: usize = 1 << 20;

/// Writes the identification header at the start of BAR2.
fn write_header(server: &IvshmemServer) -> std::io::Result<()> {
    use nix::sys::mman::{mmap, munmap, MapFlags, ProtFlags};
    let len =
        std::num::NonZeroUsize::new(server.shm_size()).ok_or(std::io::ErrorKind::InvalidInput)?;
    // SAFETY: a fresh shared mapping of the memfd this process created; unmapped below, and no Rust
    // reference to it escapes.
    let base = unsafe {
        mmap(
            None,
            len,
            ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
            MapFlags::MAP_SHARED,
            server.shm(),
            0,
        )
    }
    .map_err(|e| std::io::Error::from_raw_os_error(e as i32))?;
    let header = regs::Header {
        magic: regs::MAGIC,
        version: regs::VERSION,
        capabilities: regs::CAP_MATMUL | regs::CAP_CALIBRATE | regs::CAP_THERMAL,
        mesh_size: 64,
        ring_entries: regs::RING_ENTRIES as u32,
        dac_bits: 16,
        adc_bits: 12,
        reserved: [0; 4],
    };
    // SAFETY: BAR2 is at least `BAR2_MIN_SIZE` bytes, the header fits at offset 0 and is plain data;
    // the guest cannot be connected yet, so nothing else writes it.
    unsafe {
        std::ptr::write_volatile(
            base.as_ptr()
                .cast::<u8>()
                .add(regs::HEADER_OFFSET)
                .cast::<regs::Header>(),
            header,
        );
        munmap(base, len.get()).map_err(|e| std::io::Error::from_raw_os_error(e as i32))?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let Some(path) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: photonic-emu SOCKET   (the emulated LightOS photonic NPU; QEMU connects to SOCKET)");
        return ExitCode::from(2);
    };
    let run = || -> std::io::Result<()> {
        let mut server = IvshmemServer::bind(&path, BAR2_SIZE, usize::from(regs::VECTORS))?;
        write_header(&server)?;
        eprintln!(
            "photonic-emu: listening on {} (BAR2 {} KiB)",
            path.display(),
            BAR2_SIZE / 1024
        );
        server.accept_guest()?;
        eprintln!("photonic-emu: guest connected");
        loop {
            server.wait_doorbell(0)?;
            server.interrupt_guest(usize::from(regs::VECTOR_COMPLETION))?;
        }
    };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("photonic-emu: {e}");
            ExitCode::FAILURE
        }
    }
}
