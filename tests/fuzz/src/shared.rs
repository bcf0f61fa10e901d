//! The page shared between the supervisor and the worker process that runs programs: the worker
//! writes each program there before running it and bumps a heartbeat after it, so when the worker
//! dies (the kernel oopsed in one of its calls) or stops progressing (a call hung), the supervisor
//! still has the program that did it.

use std::sync::atomic::{AtomicU64, Ordering};

/// Room for one program's JSON.
const CAPACITY: usize = 4 << 20;
/// Room for the worker's coverage (module PCs) at its end.
const MAX_PCS: usize = 1 << 18;
/// Where the PCs start (after the header page); the JSON follows them.
const PCS_AT: usize = 4096;
const JSON_AT: usize = PCS_AT + MAX_PCS * 8;

/// A worker's running totals, as the supervisor reads them.
#[repr(C)]
#[derive(Default)]
pub struct Totals {
    pub calls: AtomicU64,
    pub ioctls: AtomicU64,
    pub programs: AtomicU64,
    pub injected: AtomicU64,
    pub emulator_faults: AtomicU64,
    /// Bit `nr` per LightOS ioctl number issued.
    pub nrs: AtomicU64,
    /// Distinct module PCs reached.
    pub pcs: AtomicU64,
}

#[repr(C)]
struct Header {
    /// Programs finished (the supervisor's hang detector watches it move).
    heartbeat: AtomicU64,
    /// The running program's index.
    index: AtomicU64,
    /// Bytes of JSON at JSON_AT.
    len: AtomicU64,
    /// PCs stored at PCS_AT.
    npcs: AtomicU64,
    totals: Totals,
}

/// A shared anonymous mapping that survives `fork` (MAP_SHARED).
pub struct Shared {
    addr: usize,
}

impl Shared {
    /// Maps the region; call before forking the worker.
    pub fn new() -> Self {
        // SAFETY: a fresh shared anonymous mapping, zero-filled, aliasing nothing.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                JSON_AT + CAPACITY,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert!(p != libc::MAP_FAILED, "mmap of the shared page failed");
        Shared { addr: p as usize }
    }

    fn header(&self) -> &Header {
        // SAFETY: the mapping starts with a zero-initialised Header (atomics: any bits are valid)
        // and lives as long as `self`.
        unsafe { &*(self.addr as *const Header) }
    }

    /// Worker: records program `index` (its JSON) before running it.
    pub fn begin(&self, index: u64, json: &str) {
        let n = json.len().min(CAPACITY);
        // SAFETY: `n` bytes fit in the JSON area; only the worker writes them.
        unsafe {
            std::ptr::copy_nonoverlapping(json.as_ptr(), (self.addr + JSON_AT) as *mut u8, n)
        };
        self.header().len.store(n as u64, Ordering::Release);
        self.header().index.store(index, Ordering::Release);
    }

    /// Worker: the program finished.
    pub fn end(&self) {
        self.header().heartbeat.fetch_add(1, Ordering::Release);
    }

    /// Supervisor: programs finished so far.
    pub fn heartbeat(&self) -> u64 {
        self.header().heartbeat.load(Ordering::Acquire)
    }

    /// Supervisor: the index and JSON of the program running (or last run).
    pub fn current(&self) -> (u64, String) {
        let n = self.header().len.load(Ordering::Acquire) as usize;
        // SAFETY: `n` bytes of the JSON area were written by `begin` (bounded by CAPACITY).
        let bytes = unsafe { std::slice::from_raw_parts((self.addr + JSON_AT) as *const u8, n) };
        (
            self.header().index.load(Ordering::Acquire),
            String::from_utf8_lossy(bytes).into_owned(),
        )
    }
}

impl Shared {
    /// The worker's running totals.
    pub fn totals(&self) -> &Totals {
        &self.header().totals
    }

    /// Worker: stores the module PCs it reached (at most MAX_PCS).
    pub fn store_pcs(&self, pcs: impl Iterator<Item = u64>) {
        let mut n = 0;
        for pc in pcs.take(MAX_PCS) {
            // SAFETY: slot `n` < MAX_PCS lies in the PC area.
            unsafe { ((self.addr + PCS_AT) as *mut u64).add(n).write(pc) };
            n += 1;
        }
        self.header().npcs.store(n as u64, Ordering::Release);
    }

    /// Supervisor: the PCs the worker stored.
    pub fn pcs(&self) -> Vec<u64> {
        let n = self.header().npcs.load(Ordering::Acquire) as usize;
        // SAFETY: `n` ≤ MAX_PCS words written by `store_pcs`.
        unsafe { std::slice::from_raw_parts((self.addr + PCS_AT) as *const u64, n.min(MAX_PCS)) }
            .to_vec()
    }
}
