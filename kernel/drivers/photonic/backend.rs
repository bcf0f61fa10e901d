// SPDX-License-Identifier: GPL-2.0

//! A photonic NPU as a backend of the core: `photonicN`, kind DEVICE, MATMUL on f32, its jobs
//! handed to the device's [`JobRunner`](super::jobs::JobRunner) and its thermal guard reported
//! through `QUERY_THERMAL` and `POWER_SET`.

use super::device::PhotonicDevice;
use crate::{
    sched::{account::Counters, backend::Backend, job::Job},
    uapi,
};
use kernel::{prelude::*, sync::Arc};

impl Backend for PhotonicDevice {
    fn id(&self) -> u32 {
        self.backend_id
    }

    fn name(&self) -> &[u8; uapi::BACKEND_NAME_LEN] {
        &self.name
    }

    fn kind(&self) -> u32 {
        uapi::BACKEND_KIND_DEVICE
    }

    fn ops(&self) -> u64 {
        1 << uapi::OP_MATMUL
    }

    fn deterministic_ops(&self) -> u64 {
        // Detector noise: results differ run to run.
        0
    }

    fn dtypes(&self) -> u32 {
        1 << uapi::DTYPE_F32
    }

    fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    fn load(&self) -> (u32, u32) {
        self.jobs.load()
    }

    fn reserve(&self, priority: u32, n: usize) -> Result {
        self.jobs.reserve(priority, n)
    }

    fn unreserve(&self, priority: u32, n: usize) {
        self.jobs.unreserve(priority, n);
    }

    fn enqueue(&self, job: Arc<Job>) -> Result {
        self.jobs.push(job)
    }

    fn kick(&self) {
        self.jobs.kick();
    }

    fn thermal(&self) -> Option<uapi::ThermalInfo> {
        Some(self.guard.info(&self.name))
    }

    fn set_power(&self, req: &uapi::PowerSet) -> Result {
        self.guard.set_power(req);
        Ok(())
    }
}
