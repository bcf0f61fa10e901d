// SPDX-License-Identifier: GPL-2.0

//! Commands in flight for one job: posted in order, completed in order, their device time
//! attributed to programming or compute, and every one collected before the job returns (a
//! completion left on the ring would be taken for the next job's).

use super::{
    npu::{CommandError, Npu, Posted},
    regs,
};
use crate::uapi;
use kernel::{prelude::*, sync::atomic::Relaxed};

/// What a command in flight does (for the time split).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Program,
    Matmul,
}

/// The job status a device status maps to (`Ok` for success); a refusal is logged for `npu`.
pub(crate) fn job_status(npu: &Npu, opcode: u16, r: Result<u32, CommandError>) -> Result<(), u32> {
    match r {
        Ok(regs::ST_OK) => Ok(()),
        Ok(regs::ST_THERMAL) => Err(uapi::STATUS_THERMAL_ABORT),
        Ok(regs::ST_BAD_VALUE) => Err(uapi::STATUS_INVALID),
        Ok(regs::ST_ABORTED) => Err(uapi::STATUS_ABORTED),
        Ok(status) => {
            pr_err!("photonic{}: the device refused command {}: status {}\n", npu.index, opcode, status);
            Err(uapi::STATUS_DEVICE_ERROR)
        }
        Err(CommandError::Timeout) => Err(uapi::STATUS_TIMEOUT),
        Err(CommandError::Corrupt) => Err(uapi::STATUS_DEVICE_ERROR),
        Err(CommandError::Lost) => Err(uapi::STATUS_DEVICE_LOST),
    }
}

/// Most commands one job keeps in flight (two tiles of calibrate, program and multiply).
const MAX_IN_FLIGHT: usize = 8;

/// The commands one job has in flight.
pub(crate) struct Pipeline<'a> {
    npu: &'a Npu,
    /// Oldest first: the command, its opcode, what it does, and the tile it belongs to.
    inflight: KVec<(Posted, u16, Kind, usize)>,
}

impl<'a> Pipeline<'a> {
    /// An empty pipeline on `npu`, with room for [`MAX_IN_FLIGHT`] commands.
    pub(crate) fn new(npu: &'a Npu) -> Result<Self, u32> {
        let inflight = KVec::with_capacity(MAX_IN_FLIGHT, GFP_KERNEL).map_err(|_| uapi::STATUS_DEVICE_ERROR)?;
        Ok(Self { npu, inflight })
    }

    /// Posts `cmd` for `tile` (completing the oldest first when [`MAX_IN_FLIGHT`] are in flight).
    pub(crate) fn post(&mut self, cmd: regs::Command, kind: Kind, tile: usize) -> Result<(), u32> {
        if self.inflight.len() >= MAX_IN_FLIGHT {
            self.complete_oldest()?;
        }
        let posted = self.npu.post(cmd).map_err(|e| {
            // The device is lost: nothing posted earlier will complete either.
            self.inflight.clear();
            job_status(self.npu, cmd.opcode, Err(e)).err().unwrap_or(uapi::STATUS_DEVICE_LOST)
        })?;
        // Within the capacity reserved in `new`: the push does not allocate, so it cannot fail.
        let _ = self.inflight.push((posted, cmd.opcode, kind, tile), GFP_KERNEL);
        Ok(())
    }

    /// Completes the oldest command.
    fn complete_oldest(&mut self) -> Result<(), u32> {
        if self.inflight.is_empty() {
            return Ok(());
        }
        let (posted, opcode, kind, _) = self.inflight.remove(0).map_err(|_| uapi::STATUS_DEVICE_ERROR)?;
        let stats = &self.npu.tile_stats;
        let t0 = crate::time::monotonic_ns();
        let r = self.npu.complete(posted);
        stats.wait_ns.add(crate::time::monotonic_ns().saturating_sub(t0), Relaxed);
        if let Ok((_, device_ns)) = r {
            match kind {
                Kind::Program => stats.program_ns.add(device_ns, Relaxed),
                Kind::Matmul => stats.compute_ns.add(device_ns, Relaxed),
            }
        } else {
            // A timeout or corrupt completion reset the device (the ring is empty now), or the
            // device is lost: nothing else will complete.
            self.inflight.clear();
        }
        job_status(self.npu, opcode, r.map(|(status, _)| status))
    }

    /// Completes commands until none of a tile before `tile` is in flight.
    pub(crate) fn drain_before(&mut self, tile: usize) -> Result<(), u32> {
        while self.inflight.first().is_some_and(|c| c.3 < tile) {
            self.complete_oldest()?;
        }
        Ok(())
    }

    /// Completes every command in flight.
    pub(crate) fn drain(&mut self) -> Result<(), u32> {
        while !self.inflight.is_empty() {
            self.complete_oldest()?;
        }
        Ok(())
    }

    /// Ends the job with `result`: on failure, collects what is still in flight (statuses ignored)
    /// so the ring is clean for the next job.
    pub(crate) fn finish(mut self, result: Result<(), u32>) -> Result<(), u32> {
        match result {
            Ok(()) => self.drain(),
            Err(status) => {
                while !self.inflight.is_empty() {
                    let _ = self.complete_oldest();
                }
                Err(status)
            }
        }
    }
}
