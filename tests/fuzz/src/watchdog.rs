//! Cuts long waits short. A mutated deadline can legitimately ask the kernel to wait for years
//! (SPIKE_WAIT, WAIT, JOB_FETCH, EVENT_WAIT, ENTER and JOB_BATCH take absolute deadlines); those
//! waits are interruptible, so when a program has made no progress for a while every thread of the
//! process gets a no-op SIGUSR1 and the wait returns EINTR. A call that still does not return is in
//! an uninterruptible wait: the supervisor reports that as a hang.

use std::time::{Duration, Instant};

extern "C" fn ignore(_: libc::c_int) {}

/// Installs the SIGUSR1 handler (without SA_RESTART, so blocked calls return EINTR) and starts a
/// thread that signals every other thread of the process whenever `progress()` has not changed for
/// `after`.
pub fn start(progress: impl Fn() -> u64 + Send + 'static, after: Duration) {
    // SAFETY: the handler does nothing (async-signal-safe); sigaction only reads `sa`.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = ignore as extern "C" fn(libc::c_int) as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut());
    }
    std::thread::spawn(move || {
        // SAFETY: gettid has no preconditions.
        let me = unsafe { libc::gettid() };
        let (mut last, mut since) = (progress(), Instant::now());
        loop {
            std::thread::sleep(Duration::from_millis(500));
            let now = progress();
            if now != last {
                (last, since) = (now, Instant::now());
            } else if since.elapsed() >= after {
                interrupt_others(me);
            }
        }
    });
}

/// Sends SIGUSR1 to every thread of this process but `me`.
fn interrupt_others(me: libc::pid_t) {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return;
    };
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() };
    for t in tasks.flatten() {
        if let Some(tid) = t
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<libc::pid_t>().ok())
        {
            if tid != me {
                // SAFETY: signalling a thread of our own process with a signal it handles.
                unsafe { libc::syscall(libc::SYS_tgkill, pid, tid, libc::SIGUSR1) };
            }
        }
    }
}
