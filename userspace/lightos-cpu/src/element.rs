//! The element types the backend computes on, and their conversion to and from f32.

use crate::fp8::Fp8E4M3;
use half::{bf16, f16};

/// A matrix or tensor element the f32 pipeline can read.
pub trait Element: Copy + Send + Sync + 'static {
    /// Its value as f32 (exact for every type here).
    fn to_f32(self) -> f32;
}

impl Element for f32 {
    fn to_f32(self) -> f32 {
        self
    }
}

impl Element for f16 {
    fn to_f32(self) -> f32 {
        f16::to_f32(self)
    }
}

impl Element for bf16 {
    fn to_f32(self) -> f32 {
        bf16::to_f32(self)
    }
}

impl Element for Fp8E4M3 {
    fn to_f32(self) -> f32 {
        Fp8E4M3::to_f32(self)
    }
}

impl Element for i8 {
    fn to_f32(self) -> f32 {
        f32::from(self)
    }
}
