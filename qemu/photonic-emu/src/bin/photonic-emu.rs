//! `photonic-emu SOCKET`: serve the ivshmem-doorbell handshake for one guest and report it.
//! (The device model's command loop on BAR2 comes next; today this checks QEMU's side connects.)

use photonic_emu::{ivshmem::IvshmemServer, regs};
use std::{path::PathBuf, process::ExitCode};

fn main() -> ExitCode {
    let Some(path) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: photonic-emu SOCKET");
        return ExitCode::from(2);
    };
    let run = || -> std::io::Result<()> {
        let mut server = IvshmemServer::bind(&path, 1 << 20, usize::from(regs::VECTORS))?;
        eprintln!(
            "photonic-emu: listening on {} (BAR2 {} KiB)",
            path.display(),
            server.shm_size() / 1024
        );
        server.accept_guest()?;
        eprintln!("photonic-emu: guest connected");
        // Wait for the first doorbell, so a caller can see both directions work.
        let rings = server.wait_doorbell(0)?;
        eprintln!("photonic-emu: doorbell 0 rang {rings} time(s)");
        Ok(())
    };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("photonic-emu: {e}");
            ExitCode::FAILURE
        }
    }
}
