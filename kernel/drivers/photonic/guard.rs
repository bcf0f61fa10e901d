// SPDX-License-Identifier: GPL-2.0

//! The thermal guard: a 1 kHz high-resolution timer that reads the chip temperature and holds the
//! chip below its fault latch.
//!
//! States: NORMAL (laser unrestricted) → above 75 °C THROTTLE (an integral controller lowers the
//! laser limit by 2 mW per kelvin above a 74 °C set point per tick, and raises it again below; back
//! to NORMAL under 72 °C with the limit restored) → above 85 °C SHUTDOWN (laser limit 0 at once,
//! running and queued jobs end with THERMAL_ABORT, new ones too) → under 65 °C back to NORMAL.
//! The TEC drive follows the temperature (full at 75 °C, and in SHUTDOWN). If the device stops
//! updating its telemetry for a second it is declared LOST. Every tick records its lateness.
//!
//! The guard is a state machine over the device's telemetry; its timer belongs to the device
//! ([`super::device::PhotonicDevice`]), which ticks it and wakes its job scheduling when a tick
//! says jobs must stop. The scheduling asks [`Guard::admit`] before each job.

use super::{events::Notifier, npu::Npu, regs};
use crate::uapi;
use core::mem::offset_of;
use kernel::{
    prelude::*,
    sync::{
        atomic::{Atomic, Relaxed},
        Arc,
    },
};

/// Guard period.
pub(crate) const PERIOD_NS: i64 = 1_000_000;
/// Throttling starts here (m°C).
pub(crate) const THROTTLE_MC: i32 = 75_000;
/// Throttling aims here (m°C).
const SETPOINT_MC: i32 = 74_000;
/// Throttling ends below this once the limit is back to the maximum (m°C).
const THROTTLE_EXIT_MC: i32 = 72_000;
/// Emergency shutdown here (m°C).
pub(crate) const SHUTDOWN_MC: i32 = 85_000;
/// Restart after shutdown below this (m°C).
pub(crate) const RESTART_MC: i32 = 65_000;
/// Laser limit when unrestricted (mW).
const LASER_MAX_MW: u32 = uapi::LASER_MAX_MW;
/// Ticks without a telemetry update before the device is declared lost.
const STALE_TICKS: u32 = 1000;

/// Guard state: laser unrestricted.
pub(crate) const NORMAL: u32 = uapi::THERMAL_NORMAL;
/// Guard state: laser throttled.
pub(crate) const THROTTLE: u32 = uapi::THERMAL_THROTTLE;
/// Guard state: laser off after an emergency shutdown.
pub(crate) const SHUTDOWN: u32 = uapi::THERMAL_SHUTDOWN;
/// Guard state: the device stopped answering.
pub(crate) const LOST: u32 = uapi::THERMAL_LOST;
/// State names, by value.
pub(crate) const STATE_NAMES: [&str; uapi::THERMAL_STATES] = ["normal", "throttle", "shutdown", "lost"];

/// What a tick changed that the device must act on.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tick {
    /// Nothing for the job scheduling.
    Continue,
    /// Jobs must stop: an emergency shutdown, or the device was declared lost.
    StopJobs,
}

/// The guard and its statistics.
pub(crate) struct Guard {
    npu: Arc<Npu>,
    notifier: Arc<Notifier>,
    /// The backend its events name (reserved before the device was built).
    backend_id: u32,
    /// The device's own fault latch was seen set (reported once per latch).
    latched: Atomic<bool>,
    state: Atomic<u32>,
    /// The guard's own laser limit.
    pub(crate) limit_mw: Atomic<u32>,
    /// The limit last written to the device: `min(limit_mw, laser_cap_mw)`.
    written_limit_mw: Atomic<u32>,
    /// TEC drive last written to the device: `max(the guard's, tec_floor_permille)`.
    pub(crate) tec_permille: Atomic<u32>,
    /// Laser cap set through `POWER_SET` ([`LASER_MAX_MW`]: none).
    pub(crate) laser_cap_mw: Atomic<u32>,
    /// Least TEC drive set through `POWER_SET`.
    pub(crate) tec_floor_permille: Atomic<u32>,
    /// Laser power in the newest telemetry (mW).
    laser_mw: Atomic<u32>,
    /// Laser, heater and compute power in the newest telemetry (mW).
    power_mw: Atomic<u32>,
    pub(crate) temp_mc: Atomic<i32>,
    pub(crate) max_temp_mc: Atomic<i32>,
    last_seq: Atomic<u64>,
    stale: Atomic<u32>,
    pub(crate) ticks: Atomic<u64>,
    pub(crate) missed: Atomic<u64>,
    pub(crate) worst_late_ns: Atomic<u64>,
    pub(crate) late_hist: [Atomic<u64>; uapi::LATENESS_BUCKETS],
    pub(crate) throttles: Atomic<u64>,
    pub(crate) shutdowns: Atomic<u64>,
    pub(crate) restarts: Atomic<u64>,
    pub(crate) time_in_state_ms: [Atomic<u64>; uapi::THERMAL_STATES],
    /// Monotonic ns of a shutdown trip whose laser-off is not yet confirmed (0: none).
    trip_ns: Atomic<u64>,
    pub(crate) last_trip_to_off_ns: Atomic<u64>,
    pub(crate) worst_trip_to_off_ns: Atomic<u64>,
}

