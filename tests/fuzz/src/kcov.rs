//! Per-thread kernel coverage (kcov, Documentation/dev-tools/kcov.rst), kept to the module's code.
//! The debug kernel builds lightos_core.ko with `-Cpasses=sancov-module` (KCOV_INSTRUMENT); the
//! rest of the kernel is not instrumented (KCOV_INSTRUMENT_ALL off), so every PC is the module's.

use std::{collections::HashSet, fs::OpenOptions, os::fd::AsRawFd};

/// Words in the trace buffer (the first holds the count).
const COVER_WORDS: usize = 1 << 16;
/// `_IOR('c', 1, unsigned long)`.
const KCOV_INIT_TRACE: u32 = 0x8008_6301;
/// `_IO('c', 100)`.
const KCOV_ENABLE: u32 = 0x6364;
/// Trace mode: program counters.
const KCOV_TRACE_PC: usize = 0;

/// A thread's kcov handle and the module PCs it has seen.
pub struct Kcov {
    _file: std::fs::File,
    area: *mut u64,
    range: (u64, u64),
    pcs: HashSet<u64>,
}

// SAFETY: the area is only touched by the thread that enabled it (kcov is per task); the handle moves
// between threads only to hand over its PC set at the end.
unsafe impl Send for Kcov {}

impl Kcov {
    /// Opens kcov and enables PC tracing for the calling thread; PCs outside `range` are ignored.
    pub fn open(range: (u64, u64)) -> Result<Self, String> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open("/sys/kernel/debug/kcov")
            .map_err(|e| {
                format!("/sys/kernel/debug/kcov: {e} (the debug kernel has CONFIG_KCOV)")
            })?;
        let fd = file.as_raw_fd();
        crate::sys::ioctl(fd, KCOV_INIT_TRACE, COVER_WORDS)
            .map_err(|e| format!("KCOV_INIT_TRACE: errno {e}"))?;
        let area = crate::sys::mmap(
            fd,
            COVER_WORDS * 8,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            0,
        )
        .map_err(|e| format!("mmap kcov: errno {e}"))? as *mut u64;
        crate::sys::ioctl(fd, KCOV_ENABLE, KCOV_TRACE_PC)
            .map_err(|e| format!("KCOV_ENABLE: errno {e}"))?;
        Ok(Kcov {
            _file: file,
            area,
            range,
            pcs: HashSet::new(),
        })
    }

    /// Starts a call's trace.
    pub fn start(&mut self) {
        // SAFETY: word 0 of the live kcov area; the kernel writes it only for this thread.
        unsafe { std::ptr::write_volatile(self.area, 0) };
    }

    /// Ends a call's trace and keeps its module PCs.
    pub fn stop(&mut self) {
        // SAFETY: the kernel wrote `n` PCs after word 0, bounded by the area's size.
        unsafe {
            let n = (std::ptr::read_volatile(self.area) as usize).min(COVER_WORDS - 1);
            for i in 1..=n {
                let pc = std::ptr::read_volatile(self.area.add(i));
                if pc >= self.range.0 && pc < self.range.1 {
                    self.pcs.insert(pc);
                }
            }
        }
    }

    /// The PCs seen, ending the trace.
    pub fn into_pcs(mut self) -> HashSet<u64> {
        std::mem::take(&mut self.pcs)
    }
}

impl Drop for Kcov {
    fn drop(&mut self) {
        // Closing the file (after this) disables tracing; the area is this handle's own mapping.
        crate::sys::munmap(self.area as usize, COVER_WORDS * 8);
    }
}
