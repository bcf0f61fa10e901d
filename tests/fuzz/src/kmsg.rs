//! The kernel log as the fuzzer's oracle: every record since the run began is read after each program,
//! and any line a kernel checker prints when it finds a bug is a report.

use std::{fs::File, io::Read, os::fd::AsRawFd};

/// Substrings that mark a kernel report: oops and BUG, WARN, lockdep, KASAN, KFENCE, UBSAN, a Rust
/// panic, hung tasks, list and refcount corruption. (kmemleak is asked directly, after a run, and its
/// suspects are filtered to the module's: its periodic line may be about boot-time objects.)
pub const REPORT_MARKERS: &[&str] = &[
    "BUG:",
    "WARNING:",
    "Oops",
    "general protection fault",
    "Kernel panic",
    "KASAN",
    "KFENCE",
    "UBSAN",
    "possible circular locking",
    "possible recursive locking",
    "inconsistent lock state",
    "DEBUG_LOCKS_WARN_ON",
    "panicked at",
    "rust_panic",
    "blocked for more than",
    "list_add corruption",
    "list_del corruption",
    "refcount_t:",
    "cut here",
];

/// Whether a kernel log line is a report.
pub fn is_report(line: &str) -> bool {
    // kmemleak's own start-up line is not a report.
    !line.contains("Kernel memory leak detector initialized")
        && REPORT_MARKERS.iter().any(|m| line.contains(m))
}

/// A reader of `/dev/kmsg` positioned at the end of the log when opened.
pub struct Kmsg {
    file: File,
}

impl Kmsg {
    /// Opens the log, non-blocking, skipping everything already in it.
    pub fn open() -> std::io::Result<Self> {
        let k = Self::open_from_start()?;
        // SAFETY: lseek on our own descriptor; SEEK_END on /dev/kmsg skips to the newest record.
        unsafe { libc::lseek(k.file.as_raw_fd(), 0, libc::SEEK_END) };
        Ok(k)
    }

    /// Opens the log, non-blocking, at its oldest record still kept.
    pub fn open_from_start() -> std::io::Result<Self> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open("/dev/kmsg")?;
        Ok(Kmsg { file })
    }

    /// The message text of every record logged since the last call.
    pub fn new_lines(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 8192];
        loop {
            match self.file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    let rec = String::from_utf8_lossy(&buf[..n]);
                    // "prio,seq,time,flags;message\n continuation..."
                    let msg = rec.split_once(';').map_or(rec.as_ref(), |(_, m)| m);
                    out.push(msg.lines().next().unwrap_or("").to_string());
                }
                // EPIPE: records were overwritten before we read them; go on from the next one.
                Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue,
                Err(_) => break,
            }
        }
        out
    }
}

/// `lightos-fuzz kernel-log`: every report in the whole kernel log (every level; the console shows
/// errors only, and lockdep reports at KERN_WARNING). Err when there is one.
pub fn scan_all() -> Result<(), String> {
    let mut k = Kmsg::open_from_start().map_err(|e| format!("/dev/kmsg: {e}"))?;
    let reports: Vec<String> = k.new_lines().into_iter().filter(|l| is_report(l)).collect();
    if reports.is_empty() {
        println!("kernel-log: no report");
        Ok(())
    } else {
        for r in &reports {
            println!("kernel-log: {r}");
        }
        Err(format!(
            "{} report line(s) in the kernel log",
            reports.len()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::is_report;

    #[test]
    fn kernel_checker_lines_are_reports_and_ordinary_lines_are_not() {
        assert!(is_report(
            "BUG: KASAN: slab-use-after-free in lightos_core::buffer::object"
        ));
        assert!(is_report(
            "WARNING: possible circular locking dependency detected"
        ));
        assert!(is_report("UBSAN: shift-out-of-bounds in lib/foo.c:12:3"));
        assert!(is_report(
            "WARNING: CPU: 1 PID: 52 at fs/proc/generic.c:741 remove_proc_entry+0x1b/0x1e0"
        ));
        assert!(!is_report("lightos_core: loaded, ABI 1.9"));
        assert!(!is_report(
            "kmemleak: Kernel memory leak detector initialized (mem pool available: 15850)"
        ));
    }
}