impl Guard {
    /// A guard for `npu` in state NORMAL, raising events for backend `backend_id` through
    /// `notifier`; it acts once [`Guard::start`]ed and ticked.
    pub(crate) fn new(npu: Arc<Npu>, notifier: Arc<Notifier>, backend_id: u32) -> Self {
        let z = || Atomic::new(0u64);
        Self {
            npu,
            notifier,
            backend_id,
            latched: Atomic::new(false),
            state: Atomic::new(NORMAL),
            limit_mw: Atomic::new(LASER_MAX_MW),
            written_limit_mw: Atomic::new(LASER_MAX_MW),
            tec_permille: Atomic::new(0),
            laser_cap_mw: Atomic::new(LASER_MAX_MW),
            tec_floor_permille: Atomic::new(0),
            laser_mw: Atomic::new(0),
            power_mw: Atomic::new(0),
            temp_mc: Atomic::new(0),
            max_temp_mc: Atomic::new(i32::MIN),
            last_seq: Atomic::new(u64::MAX),
            stale: Atomic::new(0),
            ticks: z(),
            missed: z(),
            worst_late_ns: z(),
            late_hist: [const { Atomic::new(0u64) }; uapi::LATENESS_BUCKETS],
            throttles: z(),
            shutdowns: z(),
            restarts: z(),
            time_in_state_ms: [const { Atomic::new(0u64) }; uapi::THERMAL_STATES],
            trip_ns: z(),
            last_trip_to_off_ns: z(),
            worst_trip_to_off_ns: z(),
        }
    }

    /// Starts the guard: unrestricted laser (then [`Guard::tick`] every [`PERIOD_NS`]).
    pub(crate) fn start(&self) -> Result {
        self.npu.write_control(offset_of!(regs::Control, laser_limit_mw), LASER_MAX_MW)
    }

    /// Its state (`NORMAL`, `THROTTLE`, `SHUTDOWN` or `LOST`).
    pub(crate) fn state(&self) -> u32 {
        self.state.load(Relaxed)
    }

    /// Whether a job may run on the device now; else the status it ends with: `DEVICE_LOST` once
    /// the device is lost, `THERMAL_ABORT` while shut down.
    pub(crate) fn admit(&self) -> Result<(), u32> {
        if self.npu.is_lost() || self.state() == LOST {
            Err(uapi::STATUS_DEVICE_LOST)
        } else if self.state() == SHUTDOWN {
            Err(uapi::STATUS_THERMAL_ABORT)
        } else {
            Ok(())
        }
    }

    /// Waits until the events it raised are published (after its timer was cancelled).
    pub(crate) fn flush_events(&self) {
        self.notifier.flush();
    }

    /// Records how late this tick ran.
    fn record_lateness(&self, late_ns: u64) {
        self.ticks.add(1, Relaxed);
        if late_ns > self.worst_late_ns.load(Relaxed) {
            self.worst_late_ns.store(late_ns, Relaxed);
        }
        let us = late_ns / 1000;
        let bounds = uapi::LATENESS_BOUNDS_US;
        let bucket = bounds.iter().position(|&b| us < b).unwrap_or(bounds.len());
        self.late_hist[bucket].add(1, Relaxed);
    }

    /// Hands an event to the core's log (published from process context).
    fn raise(&self, kind: u32, now: u64) {
        self.raise_with_limit(kind, now, self.limit_mw.load(Relaxed));
    }

