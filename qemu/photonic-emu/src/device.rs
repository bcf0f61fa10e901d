//! The NPU as the guest sees it: BAR2 registers and rings over the optical core ([`Chip`]) and the
//! thermal model ([`Thermal`]), with bus-master DMA into guest RAM.
//!
//! The binary's event loop calls [`NpuDevice::tick`] every millisecond of wall-clock time and
//! [`NpuDevice::process_ring_until`] whenever the guest rings the submission doorbell (and on every
//! tick, like hardware that polls its ring), for about a millisecond at a time: telemetry is
//! published between commands, as a device's telemetry does not wait for its compute. Everything
//! the guest controls — ring indices, commands, DMA addresses — is checked: a bad command
//! completes with an error status, never crashes the model.

use crate::{
    chip::{CalibrationReport, Chip, ChipConfig},
    regs,
    shm::SharedRegion,
    thermal::{PowerInputs, Thermal, ThermalConfig, ThermalFaults},
};
use std::sync::atomic::{fence, Ordering};
use std::time::Instant;

/// Laser power after power-on and reset (mW), before any `SET_LASER_POWER`; the detector noise
/// is specified at this power and scales with `1/√(power)`.
pub const DEFAULT_LASER_MW: u32 = 1000;
/// Highest laser power `SET_LASER_POWER` accepts (mW).
pub const MAX_LASER_MW: u32 = 5000;
/// Power of the phase-shifter heaters while weights are held (W).
const HEATER_W: f64 = 0.3;
/// Compute power while the modulators and detectors run flat out (W).
const COMPUTE_W: f64 = 1.5;
/// Modelled device time per input vector of a MATMUL (s): modulation, propagation, detection.
const VECTOR_TIME_S: f64 = 10e-6;
/// Time constant of the compute-power average (model seconds).
const COMPUTE_TAU_S: f64 = 0.05;

/// Faults injected from the host (see [`crate::control`]).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct InjectedFaults {
    /// The command processor stops: nothing completes until a reset.
    pub hang: bool,
    /// The next completion carries a corrupted tag and status.
    pub corrupt_next_completion: bool,
    /// Thermal faults: cooling failure, runaway heat.
    pub thermal: ThermalFaults,
}

/// The emulated device.
pub struct NpuDevice {
    bar: SharedRegion,
    ram: SharedRegion,
    chip: Chip,
    thermal: Thermal,
    n: usize,
    laser_set_mw: u32,
    tec_cmd_permille: u32,
    programmed: bool,
    /// Modelled compute energy deposited since the last tick (J).
    compute_energy_j: f64,
    compute_w: f64,
    /// The injected faults now in force.
    pub faults: InjectedFaults,
    commands: u64,
    /// Calibrations `CMD_CALIBRATE_IF_DRIFTED` triggered since power-on.
    auto_calibrations: u64,
    telemetry_seq: u64,
    reset_ack: u32,
    alarmed: bool,
    /// Laser power in the last published telemetry (mW).
    published_laser_mw: u32,
    /// What the last calibration did and left.
    last_calibration: Option<CalibrationReport>,
}

/// A BAR2 offset as the `u64` [`SharedRegion`] takes.
fn bar_off(offset: usize) -> u64 {
    offset as u64
}

impl NpuDevice {
    /// A powered-on device over `bar` (BAR2) doing DMA into `ram` (guest physical address = offset).
    /// Writes the identification header and the first telemetry.
    pub fn new(
        bar: SharedRegion,
        ram: SharedRegion,
        chip: ChipConfig,
        thermal: ThermalConfig,
    ) -> Self {
        let n = chip.n;
        let mut dev = NpuDevice {
            bar,
            ram,
            chip: Chip::new(chip),
            thermal: Thermal::new(thermal),
            n,
            laser_set_mw: DEFAULT_LASER_MW,
            tec_cmd_permille: 0,
            programmed: false,
            compute_energy_j: 0.0,
            compute_w: 0.0,
            faults: InjectedFaults::default(),
            commands: 0,
            auto_calibrations: 0,
            telemetry_seq: 0,
            reset_ack: 0,
            alarmed: false,
            published_laser_mw: 0,
            last_calibration: None,
        };
        let cfg = dev.chip.config();
        let header = regs::Header {
            magic: regs::MAGIC,
            version: regs::VERSION,
            capabilities: regs::CAP_MATMUL
                | regs::CAP_CALIBRATE
                | regs::CAP_THERMAL
                | regs::CAP_AUTO_CALIBRATE,
            mesh_size: n as u32,
            ring_entries: regs::RING_ENTRIES as u32,
            dac_bits: cfg.dac_bits,
            adc_bits: cfg.adc_bits,
            reserved: [0; 4],
        };
        // BAR2 is at least BAR2_MIN_SIZE (checked by the caller); a failure here is a model bug.
        dev.bar
            .write(bar_off(regs::HEADER_OFFSET), header)
            .expect("BAR2 holds the header");
        // The chip leaves the fab calibrated at ambient.
        dev.calibrate();
        dev.publish_telemetry();
        dev
    }

