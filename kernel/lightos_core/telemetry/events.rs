// SPDX-License-Identifier: GPL-2.0

//! Device events (thermal guard transitions, lost devices) and `LIGHTOS_IOC_EVENT_WAIT`.
//!
//! One module-wide log of the last [`uapi::EVENT_LOG_ENTRIES`] events, numbered from 1. Drivers
//! publish from process context (the photonic guard's timer hands its events to a work item);
//! readers name the last sequence number they saw and get what followed, sleeping until something
//! does. A reader that falls behind is told how many events it lost; publishing never waits for
//! readers and never allocates.

use crate::{
    context::Context,
    ioctl::arg::IoctlArg,
    reason::{self, ensure, reject, Rejection},
    uapi,
};
use kernel::{
    new_condvar, new_mutex,
    prelude::*,
    sync::{Arc, CondVar, CondVarTimeoutResult, Mutex},
    time::msecs_to_jiffies,
    uaccess::{UserPtr, UserSlice},
};

const ENTRIES: usize = uapi::EVENT_LOG_ENTRIES as usize;

/// The events kept, indexed by `seq % ENTRIES`.
struct Ring {
    slots: KVec<uapi::Event>,
    /// Sequence number of the newest event (0: none yet).
    last: u64,
}

/// The log and its waiters.
#[pin_data]
pub(crate) struct EventLog {
    #[pin]
    ring: Mutex<Ring>,
    #[pin]
    published: CondVar,
}

kernel::sync::global_lock! {
    // SAFETY: initialised by `Registration::new` in module init, before `/dev/lightos` and the
    // photonic driver (whose probe publishes events) are registered.
    unsafe(uninit) static LOG: Mutex<Option<Arc<EventLog>>> = None;
}

/// The event log for as long as the module holds it: created before anything can publish to it
/// (the photonic driver's probe does, from a work item), freed when dropped, also when a later
/// step of module init fails.
pub(crate) struct Registration(());

impl Registration {
    /// Creates the log; called once, from module init.
    pub(crate) fn new() -> Result<Self> {
        init()?;
        Ok(Self(()))
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        release();
    }
}

/// Creates the log.
fn init() -> Result {
    // SAFETY: called exactly once, from module init, before any other use of `LOG`.
    unsafe { LOG.init() };
    let mut slots = KVec::with_capacity(ENTRIES, GFP_KERNEL)?;
    for _ in 0..ENTRIES {
        slots.push(uapi::Event::default(), GFP_KERNEL)?;
    }
    let log = Arc::pin_init(
        pin_init!(EventLog {
            ring <- new_mutex!(Ring { slots, last: 0 }),
            published <- new_condvar!("lightos_events"),
        }),
        GFP_KERNEL,
    )?;
    *LOG.lock() = Some(log);
    Ok(())
}

/// Frees the log (module exit, when no file is open, or a failed init).
fn release() {
    let old = LOG.lock().take();
    drop(old);
}

fn log() -> Option<Arc<EventLog>> {
    LOG.lock().clone()
}

/// Appends an event (process context) and wakes every waiter.
pub(crate) fn publish(backend_id: u32, kind: u32, time_ns: u64, temp_mc: i32, laser_limit_mw: u32) {
    let Some(log) = log() else {
        return; // module init failed part-way or exit has begun: nobody can read it
    };
    let mut ring = log.ring.lock();
    ring.last += 1;
    let seq = ring.last;
    if let Some(slot) = ring.slots.get_mut(seq as usize % ENTRIES) {
        *slot = uapi::Event { seq, time_ns, backend_id, kind, temp_mc, laser_limit_mw };
    }
    drop(ring);
    log.published.notify_all();
}

/// Sequence number of the newest event (0: none).
pub(crate) fn last_seq() -> u64 {
    log().map_or(0, |log| log.ring.lock().last)
}

/// Handles `EVENT_WAIT`. `EINVAL`: flags/pad/reserved, capacity 0 or above the log, `after_seq`
/// beyond the newest event. `EFAULT`: bad `events` address. `ETIMEDOUT`; `EINTR` on a signal
/// (restarted with `SA_RESTART`).
pub(crate) fn wait(
    _ctx: &Context,
    mut req: uapi::EventWait,
    arg: &IoctlArg<uapi::EventWait>,
) -> Result<isize, Rejection> {
    reason::known_flags(req.flags.into(), 0)?;
    reason::zero("pad", req.pad.into())?;
    reason::zeros("reserved", &req.reserved)?;
    let most = uapi::EVENT_LOG_ENTRIES;
    let capacity = req.capacity;
    ensure!((1..=most).contains(&capacity), EINVAL, "capacity {capacity}: 1 to {most}");
    let log = log().ok_or_else(|| reject!(ENODEV, "the event log is gone (module unloading)"))?;
    let mut out = KVec::<uapi::Event>::with_capacity(req.capacity as usize, GFP_KERNEL)?;
    let mut ring = log.ring.lock();
    let newest = ring.last;
    ensure!(
        req.after_seq <= newest,
        EINVAL,
        "after_seq {}: beyond the newest event {newest}",
        req.after_seq
    );
    while ring.last == req.after_seq {
        let now = crate::time::monotonic_ns();
        if req.timeout_ns <= now {
            return Err(ETIMEDOUT.into());
        }
        let ms = u32::try_from((req.timeout_ns - now).div_ceil(1_000_000)).unwrap_or(u32::MAX);
        if let CondVarTimeoutResult::Signal { .. } =
            log.published.wait_interruptible_timeout(&mut ring, msecs_to_jiffies(ms))
        {
            return Err(ERESTARTSYS.into());
        }
    }
    let oldest_kept = ring.last.saturating_sub(ENTRIES as u64 - 1).max(1);
    let first = (req.after_seq + 1).max(oldest_kept);
    let last = ring.last.min(first + u64::from(req.capacity) - 1);
    for seq in first..=last {
        if let Some(ev) = ring.slots.get(seq as usize % ENTRIES) {
            out.push(*ev, GFP_KERNEL)?; // within the capacity reserved above: no allocation
        }
    }
    drop(ring);
    let ptr = usize::try_from(req.events).map_err(|_| EFAULT)?;
    let bytes = out.len() * size_of::<uapi::Event>();
    let mut writer = UserSlice::new(UserPtr::from_addr(ptr), bytes).writer();
    for ev in out.iter() {
        writer.write(ev)?;
    }
    req.count = out.len() as u32;
    req.last_seq = last;
    req.lost = first - (req.after_seq + 1);
    arg.write(&req)?;
    Ok(0)
}
