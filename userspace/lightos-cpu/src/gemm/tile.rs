//! The micro-kernel's tile: every packed sliver and every block size is a multiple of it.

/// Rows of the micro-kernel's tile.
pub const MR: usize = 6;
/// Columns of the micro-kernel's tile.
pub const NR: usize = 16;
