//! The LightOS photonic NPU emulator: a model of an N×N photonic matrix-vector unit (two Clements
//! meshes of Mach-Zehnder interferometers and a row of attenuators, programmed by SVD) that QEMU
//! presents to the guest as a PCI device. This is an emulator: every number it produces comes from
//! the modelled optics, and the names say so.

pub mod calibration;
pub mod chip;
pub mod clements;
pub mod control;
pub mod device;
pub mod ivshmem;
pub mod mzi;
pub mod noise;
pub mod physics;
pub mod shm;
pub mod thermal;
pub mod tolerance;

/// The BAR2 layout, shared with the kernel driver (one file, included by both).
#[path = "../../../kernel/drivers/photonic/regs.rs"]
pub mod regs;

#[cfg(test)]
mod tests {
    #[test]
    fn the_magic_reads_lpnu() {
        assert_eq!(&super::regs::MAGIC.to_le_bytes(), b"LPNU");
    }
}
