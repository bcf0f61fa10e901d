// SPDX-License-Identifier: GPL-2.0

//! LightOS core: `/dev/lightos`, the kernel side of the LightOS compute stack.
//!
//! Each open file description of `/dev/lightos` is a [`context::Context`]. The binary interface is
//! declared once in `include/uapi/lightos.rs`, included here as [`uapi`].

use kernel::{driver, miscdevice::MiscDeviceRegistration, pci, prelude::*, sync::Arc};

#[path = "../../include/uapi/lightos.rs"]
pub mod uapi;

mod buffer;
mod context;
mod errno;
mod file;
mod ioctl;
mod mmap;
mod privilege;
mod quota;
mod reason;
mod sched;
mod spike;
mod telemetry;
mod time;

#[path = "../drivers/photonic/mod.rs"]
mod photonic;

/// The module's version, reported by `LIGHTOS_IOC_GET_INFO` (kept equal to the Cargo workspace's).
pub const MODULE_VERSION: &str = "0.1.0";

module! {
    type: LightosModule,
    name: "lightos_core",
    authors: ["LightOS developers"],
    description: "LightOS core: /dev/lightos compute contexts",
    license: "GPL",
    imports_ns: ["DMA_BUF"],
    params: {
        executor_gid: i64 {
            default: -1,
            description: "Members of this group (a gid) may register executors; -1: only CAP_SYS_ADMIN",
        },
        null_backend: u32 {
            default: 0,
            description: "1: register null0, which completes every primitive at once (measuring the framework alone)",
        },
    },
}

/// The loaded module: the `/dev/lightos` registration and the file operations it uses.
#[pin_data(PinnedDrop)]
struct LightosModule {
    /// Dropped first (fields drop in order), so no new open can start before `fops` goes.
    #[pin]
    misc: MiscDeviceRegistration<file::LightosFile>,
    /// A copy of the miscdevice's file operations with `owner` set to this module (see [`file`]).
    #[pin]
    fops: file::ModuleFops,
    /// `/sys/kernel/debug/lightos/stats`.
    #[pin]
    _debugfs: telemetry::debugfs::StatsDebugfs,
    /// The photonic NPU's PCI driver (registered after `/dev/lightos`, unregistered before it).
    #[pin]
    _photonic: driver::Registration<pci::Adapter<photonic::PhotonicDriver>>,
    /// The event log: created before the photonic driver (its probe publishes to it from a work
    /// item, which once ran before the log existed and took its uninitialised lock), freed after.
    _events: telemetry::events::Registration,
    /// `null0`, when the `null_backend` parameter asks for it.
    null: Option<Arc<sched::null::NullBackend>>,
}

impl kernel::InPlaceModule for LightosModule {
    fn init(module: &'static ThisModule) -> impl PinInit<Self, Error> {
        sched::backend::init();
        sched::deps::init();
        quota::init();
        let options = kernel::miscdevice::MiscDeviceOptions { name: c"lightos" };
        try_pin_init!(Self {
            misc <- MiscDeviceRegistration::register(options),
            fops: file::ModuleFops::uninit(),
            _debugfs <- telemetry::debugfs::StatsDebugfs::new(),
            _events: telemetry::events::Registration::new()?,
            _photonic <- driver::Registration::new(c"lightos_photonic", module),
            null: match *module_parameters::null_backend.value() {
                0 => None,
                1 => Some(sched::null::NullBackend::register()?),
                _ => return Err(EINVAL),
            },
        })
        .pin_chain(move |this| {
            this.fops.install(&this.misc, module);
            pr_info!(
                "lightos_core {} loaded: /dev/lightos, ABI {}.{}\n",
                MODULE_VERSION,
                uapi::ABI_MAJOR,
                uapi::ABI_MINOR
            );
            Ok(())
        })
    }
}

#[pinned_drop]
impl PinnedDrop for LightosModule {
    fn drop(self: Pin<&mut Self>) {
        if let Some(null) = &self.null {
            null.unregister();
        }
        sched::backend::release();
        sched::deps::release();
        quota::release();
        pr_info!("lightos_core unloaded\n");
    }
}