    /// [`Guard::raise`] with the laser limit about to take effect.
    fn raise_with_limit(&self, kind: u32, now: u64, limit_mw: u32) {
        let temp = self.temp_mc.load(Relaxed);
        self.notifier.raise(self.backend_id, kind, now, temp, limit_mw);
    }

    /// The guard's state and statistics as `QUERY_THERMAL` reports them, for the backend `name`.
    pub(crate) fn info(&self, name: &[u8; uapi::BACKEND_NAME_LEN]) -> uapi::ThermalInfo {
        let load = |a: &Atomic<u64>| a.load(Relaxed);
        uapi::ThermalInfo {
            name: *name,
            backend_id: self.backend_id,
            state: self.state.load(Relaxed),
            temp_mc: self.temp_mc.load(Relaxed),
            max_temp_mc: self.max_temp_mc.load(Relaxed),
            laser_limit_mw: self.limit_mw.load(Relaxed),
            tec_permille: self.tec_permille.load(Relaxed),
            throttle_mc: THROTTLE_MC,
            shutdown_mc: SHUTDOWN_MC,
            restart_mc: RESTART_MC,
            pad: 0,
            period_ns: PERIOD_NS as u64,
            ticks: load(&self.ticks),
            missed: load(&self.missed),
            worst_late_ns: load(&self.worst_late_ns),
            lateness_hist: core::array::from_fn(|i| load(&self.late_hist[i])),
            throttles: load(&self.throttles),
            shutdowns: load(&self.shutdowns),
            restarts: load(&self.restarts),
            time_in_state_ms: core::array::from_fn(|i| load(&self.time_in_state_ms[i])),
            last_trip_to_off_ns: load(&self.last_trip_to_off_ns),
            worst_trip_to_off_ns: load(&self.worst_trip_to_off_ns),
            laser_cap_mw: self.laser_cap_mw.load(Relaxed),
            tec_floor_permille: self.tec_floor_permille.load(Relaxed),
            laser_mw: self.laser_mw.load(Relaxed),
            power_mw: self.power_mw.load(Relaxed),
            reserved: [0; 2],
        }
    }

    /// Sets the controls of a checked `POWER_SET` request; the next tick (within a period)
    /// writes them to the device, combined with the guard's own.
    pub(crate) fn set_power(&self, req: &uapi::PowerSet) {
        if req.flags & uapi::POWER_SET_LASER_CAP != 0 {
            self.laser_cap_mw.store(req.laser_cap_mw, Relaxed);
        }
        if req.flags & uapi::POWER_SET_TEC_FLOOR != 0 {
            self.tec_floor_permille.store(req.tec_floor_permille, Relaxed);
        }
    }

    /// Emergency shutdown: laser off now; jobs are refused from now on (the caller wakes the job
    /// scheduling so that queued ones end THERMAL_ABORT).
    fn trip(&self, now: u64) {
        let _ = self.npu.write_control(offset_of!(regs::Control, laser_limit_mw), 0);
        let _ = self.npu.apply_controls();
        self.limit_mw.store(0, Relaxed);
        self.written_limit_mw.store(0, Relaxed);
        self.state.store(SHUTDOWN, Relaxed);
        self.shutdowns.add(1, Relaxed);
        self.trip_ns.store(now.max(1), Relaxed);
        self.raise(uapi::EVENT_SHUTDOWN, now);
        pr_warn!("photonic{}: emergency thermal shutdown at {} mC: laser off, jobs aborted\n", self.npu.index, self.temp_mc.load(Relaxed));
    }

