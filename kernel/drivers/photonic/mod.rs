// SPDX-License-Identifier: GPL-2.0

//! The photonic NPU's PCI driver, built into `lightos_core.ko`.
//!
//! The device is QEMU's ivshmem-doorbell function (1af4:1110) driven by the LightOS photonic
//! device model; the driver binds only when BAR2 carries the LightOS layout (magic "LPNU" and
//! version 1), so other ivshmem devices are left alone. On bind it maps BAR0 (doorbell) and BAR2
//! (registers, rings, telemetry), enables two MSI-X vectors (completions, thermal alarm),
//! allocates a coherent staging buffer, resets the device, and builds its
//! [`device::PhotonicDevice`] (guard, job scheduling), which registers with the core as backend
//! `photonicN` — N in probe order ([`index`]), so several NPUs bind side by side.

mod backend;
mod debugfs;
mod device;
mod events;
mod guard;
mod index;
mod jobs;
mod matmul;
mod npu;
mod pipeline;
// The layout is shared with the device model, which uses every item; the driver does not.
#[allow(dead_code, unreachable_pub)]
pub(crate) mod regs;

use core::mem::offset_of;
use kernel::{
    device::{Bound, Core, Device},
    io::Io,
    dma::{Coherent, DmaMask},
    irq::{self, IrqReturn},
    pci,
    prelude::*,
    sync::Arc,
};

/// The PCI driver.
pub(crate) struct PhotonicDriver;

kernel::pci_device_table!(
    PCI_TABLE,
    MODULE_PCI_TABLE,
    <PhotonicDriver as pci::Driver>::IdInfo,
    [(pci::DeviceId::from_id(pci::Vendor::REDHAT_QUMRANET, 0x1110), ())]
);

/// Wakes command waiters on the completion vector.
struct CompletionIrq {
    npu: Arc<npu::Npu>,
}

impl irq::Handler for CompletionIrq {
    fn handle(&self, _dev: &Device<Bound>) -> IrqReturn {
        self.npu.irqs.add(1, kernel::sync::atomic::Relaxed);
        self.npu.irq_wake.notify_all();
        IrqReturn::Handled
    }
}

/// Counts thermal alarms (the device latched its fault: the guard failed or was outrun).
struct ThermalIrq {
    npu: Arc<npu::Npu>,
}

impl irq::Handler for ThermalIrq {
    fn handle(&self, _dev: &Device<Bound>) -> IrqReturn {
        self.npu.thermal_irqs.add(1, kernel::sync::atomic::Relaxed);
        IrqReturn::Handled
    }
}

/// What the driver holds for one bound NPU: the device with its running guard, its debugfs
/// directory and its interrupts, and its registration. Dropped in declaration order after unbind:
/// the device is turned off, its guard stopped, its queued jobs failed with DEVICE_LOST (a running
/// one waited for, its interrupts still requested) and it leaves the backend registry. A probe
/// that fails part-way drops what it built in reverse: the guard stops before the device is
/// turned off.
#[pin_data]
pub(crate) struct PhotonicData {
    /// Turns the device off when dropped (unbind already did).
    enabled: npu::Enabled,
    /// The device and its guard's timer; stopped at unbind, dropped: the device goes away.
    #[pin]
    running: device::Running,
    #[pin]
    _debugfs: debugfs::DeviceDebugfs,
    #[pin]
    _irq_cq: irq::Registration<CompletionIrq>,
    #[pin]
    _irq_thermal: irq::Registration<ThermalIrq>,
    /// Last: jobs reach the device only once everything above is in place.
    _registered: device::Registered,
}

/// Capabilities the driver uses: MATMUL, and a MATMUL that recalibrates a drifted chip itself.
const REQUIRED_CAPS: u64 = regs::CAP_MATMUL | regs::CAP_AUTO_CALIBRATE;