    /// The chip temperature (°C).
    pub fn temperature(&self) -> f64 {
        self.thermal.temperature()
    }

    /// The driver's controls.
    fn control(&self) -> regs::Control {
        self.bar
            .read(bar_off(regs::CONTROL_OFFSET))
            .unwrap_or_default()
    }

    /// The laser power now in force (mW).
    pub fn laser_mw(&self) -> u32 {
        let c = self.control();
        if self.thermal.fault_latched() || c.enable == 0 {
            return 0;
        }
        self.laser_set_mw.min(c.laser_limit_mw)
    }

    /// The laser limit the driver wrote (mW), whether or not the device is enabled.
    pub fn laser_limit_mw(&self) -> u32 {
        self.control().laser_limit_mw
    }

    fn tec_permille(&self) -> u32 {
        self.control()
            .tec_permille
            .min(1000)
            .max(self.tec_cmd_permille)
    }

    /// Whether the guest enabled interrupts.
    pub fn interrupts_enabled(&self) -> bool {
        self.control().enable != 0
    }

    /// Advances the thermal model by `wall_dt` seconds and publishes telemetry. Returns `true`
    /// when a thermal alarm should be raised (the fault latch just set).
    pub fn tick(&mut self, wall_dt: f64) -> bool {
        let model_dt = wall_dt * self.thermal.time_scale();
        if model_dt > 0.0 {
            let inst = (self.compute_energy_j / model_dt).min(COMPUTE_W);
            let a = 1.0 - (-model_dt / COMPUTE_TAU_S).exp();
            self.compute_w += a * (inst - self.compute_w);
            self.compute_energy_j = 0.0;
        }
        let power = PowerInputs {
            laser_w: f64::from(self.laser_mw()) / 1000.0,
            heater_w: if self.programmed { HEATER_W } else { 0.0 },
            compute_w: self.compute_w,
            tec_drive: f64::from(self.tec_permille()) / 1000.0,
        };
        self.thermal.step(wall_dt, &power, &self.faults.thermal);
        let latched = self.thermal.fault_latched();
        let alarm = latched && !self.alarmed;
        self.alarmed = latched;
        self.publish_telemetry();
        alarm
    }

    /// Applies the driver's controls on a doorbell, as the hardware does on a register write:
    /// a changed laser power shows in telemetry at once instead of at the next tick.
    pub fn apply_controls(&mut self) {
        if self.laser_mw() != self.published_laser_mw {
            self.publish_telemetry();
        }
    }

    /// Writes telemetry under the seqlock.
    fn publish_telemetry(&mut self) {
        let mut status = regs::STATUS_READY;
        if self.thermal.fault_latched() {
            status |= regs::STATUS_FAULT;
        }
        let laser = self.laser_mw();
        self.published_laser_mw = laser;
        if laser > 0 {
            status |= regs::STATUS_LASER_ON;
        }
        if self.programmed {
            status |= regs::STATUS_PROGRAMMED;
        }
        let t = regs::Telemetry {
            seq: 0,
            temp_mc: (self.thermal.temperature() * 1000.0).round() as i32,
            status,
            laser_mw: laser,
            heater_mw: if self.programmed {
                (HEATER_W * 1000.0) as u32
            } else {
                0
            },
            compute_mw: (self.compute_w * 1000.0).round() as u32,
            tec_permille: self.tec_permille(),
            calibrated_mc: self
                .chip
                .calibrated_at()
                .map_or(0, |c| (c * 1000.0).round() as i32),
            reset_ack: self.reset_ack,
            commands: self.commands,
            model_time_us: (self.thermal.elapsed() * 1e6) as u64,
            auto_calibrations: self.auto_calibrations,
            reserved: [0; 1],
        };
        let base = bar_off(regs::TELEMETRY_OFFSET);
        self.telemetry_seq = self.telemetry_seq.wrapping_add(1) | 1;
        let _ = self.bar.write(base, self.telemetry_seq);
        fence(Ordering::Release);
        let _ = self.bar.write(
            base,
            regs::Telemetry {
                seq: self.telemetry_seq,
                ..t
            },
        );
        fence(Ordering::Release);
        self.telemetry_seq = self.telemetry_seq.wrapping_add(1);
        let _ = self.bar.write(base, self.telemetry_seq);
    }

    fn indices(&self, at: usize) -> regs::RingIndices {
        self.bar.read(bar_off(at)).unwrap_or_default()
    }

    /// Executes the commands the guest has queued; returns how many completions were posted.
    /// Stops early while hung or when the completion ring is full.
    pub fn process_ring(&mut self) -> usize {
        self.process_ring_until(None)
    }

