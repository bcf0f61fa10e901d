//! Thermal guards of devices (`QUERY_THERMAL`) and device events (`EVENT_WAIT`).
//!
//! ```no_run
//! # fn main() -> lightos_runtime::Result<()> {
//! use lightos_runtime::Device;
//! use std::time::Duration;
//! let dev = Device::open()?;
//! let snapshot = dev.thermal()?;
//! let mut after = snapshot.last_event_seq;
//! loop {
//!     let batch = dev.wait_events(after, Some(Duration::from_secs(10)))?;
//!     for ev in &batch.events {
//!         println!("{} on backend {} at {} m°C", lightos_runtime::thermal::event_name(ev.kind), ev.backend_id, ev.temp_mc);
//!     }
//!     after = batch.last_seq;
//! }
//! # }
//! ```

use crate::{sys, uapi, Device, Result};
use nix::errno::Errno;
use std::{
    os::fd::{AsFd, AsRawFd},
    time::Duration,
};

/// Every device with a thermal guard, and the newest event's sequence number.
#[derive(Clone, Debug)]
pub struct ThermalSnapshot {
    /// Sequence number of the newest event (0: none): wait after it for events from now on.
    pub last_event_seq: u64,
    /// One entry per guarded device.
    pub devices: Vec<uapi::ThermalInfo>,
}

/// Events returned by one [`Device::wait_events`].
#[derive(Clone, Debug, Default)]
pub struct EventBatch {
    /// The events, oldest first (empty when the wait timed out).
    pub events: Vec<uapi::Event>,
    /// Pass this as `after_seq` next time.
    pub last_seq: u64,
    /// Events that left the kernel's log before they could be read.
    pub lost: u64,
}

/// The name of a `THERMAL_*` state.
pub fn state_name(state: u32) -> &'static str {
    match state {
        uapi::THERMAL_NORMAL => "normal",
        uapi::THERMAL_THROTTLE => "throttle",
        uapi::THERMAL_SHUTDOWN => "shutdown",
        uapi::THERMAL_LOST => "lost",
        _ => "unknown",
    }
}

/// The name of an `EVENT_*` kind.
pub fn event_name(kind: u32) -> &'static str {
    match kind {
        uapi::EVENT_THROTTLE => "throttle",
        uapi::EVENT_THROTTLE_END => "throttle-end",
        uapi::EVENT_SHUTDOWN => "shutdown",
        uapi::EVENT_RESTART => "restart",
        uapi::EVENT_DEVICE_LOST => "device-lost",
        uapi::EVENT_FAULT_LATCHED => "fault-latched",
        _ => "unknown",
    }
}

/// The upper bound (µs) of the histogram bucket holding quantile `q` (0..=1) of the guard's tick
/// lateness; `None` for an empty histogram or when the quantile falls in the open last bucket.
pub fn lateness_quantile_us(hist: &[u64; uapi::LATENESS_BUCKETS], q: f64) -> Option<u64> {
    let total: u64 = hist.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
    let mut seen = 0;
    for (i, n) in hist.iter().enumerate() {
        seen += n;
        if seen >= rank {
            return uapi::LATENESS_BOUNDS_US.get(i).copied();
        }
    }
    None
}

/// Power controls to change with [`Device::set_power`]; `None` leaves a control as it is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PowerControls {
    /// Laser cap (mW, [`uapi::LASER_CAP_MIN_MW`]..=[`uapi::LASER_MAX_MW`]; the maximum lifts it).
    pub laser_cap_mw: Option<u32>,
    /// Least TEC drive (‰, 0..=1000; 0 leaves the TEC to the guard).
    pub tec_floor_permille: Option<u32>,
}

impl Device {
    /// Sets power controls of the device `backend_id` (`POWER_SET`, needs `CAP_SYS_ADMIN`). The
    /// guard keeps the last word: laser at `min(cap, guard limit)`, TEC at `max(floor, guard)`;
    /// its next tick (within a millisecond) applies them.
    pub fn set_power(&self, backend_id: u32, controls: PowerControls) -> Result<()> {
        let mut req = uapi::PowerSet {
            backend_id,
            ..Default::default()
        };
        if let Some(mw) = controls.laser_cap_mw {
            req.flags |= uapi::POWER_SET_LASER_CAP;
            req.laser_cap_mw = mw;
        }
        if let Some(p) = controls.tec_floor_permille {
            req.flags |= uapi::POWER_SET_TEC_FLOOR;
            req.tec_floor_permille = p;
        }
        // SAFETY: `req` is a valid, writable `PowerSet` that outlives the call; the fd is open.
        unsafe { sys::power_set(self.as_fd().as_raw_fd(), &mut req) }
            .map_err(|errno| sys::rejected(self.as_fd().as_raw_fd(), "POWER_SET", errno))?;
        Ok(())
    }

