//! The fault-injection setup ([`configure`], shared with the VM suite: `lightos_fuzz::fail_nth`)
//! and the kernel log's record of where each failure fired: `verbose` 2 makes each injected failure
//! log "FAULT_INJECTION: forcing a failure" and a stack (below the console's level, so only in the
//! ring buffer), which [`Kmsg`] reads to name the call site.

pub use lightos_fuzz::fail_nth::configure;

/// A kernel report (WARNING, BUG, KASAN, UBSAN, lockdep) seen in the log.
#[derive(Debug)]
pub struct Report {
    /// Whether its stack passes through lightos_core (else it is the core kernel's).
    pub lightos: bool,
    /// Its first line and the first frames.
    pub text: String,
}

/// Lines that start a kernel report.
const REPORT_STARTS: [&str; 7] = [
    "WARNING:",
    "BUG:",
    "KASAN:",
    "UBSAN:",
    "possible circular locking dependency",
    "inconsistent lock state",
    "general protection fault",
];

/// `/dev/kmsg`, read from its end, to learn where an injected failure fired and to catch kernel
/// reports (every read scans for them; [`take_reports`](Self::take_reports) hands them over).
pub struct Kmsg {
    log: crate::kmsg::Kmsg,
    reports: Vec<Report>,
}

impl Kmsg {
    /// Opens `/dev/kmsg` non-blocking, positioned after the records logged so far.
    pub fn open() -> Result<Self, String> {
        let log = crate::kmsg::Kmsg::open().map_err(|e| format!("/dev/kmsg: {e}"))?;
        Ok(Self {
            log,
            reports: Vec::new(),
        })
    }

    /// Reads past every record logged so far (scanning them for reports).
    pub fn skip(&mut self) {
        self.drain();
    }

    /// The kernel reports seen since the last call.
    pub fn take_reports(&mut self) -> Vec<Report> {
        self.drain();
        std::mem::take(&mut self.reports)
    }

    /// The records logged since the last read, their text only; kernel reports among them are
    /// kept for [`take_reports`](Self::take_reports).
    fn drain(&mut self) -> Vec<String> {
        let out = self.log.new_lines();
        for (i, r) in out.iter().enumerate() {
            if REPORT_STARTS.iter().any(|s| r.contains(s)) {
                // The report's own lines: up to its end marker or the next injected failure.
                let tail: Vec<&str> = out[i..(i + 80).min(out.len())]
                    .iter()
                    .map(|l| l.trim())
                    .take_while(|l| !l.contains("FAULT_INJECTION"))
                    .take_while(|l| !l.contains("end trace"))
                    .collect();
                let frames: Vec<&str> = tail
                    .iter()
                    .copied()
                    .filter(|l| l.contains("+0x") && !l.starts_with('?'))
                    .take(8)
                    .collect();
                self.reports.push(Report {
                    // Frames only: the "Modules linked in: lightos_core" line names every loaded module.
                    lightos: tail
                        .iter()
                        .any(|l| l.contains("+0x") && l.contains("lightos_core")),
                    text: format!("{} | {}", r.trim(), frames.join(" < ")),
                });
            }
        }
        out
    }

    /// Where the failure injected since [`skip`](Self::skip) fired: the innermost frames in
    /// lightos_core, else the first frame outside the allocators; `None` when nothing was logged
    /// (allocations with `__GFP_NOWARN` fail silently).
    pub fn site(&mut self) -> Option<String> {
        let records = self.drain();
        let start = records
            .iter()
            .position(|r| r.contains("FAULT_INJECTION: forcing a failure"))?;
        let frames: Vec<&str> = records[start + 1..]
            .iter()
            .map(|r| r.trim())
            // "? name" frames are stale return addresses the unwinder found on the stack.
            .filter(|r| r.contains("+0x") && !r.starts_with('?'))
            .take_while(|r| !r.contains("FAULT_INJECTION"))
            .collect();
        // The innermost three lightos_core frames, callee first ("a < b < c").
        let module: Vec<String> = frames
            .iter()
            .filter(|f| f.contains("[lightos_core]"))
            .take(3)
            .map(|f| short_frame(f).replace(" [lightos_core]", ""))
            .collect();
        // The allocation's caller, when it is not lightos_core itself (a kernel service it called).
        let caller = frames
            .iter()
            .find(|f| !is_allocator_frame(f))
            .filter(|f| !f.contains("[lightos_core]"))
            .map(|f| short_frame(f));
        if module.is_empty() {
            return caller;
        }
        Some(format!(
            "{}[lightos_core] {}",
            caller.map(|c| format!("{c} in ")).unwrap_or_default(),
            module.join(" < ")
        ))
    }
}