    /// As [`Self::process_ring`], but returns once `deadline` has passed (after at least one
    /// command), so that the caller ticks the thermal model, publishes telemetry and sees a reset
    /// between commands: a full ring of large commands runs longer than the driver waits for
    /// fresh telemetry before it declares the device lost.
    pub fn process_ring_until(&mut self, deadline: Option<Instant>) -> usize {
        let mut posted = 0;
        loop {
            if self.faults.hang {
                return posted;
            }
            let sq = self.indices(regs::SQ_INDICES_OFFSET);
            if sq.head == sq.tail {
                return posted;
            }
            if posted > 0 && deadline.is_some_and(|d| Instant::now() >= d) {
                return posted;
            }
            if sq.tail.wrapping_sub(sq.head) as usize > regs::RING_ENTRIES {
                // The driver moved `tail` more than a ring ahead: nothing there is a command.
                // Drop the bogus entries (as hardware would resynchronise) rather than loop.
                let _ = self.bar.write(bar_off(regs::SQ_INDICES_OFFSET), sq.tail);
                return posted;
            }
            if !self.completion_room() {
                return posted;
            }
            fence(Ordering::Acquire);
            let cmd = self.command_at(sq.head);
            let (status, model_s) = self.execute(&cmd);
            let _ = self
                .bar
                .write(bar_off(regs::SQ_INDICES_OFFSET), sq.head.wrapping_add(1));
            self.post(cmd.tag, status, model_s);
            posted += 1;
        }
    }

    /// The submission entry at free-running index `index`.
    fn command_at(&self, index: u32) -> regs::Command {
        let at =
            regs::SQ_OFFSET + (index as usize % regs::RING_ENTRIES) * size_of::<regs::Command>();
        self.bar.read(bar_off(at)).unwrap_or_default()
    }

    /// Whether queued commands are waiting that [`Self::process_ring_until`] would run now.
    pub fn has_runnable_commands(&self) -> bool {
        let sq = self.indices(regs::SQ_INDICES_OFFSET);
        !self.faults.hang && sq.head != sq.tail && self.completion_room()
    }

    fn completion_room(&self) -> bool {
        let cq = self.indices(regs::CQ_INDICES_OFFSET);
        (cq.tail.wrapping_sub(cq.head) as usize) < regs::RING_ENTRIES
    }

    /// Posts one completion (the caller checked there is room).
    fn post(&mut self, tag: u32, status: u32, model_s: f64) {
        let cq = self.indices(regs::CQ_INDICES_OFFSET);
        let mut c = regs::Completion {
            tag,
            status,
            duration_ns: (model_s * 1e9) as u64,
        };
        if self.faults.corrupt_next_completion {
            self.faults.corrupt_next_completion = false;
            c.tag ^= 0x5a5a_5a5a;
            c.status = 0xbad0_0bad;
        }
        let slot = cq.tail as usize % regs::RING_ENTRIES;
        let _ = self.bar.write(
            bar_off(regs::CQ_OFFSET + slot * size_of::<regs::Completion>()),
            c,
        );
        fence(Ordering::Release);
        let tail_at = regs::CQ_INDICES_OFFSET + std::mem::offset_of!(regs::RingIndices, tail);
        let _ = self.bar.write(bar_off(tail_at), cq.tail.wrapping_add(1));
        self.commands += 1;
    }

    /// Runs one command: its status and the modelled device time it took.
    fn execute(&mut self, cmd: &regs::Command) -> (u32, f64) {
        if cmd.reserved.iter().any(|&r| r != 0) {
            return (regs::ST_BAD_COMMAND, 0.0);
        }
        let allowed_flags = if cmd.opcode == regs::OP_MATMUL {
            regs::CMD_ACCUMULATE | regs::CMD_CALIBRATE_IF_DRIFTED
        } else {
            0
        };
        if cmd.flags & !allowed_flags != 0 {
            return (regs::ST_BAD_COMMAND, 0.0);
        }
        match cmd.opcode {
            regs::OP_NOP => (regs::ST_OK, 0.0),
            regs::OP_PROGRAM_WEIGHTS => (self.program(cmd), 1e-6 * self.n as f64),
            regs::OP_MATMUL => self.matmul(cmd),
            regs::OP_CALIBRATE => {
                if self.laser_mw() == 0 {
                    return (regs::ST_THERMAL, 0.0);
                }
                (regs::ST_OK, self.calibrate())
            }
            regs::OP_SET_LASER_POWER if cmd.arg <= MAX_LASER_MW => {
                self.laser_set_mw = cmd.arg;
                (regs::ST_OK, 0.0)
            }
            regs::OP_SET_TEC if cmd.arg <= 1000 => {
                self.tec_cmd_permille = cmd.arg;
                (regs::ST_OK, 0.0)
            }
            regs::OP_RESET => {
                self.reset_state();
                (regs::ST_OK, 0.0)
            }
            _ => (regs::ST_BAD_COMMAND, 0.0),
        }
    }

