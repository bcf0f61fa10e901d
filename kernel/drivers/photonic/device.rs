// SPDX-License-Identifier: GPL-2.0

//! One bound photonic NPU and everything that runs it (nova-core's driver → `Gpu` split is the
//! model: the PCI driver in `mod.rs` binds, this struct is the device):
//!
//! - its name `photonicN` ([`Index`], probe order) and its backend identity (an id reserved
//!   before construction, counters);
//! - the hardware ([`Npu`]: BARs, ring, staging buffer);
//! - its thermal guard ([`Guard`]) and the 1 kHz timer that ticks it;
//! - its job scheduling ([`JobRunner`], `jobs.rs`: a job queue and a work item running jobs one at
//!   a time); `backend.rs` makes the device a backend of the core.
//!
//! The guard only reads telemetry and drives the laser and TEC; it holds no reference to the
//! scheduling. A guard tick that stops jobs (shutdown, device lost) makes the device wake its
//! scheduling, which asks the guard for admission before each job.
//!
//! Nothing in it is module-wide except the index allocator, so any number of NPUs bind side by
//! side.

use super::{
    jobs::JobRunner,
    events::Notifier,
    guard::{self, Guard, Tick},
    index::Index,
    npu::Npu,
};
use crate::{sched::{account::Counters, backend}, uapi};
use kernel::{
    impl_has_hr_timer, new_mutex,
    prelude::*,
    sync::{Arc, ArcBorrow, Mutex},
    time::{
        hrtimer::{
            ArcHrTimerHandle, HrTimer, HrTimerCallback, HrTimerCallbackContext, HrTimerPointer,
            HrTimerRestart, RelativeMode,
        },
        Delta, Instant, Monotonic,
    },
};

/// Proof that a device is in the core's backend registry; [`PhotonicDevice::remove`] takes it out.
pub(crate) struct Registered(());

/// A device whose guard runs (from [`PhotonicDevice::start`]): its timer ticks until
/// [`Running::stop`] (unbind) or the drop, which also takes the device down
/// ([`PhotonicDevice::remove`]) — after a completed probe as after one that failed later.
#[pin_data(PinnedDrop)]
pub(crate) struct Running {
    dev: Arc<PhotonicDevice>,
    /// The guard's timer, until stopped.
    #[pin]
    timer: Mutex<Option<ArcHrTimerHandle<PhotonicDevice>>>,
}

impl Running {
    /// The device.
    pub(crate) fn dev(&self) -> &Arc<PhotonicDevice> {
        &self.dev
    }

    /// Stops the guard: cancels its timer, waiting for a tick that is running, so that no tick
    /// writes to the device once this returns (unbind turns the laser off after it).
    pub(crate) fn stop(&self) {
        drop(self.timer.lock().take());
    }
}

#[pinned_drop]
impl PinnedDrop for Running {
    fn drop(self: Pin<&mut Self>) {
        self.stop();
        // The guard is stopped: no new event, no kick; the device publishes what it raised and goes.
        self.dev.remove();
    }
}

/// A bound photonic NPU.
#[pin_data]
pub(crate) struct PhotonicDevice {
    index: Index,
    /// `photonicN`, NUL-padded: its backend name.
    pub(super) name: [u8; uapi::BACKEND_NAME_LEN],
    /// Its backend id, reserved before the device was built (the guard's events carry it).
    pub(super) backend_id: u32,
    /// Its counters, shared with the fences of its jobs (a timed-out job is counted by its fence).
    pub(super) counters: Arc<Counters>,
    pub(super) npu: Arc<Npu>,
    pub(super) guard: Arc<Guard>,
    pub(super) jobs: Arc<JobRunner>,
    #[pin]
    timer: HrTimer<PhotonicDevice>,
}

impl_has_hr_timer! {
    impl HasHrTimer<Self> for PhotonicDevice {
        mode: RelativeMode<Monotonic>, field: self.timer
    }
}

impl PhotonicDevice {
    /// The device `index` on `npu`, as backend `backend_id`, its guard raising events through
    /// `notifier`. Not yet guarded nor registered: see [`PhotonicDevice::start`] and
    /// [`PhotonicDevice::register`].
    pub(crate) fn new(index: Index, backend_id: u32, npu: Arc<Npu>, notifier: Arc<Notifier>) -> Result<Arc<Self>> {
        let name = index.backend_name()?;
        let guard = Arc::new(Guard::new(npu.clone(), notifier, backend_id), GFP_KERNEL)?;
        let jobs = JobRunner::new(npu.clone(), guard.clone(), backend_id)?;
        let counters = Arc::new(Counters::new(), GFP_KERNEL)?;
        Arc::pin_init(
            try_pin_init!(Self {
                index,
                name,
                backend_id,
                counters,
                npu,
                guard,
                jobs,
                timer <- HrTimer::new(),
            }? Error),
            GFP_KERNEL,
        )
    }

    /// Its index: the N of `photonicN`.
    pub(crate) fn index(&self) -> &Index {
        &self.index
    }

    /// Starts the thermal guard: laser unrestricted, then a tick every [`guard::PERIOD_NS`] until
    /// the returned [`Running`] is stopped or dropped.
    pub(crate) fn start(self: &Arc<Self>) -> impl PinInit<Running, Error> {
        let dev = self.clone();
        pin_init::pin_init_scope(move || {
            dev.guard.start()?;
            let timer = HrTimerPointer::start(dev.clone(), Delta::from_nanos(guard::PERIOD_NS));
            Ok(try_pin_init!(Running {
                dev,
                timer <- new_mutex!(Some(timer)),
            }? Error))
        })
    }

    /// Registers the device as a backend under its reserved id and name (the last step of probe:
    /// a probe that fails earlier leaves nothing registered). `EEXIST` when the name is taken,
    /// `ENOSPC` when the registry is full.
    pub(crate) fn register(self: &Arc<Self>) -> Result<Registered> {
        backend::register(self.clone())?;
        Ok(Registered(()))
    }

    /// The device is going away (after its guard's timer was cancelled: unbind, or a probe that
    /// failed after the guard started): publishes the guard's last events, marks the hardware lost, leaves the backend registry and fails every
    /// queued job with `DEVICE_LOST`, waiting for a running one.
    pub(crate) fn remove(&self) {
        self.guard.flush_events();
        self.npu.mark_lost();
        backend::unregister(self.backend_id);
        self.jobs.close(uapi::STATUS_DEVICE_LOST);
    }
}

impl HrTimerCallback for PhotonicDevice {
    type Pointer<'a> = Arc<Self>;

    fn run(this: ArcBorrow<'_, Self>, mut ctx: HrTimerCallbackContext<'_, Self>) -> HrTimerRestart {
        let now = Instant::<Monotonic>::now();
        let late = (now - this.timer.expires()).as_nanos().max(0) as u64;
        let overruns = ctx.forward(now, Delta::from_nanos(guard::PERIOD_NS));
        if this.guard.tick(late, overruns) == Tick::StopJobs {
            // Queued jobs end THERMAL_ABORT / DEVICE_LOST (the guard refuses them now).
            this.jobs.kick();
        }
        HrTimerRestart::Restart
    }
}
