//! The raw system-call layer the fuzzer drives: ioctls with any argument, mmap, per-task
//! allocation-failure injection (`fail-nth`) and the module's text range.

use std::{fs, io, os::fd::RawFd};

/// The device node under test.
pub const DEV: &str = "/dev/lightos";

/// `errno` of the last failed libc call.
pub fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Opens `/dev/lightos` read-write (close-on-exec); `Err(errno)` on failure.
pub fn open_dev() -> Result<RawFd, i32> {
    // SAFETY: the path is a NUL-terminated literal.
    let fd = unsafe { libc::open(c"/dev/lightos".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    if fd < 0 {
        Err(errno())
    } else {
        Ok(fd)
    }
}

/// Closes `fd`, ignoring errors (the fuzzer closes descriptors the kernel may already consider gone).
pub fn close(fd: RawFd) {
    // SAFETY: closing a descriptor number has no memory effects; a stale one is EBADF.
    unsafe { libc::close(fd) };
}

/// Issues ioctl `cmd` on `fd` with the user address `arg`; `Ok(ret)` or `Err(errno)`. `arg` may be
/// deliberately invalid (the kernel must answer EFAULT); memory it points at is owned by the caller.
pub fn ioctl(fd: RawFd, cmd: u32, arg: usize) -> Result<i32, i32> {
    // SAFETY: the kernel validates `arg` as a user address; an invalid one is EFAULT, not UB here.
    let ret = unsafe { libc::ioctl(fd, cmd as libc::Ioctl, arg as *mut libc::c_void) };
    if ret < 0 {
        Err(errno())
    } else {
        Ok(ret)
    }
}

/// `ioctl` with `_IOWR('L', nr, size_of::<T>())` and `arg` as the argument.
pub fn ioctl_struct<T>(fd: RawFd, nr: u32, arg: &mut T) -> Result<i32, i32> {
    let cmd = lightos_uapi::iowr(nr, std::mem::size_of::<T>());
    ioctl(fd, cmd, arg as *mut T as usize)
}

/// Maps `len` bytes of `fd` at `offset`; `Err(errno)` on failure.
pub fn mmap(fd: RawFd, len: usize, prot: i32, flags: i32, offset: u64) -> Result<usize, i32> {
    // SAFETY: a fresh mapping chosen by the kernel (no MAP_FIXED) cannot alias existing memory.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            prot,
            flags,
            fd,
            offset as libc::off_t,
        )
    };
    if p == libc::MAP_FAILED {
        Err(errno())
    } else {
        Ok(p as usize)
    }
}

/// Unmaps a mapping made by [`mmap`].
pub fn munmap(addr: usize, len: usize) {
    // SAFETY: the caller passes a mapping it made and no longer references.
    unsafe { libc::munmap(addr as *mut libc::c_void, len) };
}

pub use lightos_fuzz::fail_nth::{available as fail_nth_available, FailNth};

/// The address range `[start, end)` of lightos_core's code, from /proc/modules (root only).
pub fn module_range() -> Option<(u64, u64)> {
    let text = fs::read_to_string("/proc/modules").ok()?;
    let line = text.lines().find(|l| l.starts_with("lightos_core "))?;
    let f: Vec<&str> = line.split_whitespace().collect();
    let size: u64 = f.get(1)?.parse().ok()?;
    let base = u64::from_str_radix(f.get(5)?.trim_start_matches("0x"), 16).ok()?;
    Some((base, base + size))
}

/// An anonymous private mapping of `len` bytes with `prot`.
pub fn mmap_anon(len: usize, prot: i32) -> Result<usize, i32> {
    // SAFETY: a fresh anonymous mapping chosen by the kernel aliases nothing.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            prot,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        Err(errno())
    } else {
        Ok(p as usize)
    }
}

/// A read-only page holding a copy of `bytes` (at most a page): `(address, length)` to unmap.
pub fn read_only_copy(bytes: &[u8]) -> Option<(usize, usize)> {
    let addr = mmap_anon(4096, libc::PROT_READ | libc::PROT_WRITE).ok()?;
    let n = bytes.len().min(4096);
    // SAFETY: the fresh mapping is one writable page; `n` bytes fit.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), addr as *mut u8, n);
        libc::mprotect(addr as *mut libc::c_void, 4096, libc::PROT_READ);
    }
    Some((addr, 4096))
}

/// `dup(fd)` with close-on-exec.
pub fn dup(fd: RawFd) -> Option<RawFd> {
    // SAFETY: duplicating a descriptor number has no memory effects.
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    (new >= 0).then_some(new)
}

/// Waits for child `pid`; kills it first if it outlives 10 s (a hung child is reported by the caller
/// through the kernel log, not waited on forever).
pub fn reap(pid: libc::pid_t) {
    let start = std::time::Instant::now();
    loop {
        let mut status = 0;
        // SAFETY: waitpid writes only `status`.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r != 0 {
            return;
        }
        if start.elapsed().as_secs() >= 10 {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// `finit_module(fd, "", 0)`: loads the module in the open file `fd`; `Err(errno)` on failure.
pub fn finit_module(fd: RawFd) -> Result<(), i32> {
    // SAFETY: the parameter string is a NUL-terminated literal; the kernel reads `fd` itself.
    let ret = unsafe { libc::syscall(libc::SYS_finit_module, fd, c"".as_ptr(), 0) };
    if ret < 0 {
        Err(errno())
    } else {
        Ok(())
    }
}

/// `delete_module(name, O_NONBLOCK)`; `Err(errno)` on failure (`EWOULDBLOCK` while in use).
pub fn delete_module(name: &std::ffi::CStr) -> Result<(), i32> {
    // SAFETY: `name` is NUL-terminated.
    let ret = unsafe { libc::syscall(libc::SYS_delete_module, name.as_ptr(), libc::O_NONBLOCK) };
    if ret < 0 {
        Err(errno())
    } else {
        Ok(())
    }
}

/// `CLOCK_MONOTONIC` now, in ns (the clock of every LightOS deadline).
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes only `ts`.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
