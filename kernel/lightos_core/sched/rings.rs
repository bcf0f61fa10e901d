// SPDX-License-Identifier: GPL-2.0

//! A queue's submission and completion rings (`RING_SETUP`, `ENTER`), io_uring's SQ and CQ in one
//! shared mapping: a [`uapi::RingHeader`], then the submission entries (whole
//! [`uapi::Primitive`]s), then the completion entries ([`uapi::Cqe`]).
//!
//! The client writes entries and publishes `sq_tail`; `ENTER` copies each entry once into kernel
//! memory (then it is validated like any `SUBMIT`) and publishes `sq_head`. When a job of the
//! queue ends, its timeline posts a completion entry under its lock and publishes `cq_tail`; a
//! client that polls the ring learns of completions without a system call. The kernel keeps its
//! own copies of the indices it owns (`sq_head`, `cq_tail`) and only reads the client's
//! (`sq_tail`, `cq_head`), clamping what they imply to the ring, so garbage there can never make it
//! touch memory outside the rings. A completion that finds the ring full is counted in
//! `cq_overflow` and stays in the timeline (`WAIT`, the completion page): never lost silently.

use crate::{quota::Charge, sched::submit::Scratch, uapi};
use core::mem::offset_of;
use kernel::{
    alloc::flags::{GFP_KERNEL_ACCOUNT, __GFP_ZERO},
    bindings, new_mutex,
    page::{Page, PAGE_SIZE},
    prelude::*,
    sync::{
        atomic::{Acquire, Atomic, Relaxed, Release},
        Arc, Mutex,
    },
};

/// A queue's rings.
/// The submission side of a queue's rings, under one lock.
pub(crate) struct SqState {
    /// The next submission entry to take (authoritative; published to the header).
    pub(crate) head: u32,
    /// The chain's working storage, kept across calls: a warm `ENTER` allocates nothing.
    pub(crate) scratch: Scratch,
}

#[pin_data]
pub(crate) struct Rings {
    sq_entries: u32,
    cq_entries: u32,
    cqes_offset: usize,
    /// Header page first, then the entries' pages.
    pages: KVec<Page>,
    /// The submission side: its lock serialises `ENTER` calls that submit.
    #[pin]
    sq: Mutex<SqState>,
    /// The next completion entry to write (authoritative; published to the header). Written only
    /// under the owning timeline's lock.
    cq_tail: Atomic<u32>,
    /// Completions that found the ring full; written only under the owning timeline's lock.
    cq_overflow: Atomic<u64>,
    /// Entries `ENTER` took and the chain rejected.
    sq_rejected: Atomic<u64>,
    /// Its creator's buffer-bytes quota, given back when the rings die.
    _quota: Charge,
}

impl Rings {
    /// Zeroed rings of `sq_entries` and `cq_entries` (powers of two, `1 <= sq <= cq`, within the
    /// ABI's maxima; else `EINVAL`), paid for by `quota`. Pages are charged to the memory cgroup.
    pub(crate) fn new(sq_entries: u32, cq_entries: u32, quota: Charge) -> Result<Arc<Self>> {
        let pow2 = |n: u32| n.is_power_of_two();
        if !pow2(sq_entries)
            || !pow2(cq_entries)
            || sq_entries > uapi::RING_MAX_SQ_ENTRIES
            || cq_entries > uapi::RING_MAX_CQ_ENTRIES
            || cq_entries < sq_entries
        {
            return Err(EINVAL);
        }
        let (cqes_offset, count) = Self::layout(sq_entries, cq_entries);
        let mut pages = KVec::with_capacity(count, GFP_KERNEL)?;
        for _ in 0..count {
            pages.push(Page::alloc_page(GFP_KERNEL_ACCOUNT | __GFP_ZERO)?, GFP_KERNEL)?;
        }
        let header = uapi::RingHeader {
            sq_mask: sq_entries - 1,
            sq_entries,
            cq_mask: cq_entries - 1,
            cq_entries,
            ..Default::default()
        };
        // SAFETY: the pages are ours alone until this function returns (nothing is mapped yet);
        // `header` is readable for its size, which fits the page (asserted by the uapi).
        unsafe { pages[0].write_raw((&raw const header).cast(), 0, size_of::<uapi::RingHeader>())? };
        Arc::pin_init(
            try_pin_init!(Self {
                sq_entries,
                cq_entries,
                cqes_offset,
                pages,
                sq <- new_mutex!(SqState { head: 0, scratch: Scratch::new() }),
                cq_tail: Atomic::new(0),
                cq_overflow: Atomic::new(0),
                sq_rejected: Atomic::new(0),
                _quota: quota,
            }? Error),
            GFP_KERNEL,
        )
    }

