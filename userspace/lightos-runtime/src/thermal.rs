//! Thermal guards of devices (`QUERY_THERMAL`) and device events (`EVENT_WAIT`).
//!
//! ```no_run
//! # fn main() -> lightos_runtime::Result<()> {
//! use lightos_runtime::Context;
//! use std::time::Duration;
//! let dev = Context::open()?;
//! let snapshot = dev.thermal()?;
//! let mut after = snapshot.last_event_seq;
//! loop {
//!     let batch = dev.wait_events(after, Some(Duration::from_secs(10)))?;
//!     for ev in &batch.events {
//!         println!("{} on backend {} at {} m°C", ev.kind.name(), ev.backend_id, ev.temp_mc);
//!     }
//!     after = batch.last_seq;
//! }
//! # }
//! ```

use crate::{sys, uapi, Context, Result};
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
    pub devices: Vec<ThermalDevice>,
}

/// A thermal guard's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThermalState {
    /// Below the throttle point.
    Normal,
    /// Laser limited while the chip is hot.
    Throttle,
    /// Laser off after an emergency trip, until it cools below the restart point.
    Shutdown,
    /// The device stopped answering.
    Lost,
    /// A state this runtime does not know (a newer module).
    Other(u32),
}

impl ThermalState {
    /// Every known state, in ABI order (the index of [`ThermalDevice::time_in_state_ms`]).
    pub const ALL: [ThermalState; uapi::THERMAL_STATES] = [
        ThermalState::Normal,
        ThermalState::Throttle,
        ThermalState::Shutdown,
        ThermalState::Lost,
    ];

    /// The state with ABI value `raw` (`THERMAL_*`).
    pub fn from_raw(raw: u32) -> ThermalState {
        match raw {
            uapi::THERMAL_NORMAL => ThermalState::Normal,
            uapi::THERMAL_THROTTLE => ThermalState::Throttle,
            uapi::THERMAL_SHUTDOWN => ThermalState::Shutdown,
            uapi::THERMAL_LOST => ThermalState::Lost,
            other => ThermalState::Other(other),
        }
    }

    /// Its name (`normal`, `throttle`, `shutdown`, `lost`; `unknown` for others).
    pub fn name(self) -> &'static str {
        match self {
            ThermalState::Normal => "normal",
            ThermalState::Throttle => "throttle",
            ThermalState::Shutdown => "shutdown",
            ThermalState::Lost => "lost",
            ThermalState::Other(_) => "unknown",
        }
    }
}

/// A device's thermal guard as `QUERY_THERMAL` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThermalDevice {
    /// The backend's name.
    pub name: String,
    /// The backend's identifier.
    pub backend_id: u32,
    /// The guard's state.
    pub state: ThermalState,
    /// Chip temperature at the last guard tick (m°C).
    pub temp_mc: i32,
    /// Highest temperature seen since the driver bound (m°C).
    pub max_temp_mc: i32,
    /// Laser power limit the guard imposes now (mW).
    pub laser_limit_mw: u32,
    /// TEC drive the guard commands now (‰).
    pub tec_permille: u32,
    /// Throttling starts at this temperature (m°C).
    pub throttle_mc: i32,
    /// Emergency shutdown at this temperature (m°C).
    pub shutdown_mc: i32,
    /// Restart after a shutdown below this temperature (m°C).
    pub restart_mc: i32,
    /// The guard's period (ns).
    pub period_ns: u64,
    /// Ticks run.
    pub ticks: u64,
    /// Ticks skipped because the timer ran a period or more late.
    pub missed: u64,
    /// Worst lateness of a tick against its programmed expiry (ns).
    pub worst_late_ns: u64,
    /// Tick lateness histogram; see [`lateness_quantile_us`].
    pub lateness_hist: [u64; uapi::LATENESS_BUCKETS],
    /// Entries into THROTTLE.
    pub throttles: u64,
    /// Emergency shutdowns.
    pub shutdowns: u64,
    /// Restarts after a shutdown.
    pub restarts: u64,
    /// Time spent in each state (ms of guard ticks), in [`ThermalState::ALL`] order.
    pub time_in_state_ms: [u64; uapi::THERMAL_STATES],
    /// Time from the last shutdown trip to the device reporting its laser off (ns; 0: none yet).
    pub last_trip_to_off_ns: u64,
    /// Worst such time (ns).
    pub worst_trip_to_off_ns: u64,
    /// Laser cap set by [`Context::set_power`] (mW; [`LASER_MAX_MW`]: none).
    pub laser_cap_mw: u32,
    /// Least TEC drive set by [`Context::set_power`] (‰).
    pub tec_floor_permille: u32,
    /// Laser power the device reports now (mW).
    pub laser_mw: u32,
    /// Laser, heater and compute power the device reports now (mW).
    pub power_mw: u32,
}

