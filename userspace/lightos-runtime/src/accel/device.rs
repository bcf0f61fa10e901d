//! Device enumeration: the kernel's backends with their capabilities and thermal state.

use super::Result;
use crate::{thermal::ThermalDevice, BackendKind, Context, DType, Op};

/// What a device is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceKind {
    /// Hardware driven by a kernel driver (e.g. the photonic NPU).
    Hardware,
    /// A userspace executor registered with the kernel (e.g. `lightosd`'s CPU backend).
    Executor,
}

/// A device's properties as the kernel reports them.
#[derive(Clone, Debug, PartialEq)]
pub struct DeviceProps {
    /// Its name (`cpu0`, `photonic0`, …).
    pub name: String,
    /// The kernel's backend id.
    pub backend_id: u32,
    /// Hardware or executor.
    pub kind: DeviceKind,
    /// Ops it runs ([`Op::bit`] mask).
    pub ops: u64,
    /// Ops it runs bit-reproducibly.
    pub deterministic_ops: u64,
    /// Dtypes it accepts ([`DType::bit`] mask).
    pub dtypes: u32,
    /// Jobs waiting for it.
    pub queued: u32,
    /// Jobs it is running.
    pub running: u32,
    /// Jobs it has completed.
    pub jobs: u64,
    /// Jobs that ended in error.
    pub errors: u64,
    /// Temperature in °C, for devices with a thermal guard.
    pub temperature_c: Option<f64>,
    /// The guard's state (`normal`, `throttled`, `shutdown`, …).
    pub thermal_state: Option<&'static str>,
    /// Electrical power in W the guard last read, for devices with a thermal guard.
    pub power_w: Option<f64>,
    /// The guard's full report (trip points, laser limit, TEC, timing), for devices with one.
    pub thermal: Option<ThermalDevice>,
}

impl DeviceProps {
    /// Whether it runs `op` on `dtype` inputs.
    pub fn runs(&self, op: Op, dtype: DType) -> bool {
        self.ops & op.bit() != 0 && self.dtypes & dtype.bit() != 0
    }

    /// Whether its results for `op` are bit-reproducible.
    pub fn deterministic(&self, op: Op) -> bool {
        self.deterministic_ops & op.bit() != 0
    }
}

/// The devices `dev`'s kernel knows.
pub(super) fn enumerate(dev: &Context) -> Result<Vec<DeviceProps>> {
    let thermal = dev.thermal()?.devices;
    Ok(dev
        .backends()?
        .iter()
        .map(|b| {
            let t = thermal.iter().find(|t| t.backend_id == b.id);
            DeviceProps {
                name: b.name.clone(),
                backend_id: b.id,
                kind: if b.kind == BackendKind::Device {
                    DeviceKind::Hardware
                } else {
                    DeviceKind::Executor
                },
                ops: b.ops,
                deterministic_ops: b.deterministic_ops,
                dtypes: b.dtypes,
                queued: b.queued,
                running: b.running,
                jobs: b.stats.count,
                errors: b.stats.errors,
                temperature_c: t.map(|t| f64::from(t.temp_mc) / 1000.0),
                thermal_state: t.map(|t| t.state.name()),
                power_w: t.map(|t| f64::from(t.power_mw) / 1000.0),
                thermal: t.cloned(),
            }
        })
        .collect())
}
