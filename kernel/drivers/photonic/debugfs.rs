// SPDX-License-Identifier: GPL-2.0

//! `/sys/kernel/debug/lightos-photonicN/` (one directory per bound NPU, named like its backend):
//! `guard`: the thermal guard's state, timing and trips, and the device's counters; `tiling`: the
//! tiled MATMUL's time split, and its double-buffering switch (write `0` or `1`).

use super::{device::PhotonicDevice, guard};
use kernel::{
    debugfs::{Dir, File},
    prelude::*,
    sync::{atomic::Relaxed, Arc},
};

fn write_guard(d: &Arc<PhotonicDevice>, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
    let g = &d.guard;
    let state = g.state() as usize;
    writeln!(f, "state {}", guard::STATE_NAMES.get(state).unwrap_or(&"?"))?;
    writeln!(f, "period_ns {}", guard::PERIOD_NS)?;
    writeln!(f, "temp_mc {}", g.temp_mc.load(Relaxed))?;
    writeln!(f, "max_temp_mc {}", g.max_temp_mc.load(Relaxed))?;
    writeln!(f, "laser_limit_mw {}", g.limit_mw.load(Relaxed))?;
    writeln!(f, "laser_cap_mw {}", g.laser_cap_mw.load(Relaxed))?;
    writeln!(f, "tec_floor_permille {}", g.tec_floor_permille.load(Relaxed))?;
    writeln!(f, "tec_permille {}", g.tec_permille.load(Relaxed))?;
    writeln!(f, "ticks {}", g.ticks.load(Relaxed))?;
    writeln!(f, "missed_ticks {}", g.missed.load(Relaxed))?;
    writeln!(f, "worst_lateness_ns {}", g.worst_late_ns.load(Relaxed))?;
    write!(f, "lateness_us_histogram")?;
    for (i, b) in g.late_hist.iter().enumerate() {
        match crate::uapi::LATENESS_BOUNDS_US.get(i) {
            Some(bound) => write!(f, " <{}:{}", bound, b.load(Relaxed))?,
            None => write!(f, " rest:{}", b.load(Relaxed))?,
        }
    }
    writeln!(f)?;
    writeln!(f, "throttles {}", g.throttles.load(Relaxed))?;
    writeln!(f, "shutdowns {}", g.shutdowns.load(Relaxed))?;
    writeln!(f, "restarts {}", g.restarts.load(Relaxed))?;
    writeln!(f, "last_trip_to_laser_off_ns {}", g.last_trip_to_off_ns.load(Relaxed))?;
    writeln!(f, "worst_trip_to_laser_off_ns {}", g.worst_trip_to_off_ns.load(Relaxed))?;
    for (name, ms) in guard::STATE_NAMES.iter().zip(g.time_in_state_ms.iter()) {
        writeln!(f, "time_in_{}_ms {}", name, ms.load(Relaxed))?;
    }
    let npu = &d.npu;
    writeln!(f, "completion_irqs {}", npu.irqs.load(Relaxed))?;
    writeln!(f, "thermal_irqs {}", npu.thermal_irqs.load(Relaxed))?;
    writeln!(f, "resets {}", npu.resets.load(Relaxed))?;
    writeln!(f, "lost {}", u32::from(npu.is_lost()))?;
    if let Some(t) = npu.telemetry() {
        writeln!(
            f,
            "device temp_mc {} status {:#x} laser_mw {} heater_mw {} compute_mw {} tec_permille {} calibrated_mc {} auto_calibrations {} commands {} model_time_us {}",
            t.temp_mc, t.status, t.laser_mw, t.heater_mw, t.compute_mw, t.tec_permille, t.calibrated_mc, t.auto_calibrations, t.commands, t.model_time_us
        )?;
    }
    Ok(())
}

fn write_tiling(d: &Arc<PhotonicDevice>, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
    let s = &d.npu.tile_stats;
    writeln!(f, "double_buffer {}", u32::from(s.double_buffer.load(Relaxed)))?;
    writeln!(f, "tiles {}", s.tiles.load(Relaxed))?;
    writeln!(f, "stage_ns {}", s.stage_ns.load(Relaxed))?;
    writeln!(f, "program_ns {}", s.program_ns.load(Relaxed))?;
    writeln!(f, "compute_ns {}", s.compute_ns.load(Relaxed))?;
    writeln!(f, "readback_ns {}", s.readback_ns.load(Relaxed))?;
    writeln!(f, "wait_ns {}", s.wait_ns.load(Relaxed))
}

/// Accepts `0` or `1` (with an optional newline) for the double-buffering switch; `EINVAL` else.
fn read_tiling(d: &Arc<PhotonicDevice>, r: &mut kernel::uaccess::UserSliceReader) -> Result {
    let mut buf = [0u8; 4];
    let n = r.len().min(buf.len());
    r.read_slice(&mut buf[..n])?;
    let on = match &buf[..n] {
        b"0" | b"0\n" => false,
        b"1" | b"1\n" => true,
        _ => return Err(EINVAL),
    };
    d.npu.tile_stats.double_buffer.store(on, Relaxed);
    Ok(())
}

/// The debugfs directory of one device; removed when dropped.
#[pin_data]
pub(crate) struct DeviceDebugfs {
    #[pin]
    _guard: File<Arc<PhotonicDevice>>,
    #[pin]
    _tiling: File<Arc<PhotonicDevice>>,
    _dir: Dir,
}

impl DeviceDebugfs {
    /// Creates the directory of `dev` and its files.
    pub(crate) fn new(dev: Arc<PhotonicDevice>) -> Result<impl PinInit<Self, Error>> {
        let dir = Dir::new(&dev.index().debugfs_name()?);
        Ok(try_pin_init!(Self {
            _guard <- dir.read_callback_file(c"guard", dev.clone(), &write_guard),
            _tiling <- dir.read_write_callback_file(c"tiling", dev, &write_tiling, &read_tiling),
            _dir: dir,
        }? Error))
    }
}