    /// The thermal guard of every device that has one (`QUERY_THERMAL`).
    pub fn thermal(&self) -> Result<ThermalSnapshot> {
        // SAFETY: `QueryThermal` is plain integers; all zeroes is a valid value.
        let mut all: Box<uapi::QueryThermal> = Box::new(unsafe { std::mem::zeroed() });
        self.query_raw(uapi::QUERY_THERMAL, &mut *all)?;
        let count = (all.count as usize).min(uapi::MAX_THERMAL_DEVICES);
        Ok(ThermalSnapshot {
            last_event_seq: all.last_event_seq,
            devices: all.devices[..count].to_vec(),
        })
    }

    /// The events after `after_seq` (at most [`uapi::EVENT_LOG_ENTRIES`]), waiting up to `timeout`
    /// (`None`: without limit) for the first; an empty batch when it passes.
    pub fn wait_events(&self, after_seq: u64, timeout: Option<Duration>) -> Result<EventBatch> {
        let deadline = match timeout {
            None => uapi::TIMEOUT_INFINITE,
            Some(t) => {
                crate::monotonic_ns().saturating_add(t.as_nanos().min(u64::MAX as u128) as u64)
            }
        };
        self.wait_events_until(after_seq, deadline, uapi::EVENT_LOG_ENTRIES)
    }

    /// [`Device::wait_events`] with an absolute `CLOCK_MONOTONIC` deadline and at most `capacity`
    /// events (1 to [`uapi::EVENT_LOG_ENTRIES`]).
    pub fn wait_events_until(
        &self,
        after_seq: u64,
        deadline_ns: u64,
        capacity: u32,
    ) -> Result<EventBatch> {
        let mut events = vec![uapi::Event::default(); capacity as usize];
        let mut req = uapi::EventWait {
            after_seq,
            timeout_ns: deadline_ns,
            events: events.as_mut_ptr() as u64,
            capacity,
            ..Default::default()
        };
        // SAFETY: `req` is a valid `EventWait`; `req.events` points to `capacity` writable events
        // that outlive the call; the fd is open.
        match unsafe { sys::event_wait(self.as_fd().as_raw_fd(), &mut req) } {
            Ok(_) => {
                events.truncate(req.count as usize);
                Ok(EventBatch {
                    events,
                    last_seq: req.last_seq,
                    lost: req.lost,
                })
            }
            Err(Errno::ETIMEDOUT) => Ok(EventBatch {
                events: Vec::new(),
                last_seq: after_seq,
                lost: 0,
            }),
            Err(errno) => Err(sys::rejected(self.as_fd().as_raw_fd(), "EVENT_WAIT", errno)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lateness_quantiles_come_from_the_bucket_bounds() {
        let mut hist = [0u64; uapi::LATENESS_BUCKETS];
        assert_eq!(lateness_quantile_us(&hist, 0.99), None);
        hist[0] = 98; // < 5 µs
        hist[4] = 1; // < 100 µs
        hist[11] = 1; // < 1000 µs
        assert_eq!(lateness_quantile_us(&hist, 0.5), Some(5));
        assert_eq!(lateness_quantile_us(&hist, 0.99), Some(100));
        assert_eq!(lateness_quantile_us(&hist, 1.0), Some(1000));
        hist[uapi::LATENESS_BUCKETS - 1] = 100;
        assert_eq!(
            lateness_quantile_us(&hist, 0.99),
            None,
            "in the open bucket"
        );
    }

    #[test]
    fn names_cover_every_state_and_event() {
        for s in 0..uapi::THERMAL_STATES as u32 {
            assert_ne!(state_name(s), "unknown");
        }
        for k in 1..=uapi::EVENT_FAULT_LATCHED {
            assert_ne!(event_name(k), "unknown");
        }
        assert_eq!(event_name(0), "unknown");
    }
}
