//! `lightos.devices()`: what runs primitives here.

use crate::error::error;
use lightos_runtime::{
    accel::{Accelerator, DeviceKind},
    dtype_names, op_names, Context, Op,
};
use pyo3::{prelude::*, types::PyDict};
use std::path::Path;

/// Every backend the kernel knows (name, kind, ops, dtypes, the ops it runs deterministically,
/// load, jobs done, temperature, thermal state and power where it has a guard); without `node`
/// (`/dev/lightos` absent: a laptop, CI), one entry for the CPU backend in this process, whose
/// `kind` says so.
#[pyfunction]
#[pyo3(signature = (node = "/dev/lightos"))]
pub(crate) fn devices<'py>(py: Python<'py>, node: &str) -> PyResult<Vec<Bound<'py, PyDict>>> {
    let path = Path::new(node);
    if !path.exists() {
        let d = PyDict::new(py);
        let ops = lightos_cpu::exec::OPS
            .iter()
            .filter_map(|&o| Op::from_raw(o))
            .fold(0, |m, o| m | o.bit());
        d.set_item("name", "local")?;
        d.set_item(
            "kind",
            format!("in-process (no {node}: the CPU backend's kernels in this process)"),
        )?;
        d.set_item("ops", op_names(ops))?;
        d.set_item("dtypes", dtype_names(lightos_cpu::exec::DTYPES))?;
        d.set_item("deterministic", "all ops")?;
        d.set_item("load", 0)?;
        d.set_item("temperature_c", None::<f64>)?;
        d.set_item("power_w", None::<f64>)?;
        return Ok(vec![d]);
    }
    let hint = "load the module (insmod lightos_core.ko) and start a backend (lightosd)";
    let ctx = Context::open_path(path).map_err(|e| error(e, hint))?;
    let list = Accelerator::with(ctx)
        .and_then(|a| a.devices())
        .map_err(|e| error(e, hint))?;
    let mut out = Vec::with_capacity(list.len());
    for p in list {
        let d = PyDict::new(py);
        d.set_item("name", &p.name)?;
        d.set_item("backend_id", p.backend_id)?;
        let kind = match p.kind {
            DeviceKind::Hardware => "device",
            DeviceKind::Executor => "executor",
        };
        d.set_item("kind", kind)?;
        d.set_item("ops", op_names(p.ops))?;
        d.set_item("dtypes", dtype_names(p.dtypes))?;
        d.set_item("deterministic_ops", op_names(p.deterministic_ops))?;
        d.set_item("load", p.queued + p.running)?;
        d.set_item("jobs", p.jobs)?;
        d.set_item("errors", p.errors)?;
        d.set_item("temperature_c", p.temperature_c)?;
        d.set_item("thermal_state", p.thermal_state)?;
        d.set_item("power_w", p.power_w)?;
        out.push(d);
    }
    Ok(out)
}