    fn program(&mut self, cmd: &regs::Command) -> u32 {
        let Ok(w) = self.ram.read_f32s(cmd.src, self.n * self.n) else {
            return regs::ST_BAD_ADDRESS;
        };
        let w: Vec<f64> = w.into_iter().map(f64::from).collect();
        match self.chip.program(&w) {
            Ok(()) => {
                self.programmed = true;
                regs::ST_OK
            }
            Err(why) => {
                // Logged (the emulator's log, build/vm/photonic-emu*.log): the guest sees a status.
                eprintln!(
                    "photonic-emu: PROGRAM_WEIGHTS tag {} refused: {why}",
                    cmd.tag
                );
                regs::ST_BAD_VALUE
            }
        }
    }

    fn matmul(&mut self, cmd: &regs::Command) -> (u32, f64) {
        let auto_calibrate = cmd.flags & regs::CMD_CALIBRATE_IF_DRIFTED != 0;
        if cmd.batch == 0 || cmd.batch > regs::MAX_BATCH || (cmd.arg != 0 && !auto_calibrate) {
            return (regs::ST_BAD_COMMAND, 0.0);
        }
        if self.laser_mw() == 0 {
            return (regs::ST_THERMAL, 0.0);
        }
        if !self.programmed {
            return (regs::ST_NOT_PROGRAMMED, 0.0);
        }
        let (n, batch) = (self.n, cmd.batch as usize);
        let bytes = (n * batch * 4) as u64;
        if self.ram.check(cmd.dst, bytes).is_err() {
            return (regs::ST_BAD_ADDRESS, 0.0);
        }
        let Ok(x) = self.ram.read_f32s(cmd.src, n * batch) else {
            return (regs::ST_BAD_ADDRESS, 0.0);
        };
        if let Some(i) = x.iter().position(|v| !v.is_finite()) {
            eprintln!(
                "photonic-emu: MATMUL tag {} refused: input value {i} of {} is {} (src {:#x})",
                cmd.tag,
                x.len(),
                x[i],
                cmd.src
            );
            return (regs::ST_BAD_VALUE, 0.0);
        }
        let mut model_s = VECTOR_TIME_S * batch as f64;
        if auto_calibrate && self.drift_mc() > f64::from(cmd.arg) {
            model_s += self.calibrate();
            self.auto_calibrations += 1;
        }
        // Input vectors lie one after another: exactly the columns of an N×batch column-major matrix.
        let light = f64::from(self.laser_mw()) / f64::from(DEFAULT_LASER_MW);
        let Ok(mut out) = self
            .chip
            .matmul_f32(&x, n, self.thermal.temperature(), light)
        else {
            return (regs::ST_NOT_PROGRAMMED, 0.0);
        };
        if let Some(i) = out.iter().position(|v| !v.is_finite()) {
            // Not refused (the result is what the model computed), but worth knowing about.
            eprintln!(
                "photonic-emu: MATMUL tag {} computed a non-finite output {i} of {}: {} \
                 (temperature {:.2} °C, light {light:.3})",
                cmd.tag,
                out.len(),
                out[i],
                self.thermal.temperature()
            );
        }
        if cmd.flags & regs::CMD_ACCUMULATE != 0 {
            let Ok(prev) = self.ram.read_f32s(cmd.dst, n * batch) else {
                return (regs::ST_BAD_ADDRESS, 0.0);
            };
            out.iter_mut().zip(prev).for_each(|(o, p)| *o += p);
        }
        if self.ram.write_f32s(cmd.dst, &out).is_err() {
            return (regs::ST_BAD_ADDRESS, 0.0);
        }
        self.compute_energy_j += COMPUTE_W * VECTOR_TIME_S * batch as f64;
        (regs::ST_OK, model_s)
    }

    /// Calibrates the chip at its temperature and laser power through its detectors; returns the
    /// device time it took (s) and keeps the report ([`NpuDevice::last_calibration`]).
    fn calibrate(&mut self) -> f64 {
        let light = f64::from(self.laser_mw().max(1)) / f64::from(DEFAULT_LASER_MW);
        let report = self.chip.calibrate(self.thermal.temperature(), light);
        let time = report.device_time_s;
        self.last_calibration = Some(report);
        time
    }

    /// What the last calibration did and left.
    pub fn last_calibration(&self) -> Option<&CalibrationReport> {
        self.last_calibration.as_ref()
    }

    /// How far the chip is from its last calibration (m°C; infinite before the first).
    fn drift_mc(&self) -> f64 {
        self.chip.calibrated_at().map_or(f64::INFINITY, |c| {
            (self.thermal.temperature() - c).abs() * 1000.0
        })
    }

