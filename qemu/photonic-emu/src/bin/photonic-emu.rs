//! `photonic-emu`: the emulated LightOS photonic NPU. Creates BAR2 (shared memory) with the layout
//! of `regs.rs`, waits for QEMU's ivshmem-doorbell device on SOCKET, then serves the guest: runs the
//! commands it queues (DMA into guest RAM through `--guest-ram`), ticks the thermal model every
//! millisecond, publishes telemetry and raises the guest's interrupts. Ends when QEMU goes away.

use clap::Parser;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use photonic_emu::{
    chip::ChipConfig,
    control::{self, Outcome},
    device::NpuDevice,
    ivshmem::IvshmemServer,
    regs,
    shm::SharedRegion,
    thermal::ThermalConfig,
};
use std::{
    io::{self, Read, Write},
    os::{
        fd::AsFd,
        unix::net::{UnixListener, UnixStream},
    },
    path::PathBuf,
    process::ExitCode,
    time::{Duration, Instant},
};

/// BAR2 size: a power of two that holds the layout.
const BAR2_SIZE: usize = 1 << 20;
/// How long the loop runs queued commands before it ticks the thermal model again (a command
/// started within the slice runs to its end).
const RING_SLICE: Duration = Duration::from_millis(1);

/// The emulated LightOS photonic NPU (a host process QEMU's ivshmem-doorbell device connects to).
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// The Unix socket QEMU connects to (`-chardev socket,path=SOCKET`).
    socket: PathBuf,
    /// The guest's RAM (QEMU `-object memory-backend-file,share=on,mem-path=FILE`): the device's
    /// DMA target, guest physical address = file offset. Without it every DMA fails BAD_ADDRESS.
    #[arg(long)]
    guest_ram: Option<PathBuf>,
    /// A Unix socket for fault injection (see `control.rs`; `help` lists the commands).
    #[arg(long)]
    control: Option<PathBuf>,
    /// Model seconds per wall-clock second of the thermal model.
    #[arg(long, default_value_t = 10.0)]
    time_scale: f64,
    /// Mesh size N.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(2..=256))]
    mesh: u32,
    /// Seed of the chip's fabrication errors and noise.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// One fault-injection connection and its partial line.
