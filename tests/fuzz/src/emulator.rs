//! The photonic emulators' fault-injection channel: NPU `i`'s commands go over the guest's
//! `/dev/ttyS<i+1>` (qemu/run --photonic; `help` lists them: hang, corrupt-completion,
//! cooling-failure on|off, runaway WATTS|off, clear, status).

use std::{
    fs::OpenOptions,
    io::{Read, Write},
    os::fd::AsRawFd,
};

/// The commands the fuzzer sends (never `remove`, which would end the NPU for the rest of the run).
pub const COMMANDS: &[&str] = &[
    "hang",
    "corrupt-completion",
    "cooling-failure on",
    "cooling-failure off",
    "runaway 4",
    "runaway off",
    "clear",
    "status",
];

/// Sends `cmd` to NPU `npu`'s emulator and returns its reply line ("" if none within 2 s).
pub fn send(npu: u8, cmd: &str) -> String {
    let path = format!("/dev/ttyS{}", npu as u32 + 1);
    let Ok(mut tty) = OpenOptions::new().read(true).write(true).open(&path) else {
        return String::new();
    };
    raw_mode(tty.as_raw_fd());
    if tty.write_all(format!("{cmd}\n").as_bytes()).is_err() {
        return String::new();
    }
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while let Ok(1) = tty.read(&mut byte) {
        if byte[0] == b'\n' {
            break;
        }
        line.push(byte[0]);
    }
    String::from_utf8_lossy(&line).trim().to_string()
}

/// Undoes every fault the fuzzer can inject on NPU `npu`.
pub fn reset(npu: u8) {
    for cmd in ["cooling-failure off", "runaway off", "clear"] {
        send(npu, cmd);
    }
}

/// Raw 115200 baud, no echo, reads that give up after 2 s.
fn raw_mode(fd: i32) {
    // SAFETY: termios is plain data; tcgetattr/cfmakeraw/tcsetattr only read and write `t`.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(fd, &mut t) != 0 {
            return;
        }
        libc::cfmakeraw(&mut t);
        libc::cfsetspeed(&mut t, libc::B115200);
        t.c_cc[libc::VMIN] = 0;
        t.c_cc[libc::VTIME] = 20;
        libc::tcsetattr(fd, libc::TCSANOW, &t);
    }
}
