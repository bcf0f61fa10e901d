//! `lightos.thermal()` and `lightos.thermal_events()`: the kernel's thermal guards and the events
//! they raise (throttle, shutdown, restart, device lost), from `/dev/lightos`.

use crate::error::error;
use lightos_runtime::{thermal::Event, Context};
use nix::errno::Errno;
use pyo3::{prelude::*, types::PyDict};
use std::{
    collections::{HashMap, VecDeque},
    path::Path,
    time::{Duration, Instant},
};

const HINT: &str =
    "load the module (insmod lightos_core.ko); guards belong to devices such as photonic0";

/// Every device with a thermal guard: name, backend_id, state, temperature_c, max_temperature_c,
/// throttle_c, shutdown_c, restart_c, laser_limit_mw, power_mw, throttles, shutdowns, restarts,
/// missed_ticks. Without `node` (no kernel module), none: nothing in this process has a guard.
#[pyfunction]
#[pyo3(signature = (node = "/dev/lightos"))]
pub(crate) fn thermal<'py>(py: Python<'py>, node: &str) -> PyResult<Vec<Bound<'py, PyDict>>> {
    if !Path::new(node).exists() {
        return Ok(Vec::new());
    }
    let snap = Context::open_path(node)
        .and_then(|c| c.thermal())
        .map_err(|e| error(e, HINT))?;
    let c = |mc: i32| f64::from(mc) / 1000.0;
    snap.devices
        .iter()
        .map(|t| {
            let d = PyDict::new(py);
            d.set_item("name", &t.name)?;
            d.set_item("backend_id", t.backend_id)?;
            d.set_item("state", t.state.name())?;
            d.set_item("temperature_c", c(t.temp_mc))?;
            d.set_item("max_temperature_c", c(t.max_temp_mc))?;
            d.set_item("throttle_c", c(t.throttle_mc))?;
            d.set_item("shutdown_c", c(t.shutdown_mc))?;
            d.set_item("restart_c", c(t.restart_mc))?;
            d.set_item("laser_limit_mw", t.laser_limit_mw)?;
            d.set_item("power_mw", t.power_mw)?;
            d.set_item("throttles", t.throttles)?;
            d.set_item("shutdowns", t.shutdowns)?;
            d.set_item("restarts", t.restarts)?;
            d.set_item("missed_ticks", t.missed)?;
            Ok(d)
        })
        .collect()
}

/// An iterator over thermal events: each a dict (seq, time_ns, backend_id, device, kind,
/// temperature_c, laser_limit_mw). It ends when `timeout` seconds pass without one (never, for
/// None); Ctrl-C raises KeyboardInterrupt within 0.1 s. `lost` counts events the kernel's log
/// overwrote before they were read.
#[pyclass(module = "lightos")]
pub(crate) struct ThermalEvents {
    ctx: Context,
    after: u64,
    timeout: Option<Duration>,
    pending: VecDeque<Event>,
    names: HashMap<u32, String>,
    /// Events overwritten before this iterator read them.
    #[pyo3(get)]
    lost: u64,
}

/// Thermal events from now on (or after sequence number `after`), ending after `timeout`
/// seconds without one. Raises LightOSError (ENOENT) without the kernel module.
#[pyfunction]
#[pyo3(signature = (timeout = None, after = None, node = "/dev/lightos"))]
pub(crate) fn thermal_events(
    timeout: Option<f64>,
    after: Option<u64>,
    node: &str,
) -> PyResult<ThermalEvents> {
    if !Path::new(node).exists() {
        return Err(error(
            format!("ENOENT: no {node}: thermal events come from the kernel's guards"),
            HINT,
        ));
    }
    let timeout = timeout
        .map(|s| Duration::try_from_secs_f64(s.max(0.0)))
        .transpose()
        .map_err(|e| crate::error::invalid(format!("timeout: {e}"), "seconds, a number"))?;
    let ctx = Context::open_path(node).map_err(|e| error(e, HINT))?;
    let after = match after {
        Some(a) => a,
        None => ctx.thermal().map_err(|e| error(e, HINT))?.last_event_seq,
    };
    let names = ctx
        .backends()
        .map_err(|e| error(e, HINT))?
        .into_iter()
        .map(|b| (b.id, b.name))
        .collect();
    Ok(ThermalEvents {
        ctx,
        after,
        timeout,
        pending: VecDeque::new(),
        names,
        lost: 0,
    })
}

#[pymethods]
impl ThermalEvents {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let deadline = self.timeout.map(|t| Instant::now() + t);
        while self.pending.is_empty() {
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if left == Some(Duration::ZERO) {
                return Ok(None);
            }
            let slice = left.map_or(SLICE, |l| l.min(SLICE));
            let (ctx, after) = (&self.ctx, self.after);
            let batch = py
                .detach(|| ctx.wait_events(after, Some(slice)))
                .or_else(|e| match e.errno() {
                    Some(Errno::ETIMEDOUT) => Ok(Default::default()),
                    _ => Err(error(e, HINT)),
                })?;
            self.lost += batch.lost;
            if !batch.events.is_empty() {
                self.after = batch.last_seq;
            }
            self.pending.extend(batch.events);
            py.check_signals()?;
        }
        let Some(ev) = self.pending.pop_front() else {
            return Ok(None);
        };
        let d = PyDict::new(py);
        d.set_item("seq", ev.seq)?;
        d.set_item("time_ns", ev.time_ns)?;
        d.set_item("backend_id", ev.backend_id)?;
        d.set_item("device", self.names.get(&ev.backend_id))?;
        d.set_item("kind", ev.kind.name())?;
        d.set_item("temperature_c", f64::from(ev.temp_mc) / 1000.0)?;
        d.set_item("laser_limit_mw", ev.laser_limit_mw)?;
        Ok(Some(d))
    }
}

/// How long one wait lasts before Python's signal handlers get a look.
const SLICE: Duration = Duration::from_millis(100);
