// SPDX-License-Identifier: GPL-2.0

//! One bound photonic NPU: its BARs, the command ring, the staging DMA buffer and resets.
//!
//! One thread (the backend's worker) issues commands: [`Npu::post`] puts one on the ring and
//! [`Npu::complete`] collects completions in posting order, so a caller may keep several in flight
//! (the tiled MATMUL stages the next tile while the device runs the current one). The device
//! processes its ring in order.
//! Completion waits are interrupt-driven (the completion vector notifies [`Npu::irq_wake`]) with a
//! one-jiffy re-check, so a wake-up lost between the check and the sleep costs a jiffy, not a hang.

use super::regs;
use core::mem::{offset_of, size_of};
use kernel::{
    dma::Coherent,
    new_condvar, new_mutex,
    pci,
    prelude::*,
    revocable::RevocableGuard,
    devres::Devres,
    io::Io,
    sync::{
        atomic::{Atomic, Relaxed},
        Arc, CondVar, Mutex,
    },
    time::msecs_to_jiffies,
};

/// ivshmem's register BAR (BAR0): interrupt mask/status, our peer id, the doorbell.
pub(crate) const BAR0_SIZE: usize = 256;
/// Offset of the doorbell register in BAR0: `(peer << 16) | vector`.
const DOORBELL: usize = 12;
/// The device model's peer id on the ivshmem server.
const MODEL_PEER: u32 = 0;
/// Bytes of the staging buffer (weights tile, input vectors, output vectors).
pub(crate) const STAGING_BYTES: usize = 1 << 20;
/// How long one command may take before the device is declared hung.
const COMMAND_TIMEOUT_MS: u64 = 3000;
/// How long a reset may take before the device is declared lost.
const RESET_TIMEOUT_MS: u64 = 1000;

/// BAR2 (the register and ring layout of `regs.rs`) as mapped during probe.
pub(crate) type Bar2Local<'a> = pci::Bar<'a, { regs::BAR2_MIN_SIZE }>;
/// BAR2 once handed to devres (access revoked at unbind).
pub(crate) type Bar2 = Bar2Local<'static>;
/// BAR0: ivshmem's registers.
pub(crate) type Bar0 = pci::Bar<'static, BAR0_SIZE>;

/// Why a command did not complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CommandError {
    /// No completion within the timeout (the device was reset).
    Timeout,
    /// A completion with another tag or an unknown status (the device was reset).
    Corrupt,
    /// The device is gone (unbound, or it stopped answering a reset).
    Lost,
}

/// A command on the ring whose completion has not been collected.
#[must_use = "every posted command must be completed, in posting order"]
pub(crate) struct Posted {
    tag: u32,
}

/// Where the tiled MATMUL spends its time, summed over jobs (ns), and how it runs.
pub(crate) struct TileStats {
    /// Stage the next tile while the device runs the current one (else one command at a time).
    pub(crate) double_buffer: Atomic<bool>,
    /// Weight tiles programmed.
    pub(crate) tiles: Atomic<u64>,
    /// Driver time copying operands into the staging buffer (weights and inputs: the DMA source).
    pub(crate) stage_ns: Atomic<u64>,
    /// Device time programming weights (`PROGRAM_WEIGHTS`).
    pub(crate) program_ns: Atomic<u64>,
    /// Device time multiplying and accumulating (`MATMUL`, with `CMD_ACCUMULATE` after a K tile's first),
    /// including the recalibrations a drifted chip needed first.
    pub(crate) compute_ns: Atomic<u64>,
    /// Driver time copying results out of the staging buffer.
    pub(crate) readback_ns: Atomic<u64>,
    /// Driver time blocked on completions.
    pub(crate) wait_ns: Atomic<u64>,
}

/// Producer/consumer state of the rings, owned by whoever holds the lock.
struct Ring {
    sq_tail: u32,
    cq_head: u32,
    next_tag: u32,
    reset_seq: u32,
}

/// Proof that the device was enabled by [`Npu::enable`]; dropping it turns the device off
/// ([`Npu::disable`]), so that a probe failing after the enable leaves no laser on.
pub(crate) struct Enabled(Arc<Npu>);

impl Drop for Enabled {
    fn drop(&mut self) {
        self.0.disable();
    }
}