    /// Where the completion entries start, and the pages the rings take.
    fn layout(sq_entries: u32, cq_entries: u32) -> (usize, usize) {
        let sqes = uapi::RING_SQES_OFFSET as usize;
        let cqes_offset = (sqes + sq_entries as usize * size_of::<uapi::Primitive>())
            .next_multiple_of(size_of::<uapi::Cqe>());
        let bytes = cqes_offset + cq_entries as usize * size_of::<uapi::Cqe>();
        (cqes_offset, bytes.div_ceil(PAGE_SIZE))
    }

    /// The pages rings of these sizes take (sizes within the ABI's maxima).
    pub(crate) fn pages_for(sq_entries: u32, cq_entries: u32) -> usize {
        Self::layout(sq_entries, cq_entries).1
    }

    /// Bytes to map: header and entries, whole pages.
    pub(crate) fn mmap_size(&self) -> usize {
        self.pages.len() * PAGE_SIZE
    }

    /// Where the completion entries start.
    pub(crate) fn cqes_offset(&self) -> usize {
        self.cqes_offset
    }

    /// The pages to map, in order.
    pub(crate) fn pages(&self) -> &[Page] {
        &self.pages
    }

    /// Completion entries.
    pub(crate) fn cq_entries(&self) -> u32 {
        self.cq_entries
    }

    /// Runs `f` on the header's naturally aligned word at `offset`, accessed atomically.
    fn header_word<T: kernel::sync::atomic::AtomicType, R>(&self, offset: usize, f: impl FnOnce(&Atomic<T>) -> R) -> R {
        // SAFETY: the header page is a valid page owned by `self`; it is unmapped below, in
        // reverse order of mapping, before anything else is mapped.
        let base = unsafe { bindings::kmap_local_page(self.pages[0].as_ptr()) }.cast::<u8>();
        // SAFETY: `offset` is the offset of a field of type `T` of the header, which lies at the
        // start of the page, so the pointer is in bounds and aligned. The kernel only accesses it
        // atomically; userspace's accesses to its shared mapping are its own (as with READ_ONCE /
        // WRITE_ONCE on an io_uring ring), and any bits it writes are a valid `T` (an integer).
        let result = f(unsafe { Atomic::from_ptr(base.add(offset).cast::<T>()) });
        // SAFETY: `base` came from the `kmap_local_page` above and nothing was mapped since.
        unsafe { bindings::kunmap_local(base.cast()) };
        result
    }

    /// Copies `len` bytes at byte `offset` of the rings to `dst`.
    ///
    /// # Safety
    ///
    /// `dst` must be valid for writes of `len` bytes.
    unsafe fn copy_out(&self, mut offset: usize, dst: *mut u8, len: usize) -> Result {
        let mut done = 0;
        while done < len {
            let (index, at) = (offset / PAGE_SIZE, offset % PAGE_SIZE);
            let n = (PAGE_SIZE - at).min(len - done);
            let page = self.pages.get(index).ok_or(EINVAL)?;
            // SAFETY: `dst + done` has `n` writable bytes left (caller's guarantee, `done + n <=
            // len`); `at + n` stays within the page. Userspace may write the page concurrently: the
            // copy may then see a mix of old and new bytes, which is a valid primitive value that
            // validation then judges, as for any SUBMIT.
            unsafe { page.read_raw(dst.add(done), at, n)? };
            done += n;
            offset += n;
        }
        Ok(())
    }

    /// Submission entries the client published and the kernel has not taken, from `head`
    /// (`sq_tail - head`, `None` when the client's tail is more than a ring ahead: garbage).
    pub(crate) fn sq_ready(&self, head: u32) -> Option<u32> {
        let tail = self.header_word::<u32, _>(offset_of!(uapi::RingHeader, sq_tail), |a| a.load(Acquire));
        let ready = tail.wrapping_sub(head);
        (ready <= self.sq_entries).then_some(ready)
    }