struct ControlClient {
    sock: UnixStream,
    pending: Vec<u8>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if !(args.time_scale.is_finite() && args.time_scale > 0.0) {
        eprintln!("photonic-emu: --time-scale must be a positive number");
        return ExitCode::from(2);
    }
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("photonic-emu: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> io::Result<()> {
    let mut server = IvshmemServer::bind(&args.socket, BAR2_SIZE, usize::from(regs::VECTORS))?;
    let bar = SharedRegion::map(server.shm(), BAR2_SIZE)?;
    let ram = match &args.guest_ram {
        Some(p) => {
            let f = std::fs::OpenOptions::new().read(true).write(true).open(p)?;
            SharedRegion::map_file(&f)?
        }
        None => SharedRegion::anonymous(4096)?,
    };
    let chip = ChipConfig {
        n: args.mesh as usize,
        seed: args.seed,
        ..ChipConfig::default()
    };
    let thermal = ThermalConfig {
        time_scale: args.time_scale,
        ..ThermalConfig::default()
    };
    let mut dev = NpuDevice::new(bar, ram, chip, thermal);
    let control = match &args.control {
        Some(p) => {
            let _ = std::fs::remove_file(p);
            let l = UnixListener::bind(p)?;
            l.set_nonblocking(true)?;
            Some(l)
        }
        None => None,
    };
    eprintln!(
        "photonic-emu: listening on {} (BAR2 {} KiB, mesh {}x{}, time scale {})",
        args.socket.display(),
        BAR2_SIZE / 1024,
        args.mesh,
        args.mesh,
        args.time_scale
    );
    server.accept_guest()?;
    eprintln!("photonic-emu: guest connected");

    let mut clients: Vec<ControlClient> = Vec::new();
    let mut last_tick = Instant::now();
    loop {
        let (guest_gone, ctl_ready, client_ready) = {
            let mut fds = vec![
                PollFd::new(
                    server.doorbell_fd(0).ok_or(io::ErrorKind::NotFound)?,
                    PollFlags::POLLIN,
                ),
                PollFd::new(
                    server.doorbell_fd(1).ok_or(io::ErrorKind::NotFound)?,
                    PollFlags::POLLIN,
                ),
                PollFd::new(
                    server.guest_fd().ok_or(io::ErrorKind::NotConnected)?,
                    PollFlags::POLLIN,
                ),
            ];
            if let Some(l) = &control {
                fds.push(PollFd::new(l.as_fd(), PollFlags::POLLIN));
            }
            for c in &clients {
                fds.push(PollFd::new(c.sock.as_fd(), PollFlags::POLLIN));
            }
            // Commands left from the last slice: look at the doorbells and go on at once.
            let wait = if dev.has_runnable_commands() {
                PollTimeout::ZERO
            } else {
                PollTimeout::from(1u8)
            };
            match poll(&mut fds, wait) {
                Ok(_) | Err(nix::Error::EINTR) => {}
                Err(e) => return Err(io::Error::from_raw_os_error(e as i32)),
            }
            let ready = |f: &PollFd| f.revents().is_some_and(|r| !r.is_empty());
            let base = 3 + usize::from(control.is_some());
            (
                ready(&fds[2]),
                control.is_some() && ready(&fds[3]),
                fds[base..].iter().map(ready).collect::<Vec<_>>(),
            )
        };
        if guest_gone {
            eprintln!("photonic-emu: QEMU disconnected; exiting");
            return Ok(());
        }

        let now = Instant::now();
        let dt = now.duration_since(last_tick).as_secs_f64();
        if dt >= 0.001 {
            last_tick = now;
            if dev.tick(dt) && dev.interrupts_enabled() {
                server.interrupt_guest(usize::from(regs::VECTOR_THERMAL))?;
            }
        }
        let mut posted = 0;
        if server.take_doorbell(usize::from(regs::DOORBELL_RESET))? > 0 {
            posted += dev.reset();
        }
        if server.take_doorbell(usize::from(regs::DOORBELL_SUBMIT))? > 0 {
            dev.apply_controls();
        }
        posted += dev.process_ring_until(Some(now + RING_SLICE));
        if posted > 0 && dev.interrupts_enabled() {
            server.interrupt_guest(usize::from(regs::VECTOR_COMPLETION))?;
        }

        if ctl_ready {
            if let Some(l) = &control {
                while let Ok((sock, _)) = l.accept() {
                    sock.set_nonblocking(true)?;
                    clients.push(ControlClient {
                        sock,
                        pending: Vec::new(),
                    });
                }
            }
        }
        let mut keep = Vec::with_capacity(clients.len());
        for (mut c, ready) in clients
            .into_iter()
            .zip(client_ready.into_iter().chain(std::iter::repeat(false)))
        {
            if ready && !serve_control(&mut c, &mut dev)? {
                continue;
            }
            keep.push(c);
        }
        clients = keep;
    }
}

/// Reads what a control client sent and answers each complete line. `false` when it hung up.
/// A `remove` command ends the process here (surprise removal).
fn serve_control(c: &mut ControlClient, dev: &mut NpuDevice) -> io::Result<bool> {
    let mut buf = [0u8; 512];
    let n = match c.sock.read(&mut buf) {
        Ok(0) => return Ok(false),
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(true),
        Err(_) => return Ok(false),
    };
    c.pending.extend_from_slice(&buf[..n]);
    if c.pending.len() > 4096 {
        let _ = c.sock.write_all(b"error: line too long\n");
        c.pending.clear();
    }
    while let Some(pos) = c.pending.iter().position(|&b| b == b'\n' || b == b'\r') {
        let line: Vec<u8> = c.pending.drain(..=pos).collect();
        let line = String::from_utf8_lossy(&line[..line.len() - 1])
            .trim()
            .to_string();
        if line.is_empty() {
            continue;
        }
        eprintln!("photonic-emu: control: {line}");
        match control::apply(dev, &line) {
            Outcome::Reply(r) => {
                let _ = c.sock.write_all(format!("{r}\n").as_bytes());
            }
            Outcome::Remove(r) => {
                let _ = c.sock.write_all(format!("{r}\n").as_bytes());
                // Give QEMU a moment to pass the reply on before the socket goes away with us.
                let _ = c.sock.flush();
                std::thread::sleep(std::time::Duration::from_millis(100));
                eprintln!("photonic-emu: surprise removal: exiting now");
                std::process::exit(0);
            }
        }
    }
    Ok(true)
}