/// A bound NPU.
#[pin_data]
pub(crate) struct Npu {
    bar2: Devres<Bar2>,
    bar0: Devres<Bar0>,
    staging: Coherent<[u8]>,
    /// The N of its name `photonicN` (for log messages).
    pub(crate) index: u32,
    /// Mesh size N.
    pub(crate) mesh: usize,
    #[pin]
    ring: Mutex<Ring>,
    /// Notified by the completion interrupt.
    #[pin]
    pub(crate) irq_wake: CondVar,
    /// Completion interrupts taken.
    pub(crate) irqs: Atomic<u64>,
    /// Thermal-alarm interrupts taken.
    pub(crate) thermal_irqs: Atomic<u64>,
    /// Resets performed (timeouts, corrupt completions, thermal recovery).
    pub(crate) resets: Atomic<u64>,
    /// The tiled MATMUL's time split and mode.
    pub(crate) tile_stats: TileStats,
    /// Set once the device is lost; every later command fails at once.
    lost: Atomic<bool>,
}

impl Npu {
    /// NPU `photonic{index}` over mapped BARs, with its staging buffer; `mesh` from the header.
    pub(crate) fn new(
        index: u32,
        bar2: Devres<Bar2>,
        bar0: Devres<Bar0>,
        staging: Coherent<[u8]>,
        mesh: usize,
    ) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            bar2,
            bar0,
            staging,
            index,
            mesh,
            ring <- new_mutex!(Ring { sq_tail: 0, cq_head: 0, next_tag: 1, reset_seq: 0 }),
            irq_wake <- new_condvar!("photonic_irq_wake"),
            irqs: Atomic::new(0),
            thermal_irqs: Atomic::new(0),
            resets: Atomic::new(0),
            tile_stats: TileStats {
                double_buffer: Atomic::new(true),
                tiles: Atomic::new(0),
                stage_ns: Atomic::new(0),
                program_ns: Atomic::new(0),
                compute_ns: Atomic::new(0),
                readback_ns: Atomic::new(0),
                wait_ns: Atomic::new(0),
            },
            lost: Atomic::new(false),
        }? Error)
    }

    /// BAR2, while the device is bound.
    pub(crate) fn bar(&self) -> Option<RevocableGuard<'_, Bar2>> {
        self.bar2.try_access()
    }

    /// Whether the device is lost.
    pub(crate) fn is_lost(&self) -> bool {
        self.lost.load(Relaxed)
    }

    /// Marks the device lost (surprise removal, dead model, unbind).
    pub(crate) fn mark_lost(&self) {
        self.lost.store(true, Relaxed);
        self.irq_wake.notify_all();
    }

    /// The staging buffer's CPU address and bus address.
    pub(crate) fn staging(&self) -> (*mut u8, u64) {
        (self.staging.as_mut_ptr().cast::<u8>(), self.staging.dma_handle())
    }

    /// Telemetry, read consistently under the device's seqlock; `None` when unbound or when the
    /// device keeps updating it (four tries).
    pub(crate) fn telemetry(&self) -> Option<regs::Telemetry> {
        let bar = self.bar()?;
        let base = regs::TELEMETRY_OFFSET;
        for _ in 0..4 {
            let seq = bar.try_read64(base).ok()?;
            if seq % 2 == 1 {
                continue;
            }
            core::sync::atomic::fence(core::sync::atomic::Ordering::Acquire);
            let r32 = |field: usize| bar.try_read32(base + field).unwrap_or(0);
            let r64 = |field: usize| bar.try_read64(base + field).unwrap_or(0);
            let t = regs::Telemetry {
                seq,
                temp_mc: r32(offset_of!(regs::Telemetry, temp_mc)) as i32,
                status: r32(offset_of!(regs::Telemetry, status)),
                laser_mw: r32(offset_of!(regs::Telemetry, laser_mw)),
                heater_mw: r32(offset_of!(regs::Telemetry, heater_mw)),
                compute_mw: r32(offset_of!(regs::Telemetry, compute_mw)),
                tec_permille: r32(offset_of!(regs::Telemetry, tec_permille)),
                calibrated_mc: r32(offset_of!(regs::Telemetry, calibrated_mc)) as i32,
                reset_ack: r32(offset_of!(regs::Telemetry, reset_ack)),
                commands: r64(offset_of!(regs::Telemetry, commands)),
                model_time_us: r64(offset_of!(regs::Telemetry, model_time_us)),
                auto_calibrations: r64(offset_of!(regs::Telemetry, auto_calibrations)),
                reserved: [0; 1],
            };
            core::sync::atomic::fence(core::sync::atomic::Ordering::Acquire);
            if bar.try_read64(base).ok()? == seq {
                return Some(t);
            }
        }
        None
    }

    /// Writes one `u32` field of [`regs::Control`] (the guard's laser limit and TEC drive).
    pub(crate) fn write_control(&self, field: usize, value: u32) -> Result {
        let bar = self.bar().ok_or(ENODEV)?;
        bar.try_write32(value, regs::CONTROL_OFFSET + field)
    }

    /// Enables the device (it runs commands and heats); the returned token turns it off when
    /// dropped.
    pub(crate) fn enable(self: &Arc<Self>) -> Result<Enabled> {
        self.write_control(offset_of!(regs::Control, enable), 1)?;
        Ok(Enabled(self.clone()))
    }

    /// Laser off (limit 0), then the device disabled (no commands, no interrupts). Errors are
    /// ignored: an unreachable device is off.
    pub(crate) fn disable(&self) {
        let _ = self.write_control(offset_of!(regs::Control, laser_limit_mw), 0);
        let _ = self.write_control(offset_of!(regs::Control, enable), 0);
    }

    /// Makes the device apply [`regs::Control`] now rather than at its next internal tick
    /// (safe from the guard's timer: a posted register write).
    pub(crate) fn apply_controls(&self) -> Result {
        self.ring_doorbell(regs::DOORBELL_SUBMIT)
    }

    fn ring_doorbell(&self, vector: u16) -> Result {
        let bar0 = self.bar0.try_access().ok_or(ENODEV)?;
        bar0.try_write32((MODEL_PEER << 16) | u32::from(vector), DOORBELL)
    }

    /// Puts `cmd` on the ring and rings the doorbell, without waiting for it.
    pub(crate) fn post(&self, mut cmd: regs::Command) -> Result<Posted, CommandError> {
        if self.is_lost() {
            return Err(CommandError::Lost);
        }
        let mut ring = self.ring.lock();
        cmd.tag = ring.next_tag;
        ring.next_tag = ring.next_tag.wrapping_add(1);
        if self.write_slot(&mut ring, &cmd).is_err() {
            return Err(CommandError::Lost);
        }
        Ok(Posted { tag: cmd.tag })
    }

    /// Waits for the completion of `posted`, the oldest command not yet completed: its device
    /// status and the device time it took (ns). A timeout or a completion with another tag resets
    /// the device (which discards every command still on the ring) before returning.
    pub(crate) fn complete(&self, posted: Posted) -> Result<(u32, u64), CommandError> {
        let mut ring = self.ring.lock();
        let deadline = crate::time::monotonic_ns() + COMMAND_TIMEOUT_MS * 1_000_000;
        loop {
            match self.reap(&mut ring) {
                Ok(Some(c)) if c.tag == posted.tag && c.status <= regs::ST_BAD_VALUE => {
                    return Ok((c.status, c.duration_ns))
                }
                Ok(Some(_)) => {
                    drop(ring);
                    return Err(self.recover(CommandError::Corrupt));
                }
                Ok(None) => {}
                Err(_) => return Err(CommandError::Lost),
            }
            if self.is_lost() {
                return Err(CommandError::Lost);
            }
            if crate::time::monotonic_ns() >= deadline {
                drop(ring);
                return Err(self.recover(CommandError::Timeout));
            }
            let _ = self.irq_wake.wait_interruptible_timeout(&mut ring, msecs_to_jiffies(1));
        }
    }

    /// Writes `cmd` into the next submission slot, publishes the tail and rings the doorbell.
    fn write_slot(&self, ring: &mut Ring, cmd: &regs::Command) -> Result {
        let bar = self.bar().ok_or(ENODEV)?;
        let slot = regs::SQ_OFFSET + (ring.sq_tail as usize % regs::RING_ENTRIES) * size_of::<regs::Command>();
        let w32 = |field: usize, v: u32| bar.try_write32(v, slot + field);
        let w64 = |field: usize, v: u64| bar.try_write64(v, slot + field);
        w32(0, u32::from(cmd.opcode) | (u32::from(cmd.flags) << 16))?;
        w32(offset_of!(regs::Command, tag), cmd.tag)?;
        w64(offset_of!(regs::Command, src), cmd.src)?;
        w64(offset_of!(regs::Command, dst), cmd.dst)?;
        w32(offset_of!(regs::Command, batch), cmd.batch)?;
        w32(offset_of!(regs::Command, arg), cmd.arg)?;
        for i in 0..4 {
            w64(offset_of!(regs::Command, reserved) + 8 * i, cmd.reserved[i])?;
        }
        core::sync::atomic::fence(core::sync::atomic::Ordering::Release);
        ring.sq_tail = ring.sq_tail.wrapping_add(1);
        bar.try_write32(ring.sq_tail, regs::SQ_INDICES_OFFSET + offset_of!(regs::RingIndices, tail))?;
        drop(bar);
        self.ring_doorbell(regs::DOORBELL_SUBMIT)
    }

    /// Takes the next completion, if the device posted one.
    fn reap(&self, ring: &mut Ring) -> Result<Option<regs::Completion>> {
        let bar = self.bar().ok_or(ENODEV)?;
        let tail = bar.try_read32(regs::CQ_INDICES_OFFSET + offset_of!(regs::RingIndices, tail))?;
        if tail == ring.cq_head {
            return Ok(None);
        }
        core::sync::atomic::fence(core::sync::atomic::Ordering::Acquire);
        let slot = regs::CQ_OFFSET + (ring.cq_head as usize % regs::RING_ENTRIES) * size_of::<regs::Completion>();
        let c = regs::Completion {
            tag: bar.try_read32(slot)?,
            status: bar.try_read32(slot + offset_of!(regs::Completion, status))?,
            duration_ns: bar.try_read64(slot + offset_of!(regs::Completion, duration_ns))?,
        };
        ring.cq_head = ring.cq_head.wrapping_add(1);
        bar.try_write32(ring.cq_head, regs::CQ_INDICES_OFFSET + offset_of!(regs::RingIndices, head))?;
        Ok(Some(c))
    }

    /// Resets the device after `why`; returns `why`, or `Lost` when the reset was not acknowledged.
    pub(crate) fn recover(&self, why: CommandError) -> CommandError {
        match self.reset() {
            Ok(()) => why,
            Err(_) => {
                pr_err!("photonic{}: the device did not acknowledge a reset; marking it lost\n", self.index);
                self.mark_lost();
                CommandError::Lost
            }
        }
    }

    /// Resets the device: it aborts what is queued, clears a hang and (when cool) its fault latch,
    /// and forgets its weights. The rings restart empty. `ETIMEDOUT` when it does not acknowledge.
    pub(crate) fn reset(&self) -> Result {
        let mut ring = self.ring.lock();
        ring.reset_seq = ring.reset_seq.wrapping_add(1);
        let seq = ring.reset_seq;
        self.write_control(offset_of!(regs::Control, reset_seq), seq)?;
        self.ring_doorbell(regs::DOORBELL_RESET)?;
        self.resets.add(1, Relaxed);
        let deadline = crate::time::monotonic_ns() + RESET_TIMEOUT_MS * 1_000_000;
        loop {
            if self.telemetry().is_some_and(|t| t.reset_ack == seq) {
                break;
            }
            if crate::time::monotonic_ns() >= deadline {
                return Err(ETIMEDOUT);
            }
            let _ = self.irq_wake.wait_interruptible_timeout(&mut ring, msecs_to_jiffies(1));
        }
        // Everything the device posted before and during the reset is discarded.
        let bar = self.bar().ok_or(ENODEV)?;
        let sq_head = bar.try_read32(regs::SQ_INDICES_OFFSET + offset_of!(regs::RingIndices, head))?;
        let cq_tail = bar.try_read32(regs::CQ_INDICES_OFFSET + offset_of!(regs::RingIndices, tail))?;
        ring.sq_tail = sq_head;
        ring.cq_head = cq_tail;
        bar.try_write32(cq_tail, regs::CQ_INDICES_OFFSET + offset_of!(regs::RingIndices, head))?;
        Ok(())
    }

    /// Brings the rings to a known state at bind time (the device may have been used by an
    /// earlier binding): continues the reset sequence from the device's, then resets.
    pub(crate) fn init_ring(&self) -> Result {
        let t = self.telemetry().ok_or(ENODEV)?;
        self.ring.lock().reset_seq = t.reset_ack;
        self.reset()
    }
}
