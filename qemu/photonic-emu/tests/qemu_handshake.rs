//! QEMU's own ivshmem-doorbell device connects to the emulator's server: the handshake is the one
//! QEMU implements, not only the one our unit test expects. Needs `qemu-system-x86_64` (installed by
//! `make setup`, which `make test` runs first).

use photonic_emu::ivshmem::IvshmemServer;
use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

#[test]
fn qemu_ivshmem_doorbell_completes_the_handshake() {
    let dir = std::env::temp_dir().join(format!("photonic-emu-qemu-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("sock");
    let mut server = IvshmemServer::bind(&sock, 1 << 20, 2).unwrap();
    let mut qemu = Command::new("qemu-system-x86_64")
        .args([
            "-S",
            "-display",
            "none",
            "-nodefaults",
            "-machine",
            "pc",
            "-m",
            "64",
        ])
        .args(["-monitor", "none", "-serial", "none", "-chardev"])
        .arg(format!("socket,path={},id=ivsh", sock.display()))
        .args(["-device", "ivshmem-doorbell,chardev=ivsh,vectors=2"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("qemu-system-x86_64 is needed (make setup installs it)");
    server.accept_guest().unwrap();
    // A handshake QEMU rejects makes it exit at once with an error; give it time to do so.
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(2) {
        if let Some(status) = qemu.try_wait().unwrap() {
            let out = qemu.wait_with_output().unwrap();
            panic!(
                "QEMU exited ({status}): {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    qemu.kill().unwrap();
    let _ = qemu.wait();
    std::fs::remove_dir_all(&dir).unwrap();
}