    /// One control step on telemetry `t`.
    fn step(&self, t: &regs::Telemetry, now: u64) -> Tick {
        let temp = t.temp_mc;
        self.temp_mc.store(temp, Relaxed);
        self.laser_mw.store(t.laser_mw, Relaxed);
        let power = t.laser_mw.saturating_add(t.heater_mw).saturating_add(t.compute_mw);
        self.power_mw.store(power, Relaxed);
        if temp > self.max_temp_mc.load(Relaxed) {
            self.max_temp_mc.store(temp, Relaxed);
        }
        let trip = self.trip_ns.load(Relaxed);
        if trip != 0 && t.status & regs::STATUS_LASER_ON == 0 {
            let latency = now.saturating_sub(trip);
            self.last_trip_to_off_ns.store(latency, Relaxed);
            if latency > self.worst_trip_to_off_ns.load(Relaxed) {
                self.worst_trip_to_off_ns.store(latency, Relaxed);
            }
            self.trip_ns.store(0, Relaxed);
        }
        let latched = t.status & regs::STATUS_FAULT != 0;
        if latched != self.latched.load(Relaxed) {
            self.latched.store(latched, Relaxed);
            if latched {
                self.raise(uapi::EVENT_FAULT_LATCHED, now);
            }
        }
        let state = self.state.load(Relaxed);
        let mut limit = self.limit_mw.load(Relaxed);
        match state {
            NORMAL | THROTTLE if temp >= SHUTDOWN_MC => {
                self.trip(now);
                return Tick::StopJobs;
            }
            NORMAL if temp >= THROTTLE_MC => {
                self.state.store(THROTTLE, Relaxed);
                self.throttles.add(1, Relaxed);
                limit = t.laser_mw.min(LASER_MAX_MW);
                self.raise(uapi::EVENT_THROTTLE, now);
            }
            THROTTLE => {
                let delta = i64::from(temp - SETPOINT_MC) * 2 / 1000;
                limit = (i64::from(limit) - delta).clamp(0, i64::from(LASER_MAX_MW)) as u32;
                if temp < THROTTLE_EXIT_MC && limit >= LASER_MAX_MW {
                    self.state.store(NORMAL, Relaxed);
                    self.raise(uapi::EVENT_THROTTLE_END, now);
                }
            }
            SHUTDOWN if temp < RESTART_MC => {
                self.state.store(NORMAL, Relaxed);
                self.restarts.add(1, Relaxed);
                limit = LASER_MAX_MW;
                pr_info!("photonic{}: cooled to {} mC: laser re-enabled\n", self.npu.index, temp);
                self.raise_with_limit(uapi::EVENT_RESTART, now, limit);
            }
            _ => {}
        }
        if self.state.load(Relaxed) == SHUTDOWN {
            limit = 0;
        }
        self.limit_mw.store(limit, Relaxed);
        let written = limit.min(self.laser_cap_mw.load(Relaxed));
        if written != self.written_limit_mw.load(Relaxed) {
            self.written_limit_mw.store(written, Relaxed);
            let _ = self.npu.write_control(offset_of!(regs::Control, laser_limit_mw), written);
        }
        let tec = if self.state.load(Relaxed) == SHUTDOWN {
            1000
        } else {
            (i64::from(temp - 35_000) * 1000 / 40_000).clamp(0, 1000) as u32
        };
        let tec = tec.max(self.tec_floor_permille.load(Relaxed));
        if tec != self.tec_permille.load(Relaxed) {
            self.tec_permille.store(tec, Relaxed);
            let _ = self.npu.write_control(offset_of!(regs::Control, tec_permille), tec);
        }
        Tick::Continue
    }

    /// One period: `late_ns` after it was due, `overruns` periods since the last (at least 1).
    /// Reads the telemetry and steps the state machine, or declares the device lost after
    /// [`STALE_TICKS`] periods without fresh telemetry.
    pub(crate) fn tick(&self, late_ns: u64, overruns: u64) -> Tick {
        self.record_lateness(late_ns);
        if overruns > 1 {
            self.missed.add(overruns - 1, Relaxed);
        }
        let state = self.state();
        self.time_in_state_ms[state as usize % 4].add(overruns.max(1), Relaxed);
        if state == LOST {
            return Tick::Continue;
        }
        let now_ns = crate::time::monotonic_ns();
        match self.npu.telemetry() {
            Some(t) if t.seq != self.last_seq.load(Relaxed) => {
                self.last_seq.store(t.seq, Relaxed);
                self.stale.store(0, Relaxed);
                self.step(&t, now_ns)
            }
            _ => {
                if self.stale.fetch_add(1, Relaxed) + 1 < STALE_TICKS {
                    return Tick::Continue;
                }
                pr_err!("photonic{}: no telemetry for {} ms: the device is lost\n", self.npu.index, STALE_TICKS);
                self.state.store(LOST, Relaxed);
                self.npu.mark_lost();
                self.raise(uapi::EVENT_DEVICE_LOST, now_ns);
                Tick::StopJobs
            }
        }
    }
}