/// Checks the header (layout, the capabilities the driver relies on, mesh size); returns the mesh
/// size.
fn identify(bar: &npu::Bar2Local<'_>, pdev: &pci::Device<Core<'_>>) -> Result<usize> {
    let magic = bar.try_read32(regs::HEADER_OFFSET + offset_of!(regs::Header, magic))?;
    let version = bar.try_read32(regs::HEADER_OFFSET + offset_of!(regs::Header, version))?;
    let mesh = bar.try_read32(regs::HEADER_OFFSET + offset_of!(regs::Header, mesh_size))?;
    let caps = bar.try_read64(regs::HEADER_OFFSET + offset_of!(regs::Header, capabilities))?;
    if magic != regs::MAGIC {
        dev_info!(pdev, "ivshmem device without the LightOS photonic layout (magic {:#x}); not binding\n", magic);
        return Err(ENODEV);
    }
    if version != regs::VERSION {
        dev_warn!(pdev, "LightOS photonic NPU layout version {} (driver speaks {}); not binding\n", version, regs::VERSION);
        return Err(ENODEV);
    }
    if !(2..=256).contains(&mesh) {
        dev_warn!(pdev, "photonic NPU reports mesh size {}; not binding\n", mesh);
        return Err(ENODEV);
    }
    if caps & REQUIRED_CAPS != REQUIRED_CAPS {
        dev_warn!(pdev, "photonic NPU capabilities {:#x} lack {:#x} (MATMUL, drift self-calibration); not binding\n", caps, REQUIRED_CAPS & !caps);
        return Err(ENODEV);
    }
    Ok(mesh as usize)
}

impl pci::Driver for PhotonicDriver {
    type IdInfo = ();
    type Data<'bound> = PhotonicData;
    const ID_TABLE: pci::IdTable<Self::IdInfo> = &PCI_TABLE;

    fn probe<'bound>(
        pdev: &'bound pci::Device<Core<'_>>,
        _info: &'bound Self::IdInfo,
    ) -> impl PinInit<Self::Data<'bound>, Error> + 'bound {
        pin_init::pin_init_scope(move || {
            pdev.enable_device_mem()?;
            let bar2 = pdev.iomap_region_sized::<{ regs::BAR2_MIN_SIZE }>(2, c"lightos-photonic-bar2")?;
            let mesh = identify(&bar2, pdev)?;
            // Its name and backend id once the function is an NPU (a plain ivshmem function takes
            // neither), before anything is built that reports them.
            let index = index::Index::alloc()?;
            let backend_id = crate::sched::backend::next_id();
            pdev.set_master();
            let bar0 = pdev.iomap_region_sized::<{ npu::BAR0_SIZE }>(0, c"lightos-photonic-bar0")?;
            // SAFETY: no DMA allocation or mapping for this device runs concurrently (probe).
            unsafe { kernel::dma::Device::dma_set_mask_and_coherent(pdev, DmaMask::new::<64>())? };
            let staging = Coherent::<u8>::zeroed_slice(pdev.as_ref(), npu::STAGING_BYTES, GFP_KERNEL)?;
            let npu = Arc::pin_init(npu::Npu::new(index.get(), bar2.into_devres()?, bar0.into_devres()?, staging, mesh), GFP_KERNEL)?;
            let vectors = pdev.alloc_irq_vectors(2, 2, pci::IrqTypes::default().with(pci::IrqType::MsiX))?;
            let (v_cq, v_thermal) = (*vectors.start(), *vectors.end());

            // From here on, a failure turns the device off again (`enabled` is dropped).
            let enabled = npu.enable()?;
            npu.init_ring().inspect_err(|_| {
                dev_err!(pdev, "the photonic NPU did not acknowledge its reset; not binding\n");
            })?;
            let n = index.get();
            let dev = device::PhotonicDevice::new(index, backend_id, npu.clone(), events::Notifier::new()?)?;
            dev_info!(pdev, "LightOS photonic NPU bound: mesh {}x{}, backend photonic{} (id {}), thermal guard at 1 kHz\n", mesh, mesh, n, backend_id);
            Ok(try_pin_init!(PhotonicData {
                enabled,
                running <- dev.start(),
                _debugfs <- debugfs::DeviceDebugfs::new(dev.clone())?,
                _irq_cq <- pdev.request_irq(v_cq, irq::Flags::TRIGGER_NONE, c"lightos-photonic-cq", Ok::<_, Error>(CompletionIrq { npu: npu.clone() })),
                _irq_thermal <- pdev.request_irq(v_thermal, irq::Flags::TRIGGER_NONE, c"lightos-photonic-thermal", Ok::<_, Error>(ThermalIrq { npu: npu.clone() })),
                _registered: dev.register()?,
            }))
        })
    }

    fn unbind<'bound>(_pdev: &'bound pci::Device<Core<'_>>, this: Pin<&Self::Data<'bound>>) {
        // The guard first (a tick would write a laser limit again), then laser and interrupts off
        // while the device is still reachable.
        this.running.stop();
        this.running.dev().npu.disable();
    }
}

