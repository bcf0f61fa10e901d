// SPDX-License-Identifier: GPL-2.0 OR MIT

//! The register and ring layout of the photonic NPU's BAR2, declared once.
//!
//! Dependency-free like the uapi: the kernel driver includes this file with `#[path]`, and the
//! device model (`qemu/photonic-emu`) includes it the same way, so both sides read one layout. BAR2
//! is the ivshmem shared memory: everything below is little-endian, naturally aligned, at fixed
//! offsets. The device refuses (status `BAD_COMMAND`) any command it cannot parse; the driver refuses
//! to bind unless `magic` and `version` match.

/// `magic`: "LPNU" (LightOS Photonic NPU) read as a little-endian u32.
pub const MAGIC: u32 = u32::from_le_bytes(*b"LPNU");
/// Layout version; the driver binds only to this one.
pub const VERSION: u32 = 1;

/// Capability: MATMUL on programmed weights.
pub const CAP_MATMUL: u64 = 1 << 0;
/// Capability: CALIBRATE measures and corrects phase drift.
pub const CAP_CALIBRATE: u64 = 1 << 1;
/// Capability: thermal telemetry and TEC control.
pub const CAP_THERMAL: u64 = 1 << 2;
/// Capability: MATMUL takes [`CMD_CALIBRATE_IF_DRIFTED`].
pub const CAP_AUTO_CALIBRATE: u64 = 1 << 3;

/// Offset of [`Header`] in BAR2.
pub const HEADER_OFFSET: usize = 0x0000;
/// Offset of [`Control`] (written by the driver).
pub const CONTROL_OFFSET: usize = 0x0100;
/// Offset of [`Telemetry`] (written by the device).
pub const TELEMETRY_OFFSET: usize = 0x0200;
/// Offset of the submission ring's [`RingIndices`].
pub const SQ_INDICES_OFFSET: usize = 0x0400;
/// Offset of the completion ring's [`RingIndices`].
pub const CQ_INDICES_OFFSET: usize = 0x0440;
/// Offset of the submission ring: [`RING_ENTRIES`] × [`Command`].
pub const SQ_OFFSET: usize = 0x1000;
/// Offset of the completion ring: [`RING_ENTRIES`] × [`Completion`].
pub const CQ_OFFSET: usize = 0x5000;
/// Entries of each ring (a power of two).
pub const RING_ENTRIES: usize = 256;
/// The smallest BAR2 that holds the layout.
pub const BAR2_MIN_SIZE: usize = 0x6000;

/// MSI-X vector: completions were posted.
pub const VECTOR_COMPLETION: u16 = 0;
/// MSI-X vector: a thermal alarm (threshold crossed or fault latched).
pub const VECTOR_THERMAL: u16 = 1;
/// Vectors the device uses.
pub const VECTORS: u16 = 2;

/// Opcode: do nothing (completes OK).
pub const OP_NOP: u16 = 0;
/// Opcode: program an N×N weight matrix (f32, row-major) from `src`.
pub const OP_PROGRAM_WEIGHTS: u16 = 1;
/// Opcode: `y = W · x` for `batch` input vectors: `src` holds `batch` vectors of N f32 one after
/// another, `dst` receives `batch` output vectors the same way. With [`CMD_ACCUMULATE`] in `flags`
/// the device adds to `dst` instead of overwriting it (how the driver sums the tiles of a larger K).
pub const OP_MATMUL: u16 = 2;
/// Opcode: measure and correct phase offsets at the current temperature.
pub const OP_CALIBRATE: u16 = 3;
/// Opcode: set laser power to `arg` mW.
pub const OP_SET_LASER_POWER: u16 = 4;
/// Opcode: set TEC drive to `arg` per mille of its maximum.
pub const OP_SET_TEC: u16 = 5;
/// Opcode: reset (aborts pending commands, clears a fault latch if cool).
pub const OP_RESET: u16 = 6;

/// Command flag (MATMUL): add the product to `dst` instead of overwriting it.
pub const CMD_ACCUMULATE: u16 = 1 << 0;
/// Command flag (MATMUL, with [`CAP_AUTO_CALIBRATE`]): calibrate first when the chip is more than
/// `arg` m°C from its last calibration. The device checks when it executes the command, so drift
/// while the command waited in the ring is corrected too (a driver's check before posting cannot
/// see that). Without the flag `arg` is zero.
pub const CMD_CALIBRATE_IF_DRIFTED: u16 = 1 << 1;
/// Largest `batch` of one MATMUL.
pub const MAX_BATCH: u32 = 4096;

/// Doorbell (the guest rings the model's vector): new submissions are in the ring, or
/// [`Control`] changed; the device applies its controls and republishes telemetry at once.
pub const DOORBELL_SUBMIT: u16 = 0;
/// Doorbell: `Control::reset_seq` changed; reset the device.
pub const DOORBELL_RESET: u16 = 1;

/// Completion status: done.
pub const ST_OK: u32 = 0;
/// Completion status: unknown opcode, bad size or non-zero reserved field.
pub const ST_BAD_COMMAND: u32 = 1;
/// Completion status: a DMA address or length outside guest memory.
pub const ST_BAD_ADDRESS: u32 = 2;
/// Completion status: MATMUL before PROGRAM_WEIGHTS.
pub const ST_NOT_PROGRAMMED: u32 = 3;
/// Completion status: refused or aborted because the laser is off or the fault latch is set.
pub const ST_THERMAL: u32 = 4;
/// Completion status: aborted by a reset.
pub const ST_ABORTED: u32 = 5;
/// Completion status: the weights or inputs hold a NaN or an infinity.
pub const ST_BAD_VALUE: u32 = 6;