/// Buckets of [`ThermalDevice::lateness_hist`].
pub const LATENESS_BUCKETS: usize = uapi::LATENESS_BUCKETS;
/// Upper bounds (µs) of the lateness buckets but the last (which holds the rest).
pub const LATENESS_BOUNDS_US: [u64; LATENESS_BUCKETS - 1] = uapi::LATENESS_BOUNDS_US;
/// The most events the kernel keeps, and one [`Context::wait_events`] returns.
pub const EVENT_LOG_ENTRIES: u32 = uapi::EVENT_LOG_ENTRIES;
/// The laser's full power, and [`ThermalDevice::laser_cap_mw`] with no cap (mW).
pub const LASER_MAX_MW: u32 = uapi::LASER_MAX_MW;
/// The lowest laser cap [`Context::set_power`] accepts (mW).
pub const LASER_CAP_MIN_MW: u32 = uapi::LASER_CAP_MIN_MW;

impl ThermalDevice {
    /// Time spent in `state` (ms of guard ticks; 0 for an unknown state).
    pub fn time_in(&self, state: ThermalState) -> u64 {
        ThermalState::ALL
            .iter()
            .position(|&s| s == state)
            .map_or(0, |i| self.time_in_state_ms[i])
    }
}

impl From<&uapi::ThermalInfo> for ThermalDevice {
    fn from(t: &uapi::ThermalInfo) -> Self {
        ThermalDevice {
            name: crate::query::nul_padded_name(&t.name),
            backend_id: t.backend_id,
            state: ThermalState::from_raw(t.state),
            temp_mc: t.temp_mc,
            max_temp_mc: t.max_temp_mc,
            laser_limit_mw: t.laser_limit_mw,
            tec_permille: t.tec_permille,
            throttle_mc: t.throttle_mc,
            shutdown_mc: t.shutdown_mc,
            restart_mc: t.restart_mc,
            period_ns: t.period_ns,
            ticks: t.ticks,
            missed: t.missed,
            worst_late_ns: t.worst_late_ns,
            lateness_hist: t.lateness_hist,
            throttles: t.throttles,
            shutdowns: t.shutdowns,
            restarts: t.restarts,
            time_in_state_ms: t.time_in_state_ms,
            last_trip_to_off_ns: t.last_trip_to_off_ns,
            worst_trip_to_off_ns: t.worst_trip_to_off_ns,
            laser_cap_mw: t.laser_cap_mw,
            tec_floor_permille: t.tec_floor_permille,
            laser_mw: t.laser_mw,
            power_mw: t.power_mw,
        }
    }
}

/// What a device event reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// The guard started throttling.
    Throttle,
    /// Throttling ended.
    ThrottleEnd,
    /// Emergency shutdown.
    Shutdown,
    /// Restart after a shutdown.
    Restart,
    /// The device stopped answering.
    DeviceLost,
    /// The device latched a fault.
    FaultLatched,
    /// A kind this runtime does not know (a newer module).
    Other(u32),
}