    /// The lock serialising submitters, holding the kernel's `sq_head` and the submission chain's
    /// working storage.
    pub(crate) fn sq(&self) -> &Mutex<SqState> {
        &self.sq
    }

    /// Copies `count` submission entries from `head`, once each, into `prims` (emptied first;
    /// it only allocates to grow past its capacity).
    pub(crate) fn read_sqes(&self, head: u32, count: u32, prims: &mut KVec<uapi::Primitive>) -> Result {
        prims.clear();
        prims.reserve(count as usize, GFP_KERNEL)?;
        for i in 0..count {
            let index = (head.wrapping_add(i) & (self.sq_entries - 1)) as usize;
            let offset = uapi::RING_SQES_OFFSET as usize + index * size_of::<uapi::Primitive>();
            let mut prim = core::mem::MaybeUninit::<uapi::Primitive>::uninit();
            // SAFETY: `prim` is writable for its size; every bit pattern is a valid `Primitive`
            // (integers only), so it is initialised once the copy succeeded.
            let prim = unsafe {
                self.copy_out(offset, prim.as_mut_ptr().cast(), size_of::<uapi::Primitive>())?;
                prim.assume_init()
            };
            prims.push(prim, GFP_KERNEL)?;
        }
        Ok(())
    }

    /// Takes `count` entries: publishes `sq_head` (the caller holds [`Rings::sq`]'s lock).
    pub(crate) fn consume(&self, head: &mut u32, count: u32, rejected: bool) {
        *head = head.wrapping_add(count);
        let value = *head;
        self.header_word::<u32, _>(offset_of!(uapi::RingHeader, sq_head), |a| a.store(value, Release));
        if rejected {
            let total = self.sq_rejected.fetch_add(u64::from(count), Relaxed) + u64::from(count);
            self.header_word::<u64, _>(offset_of!(uapi::RingHeader, sq_rejected), |a| a.store(total, Relaxed));
        }
    }

    /// The kernel's completion tail (entries ever posted, wrapping).
    pub(crate) fn cq_tail(&self) -> u32 {
        self.cq_tail.load(Relaxed)
    }

    /// Completion entries in the ring the client has not consumed (clamped to the ring).
    pub(crate) fn cq_ready(&self) -> u32 {
        let head = self.header_word::<u32, _>(offset_of!(uapi::RingHeader, cq_head), |a| a.load(Acquire));
        self.cq_tail.load(Relaxed).wrapping_sub(head).min(self.cq_entries)
    }

    /// Posts `cqe` and publishes `cq_tail` (release), or counts an overflow when the ring is full.
    /// Called only under the owning timeline's lock. Returns whether it was posted.
    pub(crate) fn post(&self, cqe: &uapi::Cqe) -> bool {
        let tail = self.cq_tail.load(Relaxed);
        let head = self.header_word::<u32, _>(offset_of!(uapi::RingHeader, cq_head), |a| a.load(Acquire));
        if tail.wrapping_sub(head) >= self.cq_entries {
            let total = self.cq_overflow.load(Relaxed) + 1;
            self.cq_overflow.store(total, Relaxed);
            self.header_word::<u64, _>(offset_of!(uapi::RingHeader, cq_overflow), |a| a.store(total, Release));
            return false;
        }
        let index = (tail & (self.cq_entries - 1)) as usize;
        let offset = self.cqes_offset + index * size_of::<uapi::Cqe>();
        // Entries are 32 bytes at a 32-byte aligned offset: never across a page boundary.
        let (page, at) = (offset / PAGE_SIZE, offset % PAGE_SIZE);
        let Some(page) = self.pages.get(page) else { return false };
        // SAFETY: `cqe` is readable for its size and `at + size` stays within the page.
        if unsafe { page.write_raw(core::ptr::from_ref(cqe).cast(), at, size_of::<uapi::Cqe>()) }.is_err() {
            return false;
        }
        let tail = tail.wrapping_add(1);
        self.cq_tail.store(tail, Relaxed);
        // A release store: a reader that sees the new tail sees the entry.
        self.header_word::<u32, _>(offset_of!(uapi::RingHeader, cq_tail), |a| a.store(tail, Release));
        true
    }
}
