//! The sweep of one call kind: for n = 1, 2, ... set the call up afresh, arm `fail-nth` = n,
//! make the call, disarm, and judge; until an n where nothing fired.
//!
//! A call whose injected failure fired must fail with `ENOMEM` and leave the state exactly as it
//! was (see [`State`]), with `QUERY_LAST_ERROR` naming it; or succeed as it does without injection
//! (the allocation was optional: "tolerated", with the site that failed). After each try the
//! case's descriptors are closed and the module-wide state must be back to what it was before the
//! kind began (nothing leaked by the failure or by the cleanup after it).

use super::{inject::Kmsg, state::State};
use crate::sys;
use lightos_uapi as u;
use std::{collections::BTreeMap, os::fd::RawFd, time::Duration};

/// One call set up and ready to be made.
pub struct Case {
    /// The contexts whose state is compared, the caller's first (empty: module-wide only).
    pub contexts: Vec<RawFd>,
    /// The call: `Ok(value)` or `Err(errno)`. It must make no other system call and touch no
    /// fresh memory, so that every allocation `fail-nth` counts is the call's own.
    pub call: Box<dyn FnMut() -> Result<u64, i32>>,
    /// Undoes a successful call (destroys what it created, unmaps, closes the new descriptor),
    /// first checking what it did where the case can (an `Err` is a violation).
    pub undo: Box<dyn FnMut(u64) -> Result<(), String>>,
    /// What the case keeps alive until it is dropped: descriptors (closed when dropped), memory.
    pub keep: Vec<Box<dyn std::any::Any>>,
}

impl Case {
    /// Ends the case: what it kept is dropped in order (descriptors closed, mappings unmapped).
    pub fn close(self) {
        for held in self.keep {
            drop(held);
        }
    }
}

/// What a kind needs besides `/dev/lightos`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Needs {
    /// Nothing.
    Nothing,
    /// A bound photonic NPU registered as `photonic0`.
    Photonic,
}

/// One kind of call.
pub struct Kind {
    /// Its name in reports.
    pub name: &'static str,
    /// The ioctl number it makes, or `None` (mmap, madvise, open, close).
    pub ioctl: Option<u32>,
    /// What it needs.
    pub needs: Needs,
    /// Sets the call up (without injection).
    pub setup: fn(&World) -> Result<Case, String>,
}

/// What the sweep found when it started.
pub struct World {
    /// `photonic0`'s backend id, if an NPU is bound.
    pub photonic0: Option<u32>,
}

/// Totals over all sweeps.
#[derive(Default)]
pub struct Tally {
    /// Call kinds swept.
    pub kinds: usize,
    /// Kinds skipped (needs not met).
    pub skipped: Vec<&'static str>,
    /// Distinct ioctl numbers swept.
    pub ioctls: std::collections::BTreeSet<u32>,
    /// Tries (one armed call each), the final one of each sweep included.
    pub tries: u64,
    /// Tries whose failure fired.
    pub injected: u64,
    /// Fired and answered `ENOMEM`.
    pub enomem: u64,
    /// Fired and succeeded as without injection, by site.
    pub tolerated: BTreeMap<String, u64>,
    /// What went wrong.
    pub violations: Vec<String>,
    /// Probe and init failures that ended cleanly with another errno than ENOMEM (passed on from
    /// the kernel service that failed), with errno and site.
    pub other_errnos: Vec<String>,
    /// Kernel reports (WARNING, BUG, ...) whose stack is the core kernel's alone.
    pub core_reports: Vec<String>,
}

impl Tally {
    /// Files the kernel reports `kmsg` saw: one through lightos_core is a violation of `what`.
    pub fn kernel_reports(&mut self, kmsg: &mut Kmsg, what: &str) {
        for r in kmsg.take_reports() {
            if r.lightos {
                eprintln!("failnth: VIOLATION {what}: kernel report: {}", r.text);
                self.violations
                    .push(format!("{what}: kernel report: {}", r.text));
            } else {
                eprintln!("failnth: core-kernel report during {what}: {}", r.text);
                self.core_reports.push(format!("{what}: {}", r.text));
            }
        }
    }
}

impl Tally {
    /// Tolerated failures in all.
    pub fn tolerated_total(&self) -> u64 {
        self.tolerated.values().sum()
    }
}

/// Whether two outcomes are the same: both successes, or the same errno.
fn same(a: Result<u64, i32>, b: Result<u64, i32>) -> bool {
    match (a, b) {
        (Ok(_), Ok(_)) => true,
        (Err(x), Err(y)) => x == y,
        _ => false,
    }
}

/// Shows an outcome.
fn show(r: Result<u64, i32>) -> String {
    match r {
        Ok(v) => format!("success ({v:#x})"),
        Err(e) => format!("errno {e} ({})", std::io::Error::from_raw_os_error(e)),
    }
}