impl EventKind {
    /// The kind with ABI value `raw` (`EVENT_*`).
    pub fn from_raw(raw: u32) -> EventKind {
        match raw {
            uapi::EVENT_THROTTLE => EventKind::Throttle,
            uapi::EVENT_THROTTLE_END => EventKind::ThrottleEnd,
            uapi::EVENT_SHUTDOWN => EventKind::Shutdown,
            uapi::EVENT_RESTART => EventKind::Restart,
            uapi::EVENT_DEVICE_LOST => EventKind::DeviceLost,
            uapi::EVENT_FAULT_LATCHED => EventKind::FaultLatched,
            other => EventKind::Other(other),
        }
    }

    /// Its name (`throttle`, `throttle-end`, `shutdown`, `restart`, `device-lost`,
    /// `fault-latched`; `unknown` for others).
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Throttle => "throttle",
            EventKind::ThrottleEnd => "throttle-end",
            EventKind::Shutdown => "shutdown",
            EventKind::Restart => "restart",
            EventKind::DeviceLost => "device-lost",
            EventKind::FaultLatched => "fault-latched",
            EventKind::Other(_) => "unknown",
        }
    }
}

/// A device event (`EVENT_WAIT`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    /// Module-wide sequence number, from 1, consecutive.
    pub seq: u64,
    /// When it happened (`CLOCK_MONOTONIC` ns).
    pub time_ns: u64,
    /// The backend it concerns.
    pub backend_id: u32,
    /// What happened.
    pub kind: EventKind,
    /// Chip temperature then (m°C).
    pub temp_mc: i32,
    /// Laser power limit then (mW).
    pub laser_limit_mw: u32,
}

impl From<&uapi::Event> for Event {
    fn from(e: &uapi::Event) -> Self {
        Event {
            seq: e.seq,
            time_ns: e.time_ns,
            backend_id: e.backend_id,
            kind: EventKind::from_raw(e.kind),
            temp_mc: e.temp_mc,
            laser_limit_mw: e.laser_limit_mw,
        }
    }
}

/// Events returned by one [`Context::wait_events`].
#[derive(Clone, Debug, Default)]
pub struct EventBatch {
    /// The events, oldest first (empty when the wait timed out).
    pub events: Vec<Event>,
    /// Pass this as `after_seq` next time.
    pub last_seq: u64,
    /// Events that left the kernel's log before they could be read.
    pub lost: u64,
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

/// Power controls to change with [`Context::set_power`]; `None` leaves a control as it is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PowerControls {
    /// Laser cap (mW, [`LASER_CAP_MIN_MW`]..=[`LASER_MAX_MW`]; the maximum lifts it).
    pub laser_cap_mw: Option<u32>,
    /// Least TEC drive (‰, 0..=1000; 0 leaves the TEC to the guard).
    pub tec_floor_permille: Option<u32>,
}

impl Context {
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
        self.query_into(uapi::QUERY_THERMAL, &mut *all)?;
        let count = (all.count as usize).min(uapi::MAX_THERMAL_DEVICES);
        Ok(ThermalSnapshot {
            last_event_seq: all.last_event_seq,
            devices: all.devices[..count]
                .iter()
                .map(ThermalDevice::from)
                .collect(),
        })
    }

    /// The events after `after_seq` (at most [`EVENT_LOG_ENTRIES`]), waiting up to `timeout`
    /// (`None`: without limit) for the first; an empty batch when it passes.
    pub fn wait_events(&self, after_seq: u64, timeout: Option<Duration>) -> Result<EventBatch> {
        let deadline = crate::deadline_ns(timeout);
        self.wait_events_until(after_seq, deadline, uapi::EVENT_LOG_ENTRIES)
    }

    /// [`Context::wait_events`] with an absolute `CLOCK_MONOTONIC` deadline and at most `capacity`
    /// events (1 to [`EVENT_LOG_ENTRIES`]).
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
                    events: events.iter().map(Event::from).collect(),
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
            assert_ne!(ThermalState::from_raw(s).name(), "unknown");
            assert_eq!(ThermalState::ALL[s as usize], ThermalState::from_raw(s));
        }
        for k in 1..=uapi::EVENT_FAULT_LATCHED {
            assert_ne!(EventKind::from_raw(k).name(), "unknown");
        }
        assert_eq!(EventKind::from_raw(0).name(), "unknown");
    }
}