/// Whether a stack frame belongs to the injection or allocation machinery, not to its caller.
fn is_allocator_frame(frame: &str) -> bool {
    const PREFIXES: [&str; 24] = [
        "dump_stack",
        "show_stack",
        "should_fail",
        "fail_dump",
        "should_failslab",
        "should_fail_alloc_page",
        "prepare_alloc_pages",
        "__alloc_",
        "alloc_pages",
        "alloc_slab",
        "allocate_slab",
        "new_slab",
        "___slab_alloc",
        "__slab_alloc",
        "slab_alloc",
        "kmem_cache_alloc",
        "__kmalloc",
        "kmalloc",
        "__kvmalloc",
        "kvmalloc",
        "__vmalloc",
        "vmalloc",
        "krealloc",
        "__krealloc",
    ];
    PREFIXES.iter().any(|p| frame.starts_with(p))
        || frame.contains("7kmalloc")
        || frame.contains("7vmalloc")
        || frame.contains("8kvmalloc")
        || frame.contains("9allocator")
        || frame.contains("Allocator")
        || frame.contains("alloc_noprof")
}

/// A frame as `function+off/len [module]`, a Rust symbol cut to its path's last identifiers.
fn short_frame(frame: &str) -> String {
    let (sym, rest) = frame.split_once('+').unwrap_or((frame, ""));
    let sym = if sym.starts_with("_R") {
        demangle_idents(sym)
    } else {
        sym.to_string()
    };
    let module = rest
        .split_once(' ')
        .map(|(_, m)| format!(" {m}"))
        .unwrap_or_default();
    format!("{sym}{module}")
}

/// The identifiers of a Rust v0 symbol (`<len><ident>` runs, skipping `s<base62>_`
/// disambiguators and `B<base62>_` back-references), joined by `::`, the last four only.
/// Crude, for reading only: generic arguments may leave stray pieces.
fn demangle_idents(sym: &str) -> String {
    let b = sym.as_bytes();
    let mut idents = Vec::new();
    let mut i = 2; // after "_R"
    while i < b.len() {
        let c = b[i];
        if (c == b's' || c == b'B') && i + 1 < b.len() {
            // A disambiguator or back-reference: base-62 digits up to '_'.
            if let Some(end) = b[i + 1..].iter().position(|&x| !x.is_ascii_alphanumeric()) {
                if b[i + 1 + end] == b'_' {
                    i += end + 2;
                    continue;
                }
            }
        }
        if c.is_ascii_digit() {
            let mut j = i;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            let len: usize = sym[i..j].parse().unwrap_or(0);
            // An identifier starting with a digit is prefixed with '_'.
            let start =
                if b.get(j) == Some(&b'_') && b.get(j + 1).is_some_and(|x| x.is_ascii_digit()) {
                    j + 1
                } else {
                    j
                };
            if len > 0 && start + len <= b.len() {
                idents.push(&sym[start..start + len]);
                i = start + len;
                continue;
            }
            i = j;
        } else {
            i += 1;
        }
    }
    if idents.is_empty() {
        return sym.to_string();
    }
    let skip = idents.len().saturating_sub(4);
    idents[skip..].join("::")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_symbols_shorten_to_their_path() {
        assert_eq!(
            demangle_idents("_RNvMs0_NtCs5roEeaIW_12lightos_core5quotaNtB5_7Account6charge"),
            "lightos_core::quota::Account::charge"
        );
        assert_eq!(
            short_frame("_RNvNtCs5roEeaIW_12lightos_core4file4open+0x1c/0x80 [lightos_core]"),
            "lightos_core::file::open [lightos_core]"
        );
        assert_eq!(short_frame("kobject_add+0x10/0x20"), "kobject_add");
    }

    #[test]
    fn allocator_frames_are_skipped() {
        assert!(is_allocator_frame("__kmalloc_noprof+0x1/0x2"));
        assert!(is_allocator_frame("should_failslab+0x1/0x2"));
        assert!(!is_allocator_frame("kobject_add+0x10/0x20"));
    }
}