/// Waits up to 5 s for the module-wide state to be `want` again (jobs end asynchronously),
/// except the count of buffers ever created, which only grows.
pub fn settle(want: &State) -> Result<(), String> {
    let mut last = String::new();
    for _ in 0..100 {
        let now = State::capture(&[])?;
        last = want.diff_except(&now, &["stats.buffers_created"]);
        if last.is_empty() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(last)
}

/// Sweeps `kind`, adding to `tally`; `max_n` bounds the sweep. Without `fail`, only makes the call
/// once without injection and checks the cleanup (a check of the setups, on any kernel).
pub fn sweep(
    kind: &Kind,
    world: &World,
    fail: Option<&sys::FailNth>,
    kmsg: &mut Kmsg,
    max_n: u32,
    tally: &mut Tally,
) -> Result<(), String> {
    let started = std::time::Instant::now();
    let global = State::capture(&[])?;
    let mut found = Vec::new();
    let mut violation = |what: String| {
        eprintln!("failnth: VIOLATION {}: {what}", kind.name);
        found.push(format!("{}: {what}", kind.name));
    };
    let mut tries = 0u64;
    let mut sites: BTreeMap<String, u64> = BTreeMap::new();
    // The outcome without injection.
    let expected = {
        let mut case = (kind.setup)(world).map_err(|e| format!("{}: setup: {e}", kind.name))?;
        let r = (case.call)();
        if let Ok(v) = r {
            if let Err(e) = (case.undo)(v) {
                violation(format!("without injection: {e}"));
            }
        }
        case.close();
        r
    };
    if let Err(d) = settle(&global) {
        violation(format!(
            "without injection, the state after cleanup differs: {d}"
        ));
    }
    let (mut injected, mut enomem, mut tolerated) = (0u64, 0u64, 0u64);
    let mut n = 1;
    while let Some(fail) = fail {
        if n > max_n {
            violation(format!(
                "still failing at n = {max_n} (--max-n); sweep cut short"
            ));
            break;
        }
        let mut case = match (kind.setup)(world) {
            Ok(c) => c,
            Err(e) => {
                violation(format!("n = {n}: setup failed after the previous try: {e}"));
                break;
            }
        };
        let before = State::capture(&case.contexts)?;
        kmsg.skip();
        fail.arm(n).map_err(|e| format!("arming fail-nth: {e}"))?;
        let r = (case.call)();
        let fired = fail.disarm();
        tries += 1;
        if !fired {
            if !same(r, expected) {
                violation(format!(
                    "n = {n} (nothing injected): {} where the first call gave {}",
                    show(r),
                    show(expected)
                ));
            }
            if let Ok(v) = r {
                if let Err(e) = (case.undo)(v) {
                    violation(format!("n = {n} (nothing injected): {e}"));
                }
            }
            case.close();
            if let Err(d) = settle(&global) {
                violation(format!("n = {n}: state after cleanup differs: {d}"));
            }
            break;
        }
        injected += 1;
        let site = kmsg.site();
        match r {
            Err(e) if e == libc::ENOMEM => {
                enomem += 1;
                let after = State::capture(&case.contexts)?;
                let d = before.diff(&after);
                if !d.is_empty() {
                    violation(format!(
                        "n = {n}: ENOMEM (at {}) but the state changed: {d}",
                        site.as_deref().unwrap_or("?")
                    ));
                }
                if let (Some(nr), Some(&fd)) = (kind.ioctl, case.contexts.first()) {
                    check_last_error(fd, nr, n, &mut violation)?;
                }
            }
            r if same(r, expected) => {
                tolerated += 1;
                let at = site
                    .as_deref()
                    .unwrap_or("a silent (__GFP_NOWARN) allocation");
                *sites.entry(format!("{} at {at}", kind.name)).or_default() += 1;
                if let Ok(v) = r {
                    if let Err(e) = (case.undo)(v) {
                        violation(format!("n = {n}: failure injected at {at}: {e}"));
                    }
                }
            }
            r => {
                violation(format!(
                    "n = {n}: failure injected at {} gave {} (want ENOMEM, or {} as without injection)",
                    site.as_deref().unwrap_or("?"),
                    show(r),
                    show(expected)
                ));
                if let Ok(v) = r {
                    let _ = (case.undo)(v);
                }
            }
        }
        case.close();
        if let Err(d) = settle(&global) {
            violation(format!(
                "n = {n}: after the failed call and cleanup the state differs: {d}"
            ));
        }
        n += 1;
    }
    println!(
        "failnth: {:<44} {:>4} tries, {:>4} injected: {:>4} ENOMEM, {:>3} tolerated (unarmed: {}; {} s)",
        kind.name,
        n,
        injected,
        enomem,
        tolerated,
        show(expected),
        started.elapsed().as_secs()
    );
    tally.kernel_reports(kmsg, kind.name);
    tally.kinds += 1;
    tally.tries += tries;
    tally.violations.extend(found);
    for (site, count) in sites {
        *tally.tolerated.entry(site).or_default() += count;
    }
    if let Some(nr) = kind.ioctl {
        tally.ioctls.insert(nr);
    }
    tally.injected += injected;
    tally.enomem += enomem;
    Ok(())
}

/// After an ioctl failed with ENOMEM, `QUERY_LAST_ERROR` of its context must name it.
fn check_last_error(
    fd: RawFd,
    nr: u32,
    n: u32,
    violation: &mut impl FnMut(String),
) -> Result<(), String> {
    let last = super::fixture::query(fd, u::QUERY_LAST_ERROR, u::QueryLastError::default())?;
    if last.error != libc::ENOMEM as u32 || last.ioctl_nr != nr {
        violation(format!(
            "n = {n}: QUERY_LAST_ERROR says errno {} ioctl {:#x}, want ENOMEM and {nr:#x}",
            last.error, last.ioctl_nr
        ));
    }
    Ok(())
}
