// SPDX-License-Identifier: GPL-2.0

//! Buffer objects: zeroed pages shared zero-copy between a client's mmap, executors and devices.
//!
//! A [`Buffer`] is reference-counted: a context's handle holds one reference, and so will every job
//! that names it, so destroying the handle or closing the file never frees memory still in use.
//! Pages a client has mapped are additionally pinned by the mapping itself (`vm_insert_page` takes
//! a page reference), so a mapping stays valid after the object is gone.

use crate::{
    quota::{self, Account, Charge},
    reason::{self, ensure, reject, Rejection},
    telemetry::stats,
    uapi,
};
use kernel::{
    alloc::flags::{GFP_KERNEL, GFP_KERNEL_ACCOUNT, __GFP_ZERO},
    page::{Page, PAGE_SIZE},
    prelude::*,
    sync::{
        atomic::{Atomic, Relaxed},
        Arc,
    },
};

/// A share of [`uapi::MAX_BUFFER_BYTES`], returned when dropped.
struct ByteReservation(u64);

impl ByteReservation {
    /// Reserves `bytes` of the module-wide budget, or fails with `ENOMEM`.
    fn new(bytes: u64) -> Result<Self, Rejection> {
        let before = stats::BUFFER_BYTES.fetch_add(bytes, Relaxed);
        if before.checked_add(bytes).is_none_or(|total| total > uapi::MAX_BUFFER_BYTES) {
            stats::BUFFER_BYTES.fetch_sub(bytes, Relaxed);
            stats::BUFFER_LIMIT_HITS.add(1, Relaxed);
            return Err(reject!(
                ENOMEM,
                "{bytes} more bytes would exceed the module-wide {} bytes of buffers",
                uapi::MAX_BUFFER_BYTES
            ));
        }
        Ok(Self(bytes))
    }
}

impl Drop for ByteReservation {
    fn drop(&mut self) {
        stats::BUFFER_BYTES.fetch_sub(self.0, Relaxed);
    }
}

/// A buffer object: whole zeroed pages, flags and a placement.
pub(crate) struct Buffer {
    pages: KVVec<Page>,
    flags: u32,
    placement: u32,
    /// Device (bus) address once a device has mapped the buffer; 0 until then.
    bus_addr: Atomic<u64>,
    /// Handles clients (contexts that are not executors) hold: once it falls to 0 the buffer is
    /// revoked from the executors that cached it ([`Buffer::revoked`]).
    client_handles: Atomic<u32>,
    _bytes: ByteReservation,
    /// Its creator's buffer and byte quotas, given back when the object dies.
    _quota: (Charge, Charge),
}

impl Buffer {
    /// Validates a create request and allocates the buffer.
    ///
    /// `EINVAL`: size 0 or above [`uapi::MAX_BUFFER_SIZE`], unknown flags, unknown placement.
    /// `EDQUOT`: `account`'s buffer or byte quota would be exceeded.
    /// `ENOMEM`: the module-wide byte budget is spent, or page allocation failed.
    ///
    /// The pages are charged to the caller's memory cgroup (`__GFP_ACCOUNT`), as DRM drivers do.
    pub(crate) fn new(
        size: u64,
        flags: u32,
        placement: u32,
        account: &Account,
    ) -> Result<Arc<Self>, Rejection> {
        let max = uapi::MAX_BUFFER_SIZE;
        ensure!(size != 0 && size <= max, EINVAL, "size {size}: 1 to {max} bytes");
        reason::known_flags(flags.into(), uapi::BUFFER_FLAGS_ALL.into())?;
        ensure!(
            placement <= uapi::PLACEMENT_MAX,
            EINVAL,
            "placement {placement}: unknown (0 to {})",
            uapi::PLACEMENT_MAX
        );
        let page_size = PAGE_SIZE as u64;
        let npages = size.div_ceil(page_size);
        let quota = (
            account.charge(quota::Kind::Buffers, 1)?,
            account.charge(quota::Kind::BufferBytes, npages * page_size)?,
        );
        let bytes = ByteReservation::new(npages * page_size)?;
        let npages = usize::try_from(npages).map_err(|_| EINVAL)?;
        let mut pages = KVVec::with_capacity(npages, GFP_KERNEL)?;
        for _ in 0..npages {
            pages.push(Page::alloc_page(GFP_KERNEL_ACCOUNT | __GFP_ZERO)?, GFP_KERNEL)?;
        }
        // No device can map buffers yet: every placement is host memory for now.
        let placement = uapi::PLACEMENT_HOST;
        // Counted as live from here: `Drop` uncounts it, also if `Arc::new` fails and drops it.
        stats::BUFFERS.add(1, Relaxed);
        let buffer = Self {
            pages,
            flags,
            placement,
            bus_addr: Atomic::new(0),
            client_handles: Atomic::new(0),
            _bytes: bytes,
            _quota: quota,
        };
        let buffer = Arc::new(buffer, GFP_KERNEL)?;
        stats::BUFFERS_CREATED.add(1, Relaxed);
        Ok(buffer)
    }

    /// The buffer's pages, in order.
    pub(crate) fn pages(&self) -> &[Page] {
        &self.pages
    }

