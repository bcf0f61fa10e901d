// SPDX-License-Identifier: GPL-2.0

//! The file operations of `/dev/lightos`: open, release, ioctl (through [`ioctl_table`]), fdinfo.
//!
//! The kernel crate's `MiscDeviceRegistration` (7.2) leaves `file_operations.owner` unset, so an open
//! file would not pin the module and `rmmod` with an open fd would free code still in use. The module
//! therefore swaps in a copy of the operations with `owner` set ([`ModuleFops`]), and `open`
//! refuses any file that was opened through the unpinned original during that swap's window.

use crate::{context::Context, ioctl::table, mmap, spike, uapi};
use kernel::{
    bindings,
    fs::{File, Kiocb},
    iov::IovIterDest,
    miscdevice::{MiscDevice, MiscDeviceRegistration},
    mm::virt::VmaNew,
    prelude::*,
    seq_file::{seq_print, SeqFile},
    types::Opaque,
};

/// The private data of one open `/dev/lightos`.
#[pin_data]
pub(crate) struct LightosFile {
    #[pin]
    ctx: Context,
}

#[vtable]
impl MiscDevice for LightosFile {
    type Ptr = Pin<KBox<Self>>;

    fn open(file: &File, _misc: &MiscDeviceRegistration<Self>) -> Result<Pin<KBox<Self>>> {
        // SAFETY: `file` is valid for this call and `f_op` was set by `misc_open` before calling us.
        let owner = unsafe { (*(*file.as_ptr()).f_op).owner };
        if owner.is_null() {
            // Opened before the module finished loading: it would not hold a module reference.
            return Err(EAGAIN);
        }
        KBox::try_pin_init(try_pin_init!(Self { ctx <- Context::new()? }), GFP_KERNEL)
    }

    fn ioctl(me: Pin<&Self>, _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        me.ctx.count_ioctl();
        table::dispatch(&me.ctx, cmd, arg)
    }

    fn read_iter(kiocb: Kiocb<'_, Self::Ptr>, iov: &mut IovIterDest<'_>) -> Result<usize> {
        // SAFETY: the kiocb and its file are valid for the duration of this call.
        let nonblocking = unsafe { (*(*kiocb.as_raw()).ki_filp).f_flags } & bindings::O_NONBLOCK != 0;
        let pos = kiocb.ki_pos();
        let me = kiocb.file();
        spike::ioctl::read(&me.ctx, pos, nonblocking, iov)
    }

    fn mmap(me: Pin<&Self>, _file: &File, vma: &VmaNew) -> Result {
        mmap::map_object(&me.ctx, vma)
    }

    fn show_fdinfo(me: Pin<&Self>, m: &SeqFile, _file: &File) {
        seq_print!(m, "lightos-context:\t{}\n", me.ctx.id());
        seq_print!(m, "lightos-ioctls:\t{}\n", me.ctx.ioctls());
        seq_print!(m, "lightos-buffers:\t{}\n", me.ctx.buffer_count());
        seq_print!(m, "lightos-queues:\t{}\n", me.ctx.queue_count());
        seq_print!(m, "lightos-spike-queues:\t{}\n", me.ctx.spike_queue_count());
        seq_print!(m, "lightos-jobs:\t{}\n", me.ctx.jobs());
        seq_print!(m, "lightos-routes:\t{}\n", me.ctx.routes().rule_count());
        for op in 1..=uapi::OP_COUNT {
            let n = me.ctx.op_jobs(op);
            if n != 0 {
                seq_print!(m, "lightos-op-{}:\t{}\n", crate::sched::account::op_name(op), n);
            }
        }
        if let Some(executor) = me.ctx.executor() {
            seq_print!(m, "lightos-executor:\t{}\n", crate::sched::backend::Backend::id(&*executor));
        }
    }
}

/// A copy of the miscdevice's file operations with `owner` set, so that opens pin the module.
///
/// It must outlive the registration it is installed into (the module struct drops the registration
/// first).
pub(crate) struct ModuleFops(Opaque<bindings::file_operations>);

// SAFETY: the table is written once, in `install` during module init before any open can use it,
// and only read afterwards (by the VFS); it holds function pointers and the module pointer only.
unsafe impl Send for ModuleFops {}
// SAFETY: see `Send`: shared access is read-only after `install`.
unsafe impl Sync for ModuleFops {}

impl ModuleFops {
    /// An empty table, filled by [`ModuleFops::install`].
    pub(crate) fn uninit() -> Self {
        Self(Opaque::uninit())
    }

    /// Makes every later open of `misc` take a reference on `module`: copies `misc`'s file operations
    /// into `self` with `owner` set and points `misc` at the copy.
    pub(crate) fn install(&self, misc: &MiscDeviceRegistration<LightosFile>, module: &'static ThisModule) {
        let raw = misc.as_raw();
        // SAFETY: `raw` is the registered miscdevice; its `fops` points to a static `file_operations`.
        // `self` is pinned in the module struct next to the registration, which is dropped
        // (deregistered) before it, so the copy outlives every open that can see it. `misc_open` reads
        // `misc->fops` under its own lock; an aligned pointer store is atomic on every architecture
        // Linux supports, so a concurrent open sees either the original (refused in `open`) or the copy.
        unsafe {
            let mut copy = core::ptr::read((*raw).fops);
            copy.owner = module.as_ptr();
            self.0.get().write(copy);
            core::ptr::write_volatile(&raw mut (*raw).fops, self.0.get().cast_const());
        }
    }
}
