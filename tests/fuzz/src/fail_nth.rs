//! Per-task allocation-failure injection (CONFIG_FAULT_INJECTION): the debugfs attributes that let
//! the calling thread's `fail-nth` reach every allocation the module makes, and the `fail-nth` file
//! itself. `fail-nth` counts the calls of `should_fail_ex()` the thread makes (lib/fault-inject.c)
//! and fails the n-th. failslab (mm/failslab.c) and fail_page_alloc (mm/fail_page_alloc.c) only get
//! there for allocations their filters let through; by default they skip every allocation that may
//! sleep (`ignore-gfp-wait`), page allocations below order 1 (`min-order`) and highmem ones
//! (`ignore-gfp-highmem`, which vmalloc's pages are). [`configure`] clears all three, so every
//! slab, page and vmalloc allocation of the thread counts.

use std::{fs, io};

/// The calling thread's `fail-nth` file (CONFIG_FAULT_INJECTION).
fn fail_nth_path() -> String {
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::gettid() };
    format!("/proc/self/task/{tid}/fail-nth")
}

/// Whether this kernel has per-task allocation-failure injection (the default test kernel and the
/// debug one do; the bench kernel does not).
pub fn available() -> bool {
    fs::metadata(fail_nth_path()).is_ok()
}

/// The debugfs directories of the two injectors.
const ATTRS: [&str; 2] = [
    "/sys/kernel/debug/failslab",
    "/sys/kernel/debug/fail_page_alloc",
];

/// Configures both injectors; `Err` says why fault injection is unavailable.
pub fn configure() -> Result<(), String> {
    if !available() {
        return Err(
            "this kernel has no fault injection (/proc/self/task/<tid>/fail-nth is missing; \
                    boot the debug kernel: LIGHTOS_KERNEL=debug qemu/run ...)"
                .into(),
        );
    }
    for dir in ATTRS {
        if !std::path::Path::new(dir).is_dir() {
            return Err(format!(
                "{dir} is missing (CONFIG_FAILSLAB, CONFIG_FAIL_PAGE_ALLOC and \
                 CONFIG_FAULT_INJECTION_DEBUG_FS are needed, and debugfs mounted)"
            ));
        }
    }
    let settings = [
        ("failslab/ignore-gfp-wait", "N"),
        ("fail_page_alloc/ignore-gfp-wait", "N"),
        ("fail_page_alloc/ignore-gfp-highmem", "N"),
        ("fail_page_alloc/min-order", "0"),
        // fail-nth takes precedence over these; keep the random injection off.
        ("failslab/probability", "0"),
        ("fail_page_alloc/probability", "0"),
        ("failslab/verbose", "2"),
        ("fail_page_alloc/verbose", "2"),
    ];
    for (file, value) in settings {
        let path = format!("/sys/kernel/debug/{file}");
        fs::write(&path, value).map_err(|e| format!("{path}: {e}"))?;
    }
    Ok(())
}

/// The calling thread's `fail-nth` file, kept open so that arming and disarming make no allocation
/// of their own (an `open` would consume the armed count).
pub struct FailNth(fs::File);

impl FailNth {
    /// Opens this thread's `fail-nth`; use it only from the thread that opened it.
    pub fn open() -> io::Result<Self> {
        fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(fail_nth_path())
            .map(Self)
    }

    /// Makes the `n`-th fault-injection point (1-based) this thread reaches from now fail.
    pub fn arm(&self, n: u32) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        let mut text = [0u8; 12];
        let len = fmt_u32(n, &mut text);
        self.0.write_at(&text[..len], 0).map(|_| ())
    }

    /// Disarms; true when the armed failure fired (the kernel counts down to 0 when it injects).
    pub fn disarm(&self) -> bool {
        use std::os::unix::fs::FileExt;
        let mut text = [0u8; 16];
        let fired = match self.0.read_at(&mut text, 0) {
            Ok(len) => text[..len]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .eq(b"0".iter()),
            Err(_) => false,
        };
        let _ = self.0.write_at(b"0", 0);
        fired
    }
}

/// Writes `n` in decimal into `out` without allocating; returns the length.
fn fmt_u32(mut n: u32, out: &mut [u8; 12]) -> usize {
    let mut digits = [0u8; 10];
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for i in 0..len {
        out[i] = digits[len - 1 - i];
    }
    len
}