    /// The buffer's size in bytes (whole pages).
    pub(crate) fn size(&self) -> usize {
        self.pages.len() * PAGE_SIZE
    }

    /// The `BUFFER_*` flags it was created with.
    pub(crate) fn flags(&self) -> u32 {
        self.flags
    }

    /// The placement it got.
    pub(crate) fn placement(&self) -> u32 {
        self.placement
    }

    /// Whether the host may only read it.
    pub(crate) fn host_read_only(&self) -> bool {
        self.flags & uapi::BUFFER_HOST_READ_ONLY != 0
    }

    /// Copies `len` bytes at byte `offset` of the buffer to `dst`. `EINVAL` past the end.
    ///
    /// # Safety
    ///
    /// `dst` must be valid for writes of `len` bytes and not overlap the buffer's pages.
    pub(crate) unsafe fn copy_out(&self, offset: usize, dst: *mut u8, len: usize) -> Result {
        self.for_each_span(offset, len, |page, at, done, n| {
            // SAFETY: `dst + done` has `n` writable bytes left by the caller's guarantee
            // (`done + n <= len`); `at + n` stays within the page.
            unsafe { page.read_raw(dst.add(done), at, n) }
        })
    }

    /// Copies `len` bytes from `src` to byte `offset` of the buffer. `EINVAL` past the end.
    ///
    /// # Safety
    ///
    /// `src` must be valid for reads of `len` bytes and not overlap the buffer's pages.
    pub(crate) unsafe fn copy_in(&self, offset: usize, src: *const u8, len: usize) -> Result {
        self.for_each_span(offset, len, |page, at, done, n| {
            // SAFETY: `src + done` has `n` readable bytes left by the caller's guarantee;
            // `at + n` stays within the page.
            unsafe { page.write_raw(src.add(done), at, n) }
        })
    }

    /// Splits `[offset, offset + len)` at page boundaries and calls `f(page, offset in page,
    /// bytes done so far, bytes in this span)` for each span.
    fn for_each_span(
        &self,
        offset: usize,
        len: usize,
        mut f: impl FnMut(&Page, usize, usize, usize) -> Result,
    ) -> Result {
        let end = offset.checked_add(len).ok_or(EINVAL)?;
        if end > self.size() {
            return Err(EINVAL);
        }
        let mut done = 0;
        while done < len {
            let pos = offset + done;
            let (index, at) = (pos / PAGE_SIZE, pos % PAGE_SIZE);
            let n = (PAGE_SIZE - at).min(len - done);
            f(&self.pages[index], at, done, n)?;
            done += n;
        }
        Ok(())
    }

    /// Whether every client let it go (destroyed its handles or closed its context): an executor
    /// that cached a handle to it must give the handle up.
    pub(crate) fn revoked(&self) -> bool {
        self.client_handles.load(Relaxed) == 0
    }

    /// The device address, 0 when no device has mapped it.
    pub(crate) fn bus_addr(&self) -> u64 {
        self.bus_addr.load(Relaxed)
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        stats::BUFFERS.fetch_sub(1, Relaxed);
    }
}

/// The mmap cookie of `handle`.
pub(crate) fn mmap_offset(handle: u32) -> u64 {
    u64::from(handle) << uapi::MMAP_HANDLE_SHIFT
}

/// One handle's entry in a context's table: the buffer, counted among its client handles while
/// the entry lives when it is a client's.
pub(crate) struct HandleEntry {
    buffer: Arc<Buffer>,
    client: bool,
}

impl HandleEntry {
    /// An entry for `buffer`, a client's (not an executor's) when `client`.
    pub(crate) fn new(buffer: Arc<Buffer>, client: bool) -> Self {
        if client {
            buffer.client_handles.add(1, Relaxed);
        }
        Self { buffer, client }
    }

    /// The buffer.
    pub(crate) fn buffer(&self) -> &Arc<Buffer> {
        &self.buffer
    }
}

impl Drop for HandleEntry {
    fn drop(&mut self) {
        if self.client {
            self.buffer.client_handles.fetch_sub(1, Relaxed);
        }
    }
}

/// Room for one handle's entry, allocated before anything the handle is for exists (a buffer
/// object, a job taken from its queue), so that failing for memory changes nothing.
pub(crate) struct HandleRoom(KBox<core::mem::MaybeUninit<HandleEntry>>);

impl HandleRoom {
    /// Room for one entry. `ENOMEM`.
    pub(crate) fn new() -> Result<Self> {
        Ok(Self(KBox::new_uninit(GFP_KERNEL)?))
    }

    /// The entry for `buffer`, a client's when `client`, in this room.
    pub(crate) fn fill(self, buffer: Arc<Buffer>, client: bool) -> KBox<HandleEntry> {
        KBox::write(self.0, HandleEntry::new(buffer, client))
    }
}

/// A table of buffer handles (a context's), where a running job's operand buffers get handles for
/// its executor; the executor uses it without knowing contexts.
pub(crate) trait Handles {
    /// Gives `buffer` a new handle in the table, its entry in `room`.
    fn insert(&self, buffer: Arc<Buffer>, room: HandleRoom) -> Result<u32, Rejection>;
    /// Drops `handle` (the buffer lives on while other references remain), or `ENOENT`.
    fn remove(&self, handle: u32) -> Result<(), Rejection>;
}
