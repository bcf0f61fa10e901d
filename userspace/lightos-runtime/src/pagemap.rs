//! Diagnostics: which physical page frame backs a virtual address of this process, read from
//! `/proc/self/pagemap` (frame numbers need `CAP_SYS_ADMIN`). Tests and benchmarks use it to prove
//! that two mappings share pages, i.e. that nothing was copied.

use std::{fs::File, io, os::unix::fs::FileExt};

/// The page frame number backing `addr`, or `None` when the page is not present (or the caller may
/// not see frame numbers, which then read as 0).
pub fn frame_of(addr: *const u8) -> io::Result<Option<u64>> {
    let file = File::open("/proc/self/pagemap")?;
    let page = addr as u64 / 4096;
    let mut entry = [0u8; 8];
    file.read_exact_at(&mut entry, page * 8)?;
    let entry = u64::from_le_bytes(entry);
    let present = entry & (1 << 63) != 0;
    let pfn = entry & ((1 << 55) - 1);
    Ok((present && pfn != 0).then_some(pfn))
}

/// Whether every page of `a` and `b` (same length) is backed by the same frame.
pub fn same_frames(a: &[u8], b: &[u8]) -> io::Result<bool> {
    if a.len() != b.len() {
        return Ok(false);
    }
    for off in (0..a.len()).step_by(4096) {
        let (fa, fb) = (frame_of(a[off..].as_ptr())?, frame_of(b[off..].as_ptr())?);
        if fa.is_none() || fa != fb {
            return Ok(false);
        }
    }
    Ok(true)
}