/// Device status bit: ready for commands.
pub const STATUS_READY: u32 = 1 << 0;
/// Device status bit: over-temperature fault latched (cleared by a reset once cool).
pub const STATUS_FAULT: u32 = 1 << 1;
/// Device status bit: laser on.
pub const STATUS_LASER_ON: u32 = 1 << 2;
/// Device status bit: weights are programmed.
pub const STATUS_PROGRAMMED: u32 = 1 << 3;

/// Read-only identification, at [`HEADER_OFFSET`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header {
    /// [`MAGIC`].
    pub magic: u32,
    /// [`VERSION`].
    pub version: u32,
    /// `CAP_*` bits.
    pub capabilities: u64,
    /// Mesh size N (matrices larger than N are tiled by the driver or runtime).
    pub mesh_size: u32,
    /// [`RING_ENTRIES`].
    pub ring_entries: u32,
    /// Phase DAC bits.
    pub dac_bits: u32,
    /// Output ADC bits.
    pub adc_bits: u32,
    /// Zero.
    pub reserved: [u64; 4],
}

/// Driver-written controls, at [`CONTROL_OFFSET`]. The device samples them every millisecond of
/// its clock (the thermal guard writes them from its timer, without a ring round trip).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Control {
    /// Non-zero: the driver is bound and the device may post interrupts.
    pub enable: u32,
    /// Upper bound on laser power in mW, whatever `SET_LASER_POWER` asked; 0 turns the laser off
    /// (the guard's throttle and emergency shutdown). Zero after power-on: the driver enables it.
    pub laser_limit_mw: u32,
    /// TEC drive in per mille (0..=1000).
    pub tec_permille: u32,
    /// Incremented by the driver before ringing [`DOORBELL_RESET`]; echoed in
    /// `Telemetry::reset_ack` once the reset is done.
    pub reset_seq: u32,
    /// Zero.
    pub reserved: [u64; 6],
}

/// Device-written telemetry, at [`TELEMETRY_OFFSET`]; `seq` is odd while an update is in progress
/// (read it, the fields, then `seq` again and retry if it changed or was odd).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Telemetry {
    /// Update sequence counter.
    pub seq: u64,
    /// Chip temperature in milli-°C.
    pub temp_mc: i32,
    /// `STATUS_*` bits.
    pub status: u32,
    /// Laser power in mW.
    pub laser_mw: u32,
    /// Heater power in mW.
    pub heater_mw: u32,
    /// Compute power in mW.
    pub compute_mw: u32,
    /// TEC drive in per mille.
    pub tec_permille: u32,
    /// Temperature of the last calibration in milli-°C.
    pub calibrated_mc: i32,
    /// The last `Control::reset_seq` the device has acted on.
    pub reset_ack: u32,
    /// Commands completed since reset.
    pub commands: u64,
    /// Model time in µs (runs `time_scale` times faster than the wall clock).
    pub model_time_us: u64,
    /// Calibrations [`CMD_CALIBRATE_IF_DRIFTED`] triggered since power-on.
    pub auto_calibrations: u64,
    /// Zero.
    pub reserved: [u64; 1],
}

/// Head and tail of one ring: the producer writes `tail`, the consumer `head`; both free-running.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RingIndices {
    /// Next entry the consumer will read.
    pub head: u32,
    /// Next entry the producer will write.
    pub tail: u32,
}

/// One submission (64 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Command {
    /// `OP_*`.
    pub opcode: u16,
    /// `CMD_*` bits (MATMUL); zero for every other opcode.
    pub flags: u16,
    /// Echoed in the completion.
    pub tag: u32,
    /// Guest physical address of the input (weights or vectors).
    pub src: u64,
    /// Guest physical address of the output.
    pub dst: u64,
    /// Input vectors (MATMUL).
    pub batch: u32,
    /// Opcode argument (mW, per mille; m°C for [`CMD_CALIBRATE_IF_DRIFTED`]).
    pub arg: u32,
    /// Zero.
    pub reserved: [u64; 4],
}

/// One completion (16 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Completion {
    /// The command's tag.
    pub tag: u32,
    /// `ST_*`.
    pub status: u32,
    /// Device time the command took, in ns.
    pub duration_ns: u64,
}

const _: () = assert!(core::mem::size_of::<Header>() == 64);
const _: () = assert!(core::mem::size_of::<Control>() == 64);
const _: () = assert!(core::mem::size_of::<Telemetry>() == 72);
const _: () = assert!(core::mem::size_of::<Command>() == 64);
const _: () = assert!(core::mem::size_of::<Completion>() == 16);
const _: () = assert!(HEADER_OFFSET + core::mem::size_of::<Header>() <= CONTROL_OFFSET);
const _: () = assert!(CONTROL_OFFSET + core::mem::size_of::<Control>() <= TELEMETRY_OFFSET);
const _: () = assert!(TELEMETRY_OFFSET + core::mem::size_of::<Telemetry>() <= SQ_INDICES_OFFSET);
const _: () = assert!(SQ_OFFSET + RING_ENTRIES * core::mem::size_of::<Command>() <= CQ_OFFSET);
const _: () =
    assert!(CQ_OFFSET + RING_ENTRIES * core::mem::size_of::<Completion>() <= BAR2_MIN_SIZE);
const _: () = assert!(RING_ENTRIES.is_power_of_two());