    /// Reset by the driver ([`regs::DOORBELL_RESET`]): aborts what is queued, clears a hang and, if
    /// the chip has cooled below the latch, the fault; forgets the weights; acknowledges
    /// `Control::reset_seq`. Returns how many completions were posted.
    pub fn reset(&mut self) -> usize {
        let mut posted = 0;
        let sq = self.indices(regs::SQ_INDICES_OFFSET);
        let pending = sq.tail.wrapping_sub(sq.head);
        if pending as usize <= regs::RING_ENTRIES {
            let mut head = sq.head;
            while head != sq.tail && self.completion_room() {
                let cmd = self.command_at(head);
                self.post(cmd.tag, regs::ST_ABORTED, 0.0);
                posted += 1;
                head = head.wrapping_add(1);
            }
        }
        let _ = self.bar.write(bar_off(regs::SQ_INDICES_OFFSET), sq.tail);
        self.reset_state();
        self.reset_ack = self.control().reset_seq;
        self.publish_telemetry();
        posted
    }

    fn reset_state(&mut self) {
        self.faults.hang = false;
        self.faults.corrupt_next_completion = false;
        self.thermal.reset();
        self.programmed = false;
        self.laser_set_mw = DEFAULT_LASER_MW;
        self.tec_cmd_permille = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAM: usize = 1 << 20;

    struct Rig {
        dev: NpuDevice,
        bar: SharedRegion,
        ram: SharedRegion,
        tail: u32,
        cq_head: u32,
    }

    /// A device over anonymous memory that both the test and the device map (the same pages).
    fn rig(n: usize) -> Rig {
        use std::os::fd::AsFd;
        let mk = |len: usize| {
            let fd = nix::sys::memfd::memfd_create(c"t", nix::sys::memfd::MemFdCreateFlag::empty())
                .unwrap();
            nix::unistd::ftruncate(fd.as_fd(), len as i64).unwrap();
            fd
        };
        let (bfd, rfd) = (mk(0x8000), mk(RAM));
        let chip = ChipConfig {
            n,
            detector_noise: 0.0,
            ..ChipConfig::default()
        };
        let dev = NpuDevice::new(
            SharedRegion::map(&bfd, 0x8000).unwrap(),
            SharedRegion::map(&rfd, RAM).unwrap(),
            chip,
            ThermalConfig::default(),
        );
        let rig = Rig {
            dev,
            bar: SharedRegion::map(&bfd, 0x8000).unwrap(),
            ram: SharedRegion::map(&rfd, RAM).unwrap(),
            tail: 0,
            cq_head: 0,
        };
        rig.bar
            .write(
                regs::CONTROL_OFFSET as u64,
                regs::Control {
                    enable: 1,
                    laser_limit_mw: 5000,
                    ..Default::default()
                },
            )
            .unwrap();
        rig
    }

    impl Rig {
        fn submit(&mut self, cmd: regs::Command) {
            let at = regs::SQ_OFFSET + (self.tail as usize % regs::RING_ENTRIES) * 64;
            self.bar.write(at as u64, cmd).unwrap();
            self.tail += 1;
            self.bar
                .write(regs::SQ_INDICES_OFFSET as u64 + 4, self.tail)
                .unwrap();
        }

        fn completions(&mut self) -> Vec<regs::Completion> {
            let cq: regs::RingIndices = self.bar.read(regs::CQ_INDICES_OFFSET as u64).unwrap();
            let mut out = vec![];
            while self.cq_head != cq.tail {
                let at = regs::CQ_OFFSET + (self.cq_head as usize % regs::RING_ENTRIES) * 16;
                out.push(self.bar.read(at as u64).unwrap());
                self.cq_head += 1;
            }
            self.bar
                .write(regs::CQ_INDICES_OFFSET as u64, self.cq_head)
                .unwrap();
            out
        }

        fn run(&mut self, cmd: regs::Command) -> u32 {
            self.submit(cmd);
            assert_eq!(self.dev.process_ring(), 1);
            let c = self.completions();
            assert_eq!(c.len(), 1);
            assert_eq!(c[0].tag, cmd.tag);
            c[0].status
        }

        fn telemetry(&self) -> regs::Telemetry {
            self.bar.read(regs::TELEMETRY_OFFSET as u64).unwrap()
        }
    }

    fn cmd(opcode: u16, tag: u32) -> regs::Command {
        regs::Command {
            opcode,
            tag,
            ..Default::default()
        }
    }

    #[test]
    fn header_and_telemetry_are_published() {
        let r = rig(4);
        let h: regs::Header = r.bar.read(0).unwrap();
        assert_eq!(
            (h.magic, h.version, h.mesh_size),
            (regs::MAGIC, regs::VERSION, 4)
        );
        let t = r.telemetry();
        assert_eq!(t.seq % 2, 0);
        assert_eq!(t.temp_mc, 25_000);
    }

    #[test]
    fn matmul_by_dma_matches_the_product_and_accumulates() {
        let mut r = rig(4);
        let w: Vec<f32> = (0..16).map(|i| (i as f32 - 7.0) / 8.0).collect();
        r.ram.write_f32s(0x1000, &w).unwrap();
        assert_eq!(
            r.run(regs::Command {
                src: 0x1000,
                ..cmd(regs::OP_PROGRAM_WEIGHTS, 1)
            }),
            regs::ST_OK
        );
        let x: Vec<f32> = (0..8).map(|i| i as f32 / 4.0).collect(); // two vectors
        r.ram.write_f32s(0x2000, &x).unwrap();
        let mm = regs::Command {
            src: 0x2000,
            dst: 0x3000,
            batch: 2,
            ..cmd(regs::OP_MATMUL, 2)
        };
        assert_eq!(r.run(mm), regs::ST_OK);
        let y = r.ram.read_f32s(0x3000, 8).unwrap();
        for b in 0..2 {
            for i in 0..4 {
                let exact: f32 = (0..4).map(|k| w[i * 4 + k] * x[b * 4 + k]).sum();
                assert!(
                    (y[b * 4 + i] - exact).abs() < 0.05,
                    "{} vs {exact}",
                    y[b * 4 + i]
                );
            }
        }
        assert_eq!(
            r.run(regs::Command {
                flags: regs::CMD_ACCUMULATE,
                ..mm
            }),
            regs::ST_OK
        );
        let y2 = r.ram.read_f32s(0x3000, 8).unwrap();
        for (a, b) in y2.iter().zip(&y) {
            assert!((a - 2.0 * b).abs() < 0.05);
        }
    }

    #[test]
    fn a_full_size_mesh_multiplies_within_its_modelled_error() {
        let n = 64;
        let mut r = rig(n);
        let w: Vec<f32> = (0..n * n)
            .map(|i| (((i * 7) % 17) as f32 - 8.0) / 8.0)
            .collect();
        r.ram.write_f32s(0x10000, &w).unwrap();
        assert_eq!(
            r.run(regs::Command {
                src: 0x10000,
                ..cmd(regs::OP_PROGRAM_WEIGHTS, 1)
            }),
            regs::ST_OK
        );
        let x: Vec<f32> = (0..n * 3)
            .map(|i| (((i * 13) % 17) as f32 - 8.0) / 8.0)
            .collect();
        r.ram.write_f32s(0x20000, &x).unwrap();
        let mm = regs::Command {
            src: 0x20000,
            dst: 0x30000,
            batch: 3,
            ..cmd(regs::OP_MATMUL, 2)
        };
        assert_eq!(r.run(mm), regs::ST_OK);
        let y = r.ram.read_f32s(0x30000, n * 3).unwrap();
        let (mut e2, mut r2) = (0f64, 0f64);
        for b in 0..3 {
            for i in 0..n {
                let exact: f64 = (0..n)
                    .map(|k| f64::from(w[i * n + k]) * f64::from(x[b * n + k]))
                    .sum();
                e2 += (f64::from(y[b * n + i]) - exact).powi(2);
                r2 += exact * exact;
            }
        }
        let rel = (e2 / r2).sqrt();
        // The model's error for this matrix (rank 17: its rows repeat every 17 entries) is what a
        // calibration's probe vectors measure; a wrong transfer (transposed, misaddressed) would
        // be off by about 100 %.
        assert_eq!(r.run(cmd(regs::OP_CALIBRATE, 3)), regs::ST_OK);
        let residual = r.dev.last_calibration().and_then(|c| c.residual).unwrap();
        assert!(
            rel < 2.0 * residual,
            "relative error {rel}, the calibration measured {residual}"
        );
    }

    /// `‖y − W·x‖ / ‖W·x‖` for `batch` vectors of `n` (W row-major, vectors one after another).
    fn relative_error(w: &[f32], x: &[f32], y: &[f32], n: usize) -> f64 {
        let (mut e2, mut r2) = (0f64, 0f64);
        for (xb, yb) in x.chunks(n).zip(y.chunks(n)) {
            for i in 0..n {
                let exact: f64 = (0..n)
                    .map(|k| f64::from(w[i * n + k]) * f64::from(xb[k]))
                    .sum();
                e2 += (f64::from(yb[i]) - exact).powi(2);
                r2 += exact * exact;
            }
        }
        (e2 / r2).sqrt()
    }

    #[test]
    fn calibrate_if_drifted_recalibrates_when_the_command_runs_and_only_past_its_threshold() {
        let n = 16;
        let mut r = rig(n);
        let h: regs::Header = r.bar.read(0).unwrap();
        assert_ne!(h.capabilities & regs::CAP_AUTO_CALIBRATE, 0);
        let w: Vec<f32> = (0..n * n)
            .map(|i| (((i * 7) % 17) as f32 - 8.0) / 8.0)
            .collect();
        r.ram.write_f32s(0x10000, &w).unwrap();
        let program = regs::Command {
            src: 0x10000,
            ..cmd(regs::OP_PROGRAM_WEIGHTS, 1)
        };
        assert_eq!(r.run(program), regs::ST_OK);
        let x: Vec<f32> = (0..n * 3)
            .map(|i| (((i * 13) % 17) as f32 - 8.0) / 8.0)
            .collect();
        r.ram.write_f32s(0x20000, &x).unwrap();
        let plain = regs::Command {
            src: 0x20000,
            dst: 0x30000,
            batch: 3,
            ..cmd(regs::OP_MATMUL, 2)
        };
        let auto = regs::Command {
            flags: regs::CMD_CALIBRATE_IF_DRIFTED,
            arg: 10,
            ..plain
        };
        let error = |r: &Rig| relative_error(&w, &x, &r.ram.read_f32s(0x30000, n * 3).unwrap(), n);
        // The laser warms the chip by ≈ 12 K in ten model seconds, away from its power-on
        // calibration (a uniform warming: only the thermo-optic spread makes it an error).
        r.dev.tick(10.0);
        assert!(r.telemetry().temp_mc > 35_000);
        assert_eq!(r.run(plain), regs::ST_OK);
        let drifted = error(&r);
        assert_eq!(r.run(auto), regs::ST_OK);
        let corrected = error(&r);
        r.dev.tick(0.0);
        let t = r.telemetry();
        assert_eq!(t.auto_calibrations, 1);
        assert_eq!(
            t.calibrated_mc, t.temp_mc,
            "calibrated at the command's temperature"
        );
        eprintln!("drifted {drifted}, recalibrated {corrected}");
        assert!(
            corrected < drifted / 4.0,
            "drifted {drifted}, recalibrated {corrected}"
        );
        // Within the threshold: no calibration.
        assert_eq!(r.run(auto), regs::ST_OK);
        // Past 10 m°C but within a looser threshold: none either.
        r.dev.tick(0.1);
        assert!(r.telemetry().temp_mc > t.temp_mc + 10);
        assert_eq!(
            r.run(regs::Command {
                arg: 1_000_000,
                ..auto
            }),
            regs::ST_OK
        );
        r.dev.tick(0.0);
        assert_eq!(r.telemetry().auto_calibrations, 1);
        // A threshold without the flag is a malformed command.
        assert_eq!(
            r.run(regs::Command { arg: 10, ..plain }),
            regs::ST_BAD_COMMAND
        );
    }

    /// A slice with a deadline runs one command at least and stops once the deadline has passed,
    /// leaving the rest queued (and said to be) for the next slice; none is lost or repeated.
    #[test]
    fn a_ring_slice_ends_at_its_deadline_and_the_next_one_goes_on() {
        let mut r = rig(4);
        for tag in 1..=5 {
            r.submit(cmd(regs::OP_NOP, tag));
        }
        assert!(r.dev.has_runnable_commands());
        let past = Instant::now();
        assert_eq!(r.dev.process_ring_until(Some(past)), 1);
        assert!(r.dev.has_runnable_commands());
        assert_eq!(r.dev.process_ring_until(Some(past)), 1);
        let far = Instant::now() + std::time::Duration::from_secs(60);
        assert_eq!(r.dev.process_ring_until(Some(far)), 3);
        assert!(!r.dev.has_runnable_commands());
        let tags: Vec<u32> = r.completions().iter().map(|c| c.tag).collect();
        assert_eq!(tags, [1, 2, 3, 4, 5]);
        assert_eq!(r.dev.process_ring_until(Some(far)), 0);
    }

    #[test]
    fn bad_commands_complete_with_errors() {
        let mut r = rig(4);
        assert_eq!(
            r.run(regs::Command {
                src: 0x2000,
                dst: 0,
                batch: 1,
                ..cmd(regs::OP_MATMUL, 1)
            }),
            regs::ST_NOT_PROGRAMMED
        );
        assert_eq!(r.run(cmd(99, 2)), regs::ST_BAD_COMMAND);
        assert_eq!(
            r.run(regs::Command {
                reserved: [0, 1, 0, 0],
                ..cmd(regs::OP_NOP, 3)
            }),
            regs::ST_BAD_COMMAND
        );
        assert_eq!(
            r.run(regs::Command {
                flags: 1,
                ..cmd(regs::OP_NOP, 4)
            }),
            regs::ST_BAD_COMMAND
        );
        assert_eq!(
            r.run(regs::Command {
                src: RAM as u64 - 8,
                ..cmd(regs::OP_PROGRAM_WEIGHTS, 5)
            }),
            regs::ST_BAD_ADDRESS
        );
        assert_eq!(
            r.run(regs::Command {
                src: u64::MAX - 3,
                ..cmd(regs::OP_PROGRAM_WEIGHTS, 6)
            }),
            regs::ST_BAD_ADDRESS
        );
        r.ram.write_f32s(0, &[f32::NAN; 16]).unwrap();
        assert_eq!(
            r.run(regs::Command {
                src: 0,
                ..cmd(regs::OP_PROGRAM_WEIGHTS, 7)
            }),
            regs::ST_BAD_VALUE
        );
        r.ram.write_f32s(0, &[0.5; 16]).unwrap();
        assert_eq!(
            r.run(regs::Command {
                src: 0,
                ..cmd(regs::OP_PROGRAM_WEIGHTS, 8)
            }),
            regs::ST_OK
        );
        let mm = regs::Command {
            src: 0,
            dst: RAM as u64 - 4,
            batch: 1,
            ..cmd(regs::OP_MATMUL, 9)
        };
        assert_eq!(r.run(mm), regs::ST_BAD_ADDRESS);
        assert_eq!(
            r.run(regs::Command {
                batch: 0,
                dst: 0x100,
                ..mm
            }),
            regs::ST_BAD_COMMAND
        );
        assert_eq!(
            r.run(regs::Command {
                batch: regs::MAX_BATCH + 1,
                dst: 0x100,
                ..mm
            }),
            regs::ST_BAD_COMMAND
        );
        assert_eq!(
            r.run(regs::Command {
                arg: MAX_LASER_MW + 1,
                ..cmd(regs::OP_SET_LASER_POWER, 10)
            }),
            regs::ST_BAD_COMMAND
        );
        // Indices more than a ring apart are dropped, not looped over.
        r.bar
            .write(regs::SQ_INDICES_OFFSET as u64 + 4, r.tail + 1000)
            .unwrap();
        assert_eq!(r.dev.process_ring(), 0);
    }

    #[test]
    fn a_control_doorbell_shows_the_laser_off_without_waiting_for_a_tick() {
        let mut r = rig(4);
        r.dev.tick(0.001);
        let before = r.telemetry();
        assert_ne!(before.status & regs::STATUS_LASER_ON, 0);
        r.dev.apply_controls();
        assert_eq!(
            r.telemetry().seq,
            before.seq,
            "nothing changed, nothing republished"
        );
        let mut c: regs::Control = r.bar.read(regs::CONTROL_OFFSET as u64).unwrap();
        c.laser_limit_mw = 0;
        r.bar.write(regs::CONTROL_OFFSET as u64, c).unwrap();
        r.dev.apply_controls();
        let after = r.telemetry();
        assert_ne!(after.seq, before.seq, "republished at once");
        assert_eq!(
            (after.status & regs::STATUS_LASER_ON, after.laser_mw),
            (0, 0)
        );
    }

    #[test]
    fn laser_limit_zero_refuses_matmul_and_hang_holds_until_reset() {
        let mut r = rig(4);
        r.ram.write_f32s(0, &[0.5; 16]).unwrap();
        r.run(regs::Command {
            src: 0,
            ..cmd(regs::OP_PROGRAM_WEIGHTS, 1)
        });
        let mut c: regs::Control = r.bar.read(regs::CONTROL_OFFSET as u64).unwrap();
        c.laser_limit_mw = 0;
        r.bar.write(regs::CONTROL_OFFSET as u64, c).unwrap();
        let mm = regs::Command {
            src: 0,
            dst: 0x100,
            batch: 1,
            ..cmd(regs::OP_MATMUL, 2)
        };
        assert_eq!(r.run(mm), regs::ST_THERMAL);
        r.dev.tick(0.001);
        assert_eq!(r.telemetry().status & regs::STATUS_LASER_ON, 0);

        r.dev.faults.hang = true;
        r.submit(cmd(regs::OP_NOP, 3));
        assert_eq!(r.dev.process_ring(), 0);
        c.reset_seq = 7;
        r.bar.write(regs::CONTROL_OFFSET as u64, c).unwrap();
        assert_eq!(r.dev.reset(), 1);
        let done = r.completions();
        assert_eq!((done[0].tag, done[0].status), (3, regs::ST_ABORTED));
        assert_eq!(r.telemetry().reset_ack, 7);
        assert_eq!(r.run(cmd(regs::OP_NOP, 4)), regs::ST_OK);
    }

    #[test]
    fn a_corrupted_completion_is_visible() {
        let mut r = rig(4);
        r.dev.faults.corrupt_next_completion = true;
        r.submit(cmd(regs::OP_NOP, 1));
        r.dev.process_ring();
        let c = r.completions();
        assert_ne!(c[0].tag, 1);
        assert_eq!(r.run(cmd(regs::OP_NOP, 2)), regs::ST_OK);
    }

    #[test]
    fn an_unguarded_chip_latches_its_fault_and_raises_one_alarm() {
        let mut r = rig(4);
        r.run(regs::Command {
            arg: MAX_LASER_MW,
            ..cmd(regs::OP_SET_LASER_POWER, 1)
        });
        r.dev.faults.thermal.cooling_failure = true;
        let alarms = (0..400).filter(|_| r.dev.tick(0.1)).count();
        assert_eq!(alarms, 1);
        let t = r.telemetry();
        assert_eq!(t.laser_mw, 0, "the latched fault turned the laser off");
        assert_ne!(t.status & regs::STATUS_FAULT, 0);
        assert_eq!(
            r.run(regs::Command {
                batch: 1,
                ..cmd(regs::OP_MATMUL, 2)
            }),
            regs::ST_THERMAL
        );
    }
}
