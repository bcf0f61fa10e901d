//! Which micro-kernels this CPU runs: the instruction sets it has, detected once per process, capped
//! by `LIGHTOS_CPU_ISA` (to test a lower ISA's kernels on a CPU that has a higher one).

use crate::{CpuError, Result};
use std::fmt;
use std::sync::OnceLock;

/// The environment variable that caps the instruction-set level.
pub const ISA_ENV: &str = "LIGHTOS_CPU_ISA";

/// Instruction-set levels, lowest first; a level allows every kernel of the levels below it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IsaLevel {
    /// Plain Rust, whatever the compiler vectorises.
    Portable,
    /// AVX2 + FMA: the 6×16 f32 kernel and the `vpmaddwd` INT8 kernel.
    Avx2,
    /// AVX2 + AVX-VNNI: the 256-bit `vpdpbusd` INT8 kernel.
    AvxVnni,
    /// AVX-512F (+ VNNI, + BF16 where present): the 12×32 f32, `vpdpbusd` and `vdpbf16ps` kernels.
    Avx512,
}

impl IsaLevel {
    /// Every level, lowest first.
    pub const ALL: [IsaLevel; 4] = [
        IsaLevel::Portable,
        IsaLevel::Avx2,
        IsaLevel::AvxVnni,
        IsaLevel::Avx512,
    ];

    /// The name `LIGHTOS_CPU_ISA` takes.
    pub fn name(self) -> &'static str {
        match self {
            IsaLevel::Portable => "portable",
            IsaLevel::Avx2 => "avx2",
            IsaLevel::AvxVnni => "avxvnni",
            IsaLevel::Avx512 => "avx512",
        }
    }

    /// Parses a `LIGHTOS_CPU_ISA` value.
    pub fn parse(s: &str) -> Option<IsaLevel> {
        IsaLevel::ALL.into_iter().find(|l| l.name() == s.trim())
    }

    /// Whether this CPU has what the level's kernels need (its defining feature), or the reason
    /// it does not.
    pub fn available(self) -> std::result::Result<(), &'static str> {
        let f = Features::get();
        let ok = match self {
            IsaLevel::Portable => true,
            IsaLevel::Avx2 => f.avx2_fma,
            IsaLevel::AvxVnni => f.avx2_fma && f.avx_vnni,
            IsaLevel::Avx512 => f.avx2_fma && f.avx512f,
        };
        ok.then_some(()).ok_or(match self {
            IsaLevel::Avx2 => "this CPU lacks AVX2 or FMA",
            IsaLevel::AvxVnni => "this CPU lacks AVX-VNNI",
            _ => "this CPU lacks AVX-512F",
        })
    }

    /// The levels this CPU can run, lowest first.
    pub fn supported() -> Vec<IsaLevel> {
        IsaLevel::ALL
            .into_iter()
            .filter(|l| l.available().is_ok())
            .collect()
    }
}

impl fmt::Display for IsaLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The CPU features the kernels use.
#[derive(Clone, Copy, Debug, Default)]
struct Features {
    avx2_fma: bool,
    avx_vnni: bool,
    avx512f: bool,
    avx512_vnni: bool,
    avx512_bf16: bool,
    /// CPUID's vendor is "GenuineIntel".
    intel: bool,
}

impl Features {
    fn get() -> Features {
        static F: OnceLock<Features> = OnceLock::new();
        *F.get_or_init(|| {
            #[cfg(target_arch = "x86_64")]
            {
                use std::arch::is_x86_feature_detected as has;
                Features {
                    avx2_fma: has!("avx2") && has!("fma"),
                    avx_vnni: has!("avxvnni"),
                    avx512f: has!("avx512f"),
                    avx512_vnni: has!("avx512f") && has!("avx512vnni"),
                    avx512_bf16: has!("avx512f") && has!("avx512bf16"),
                    intel: {
                        let v = std::arch::x86_64::__cpuid(0);
                        [v.ebx, v.edx, v.ecx] == [0x756e_6547, 0x4965_6e69, 0x6c65_746e]
                    },
                }
            }
            #[cfg(not(target_arch = "x86_64"))]
            Features::default()
        })
    }
}

/// The f32 micro-kernel (f16, bf16 and FP8 inputs widen to f32 and use it too).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelKind {
    /// 512-bit vectors, FMA, a 12×32 tile in 24 of the 32 zmm registers.
    Avx512F,
    /// 256-bit vectors with fused multiply-add (x86-64 AVX2 + FMA), a 6×16 tile.
    Avx2Fma,
    /// Plain Rust, whatever the compiler vectorises (no fused multiply-add), a 6×16 tile.
    Portable,
}

impl KernelKind {
    /// Its register tile, rows × columns of C.
    pub fn tile(self) -> (usize, usize) {
        match self {
            KernelKind::Avx512F => (12, 32),
            _ => (6, 16),
        }
    }
}

/// The INT8 micro-kernel (`i8 × i8 → i32`, exact on every one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Int8Kernel {
    /// AVX-512 VNNI `vpdpbusd`: four u8×i8 products per lane, A offset by 128 and compensated.
    Avx512Vnni,
    /// AVX-VNNI, the same on 256-bit vectors.
    AvxVnni,
    /// AVX2 `vpmaddwd` on i16 pairs.
    Avx2,
    /// Plain Rust.
    Portable,
}

/// How bf16 × bf16 products are computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bf16Kernel {
    /// AVX-512 BF16 `vdpbf16ps`: bf16 pairs multiplied natively, f32 accumulation.
    Avx512Bf16,
    /// Widened to f32 while packing, then the f32 kernel.
    WidenToF32,
}

/// The kernels an engine runs, one per element family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kernels {
    /// The level they were chosen under.
    pub level: IsaLevel,
    /// f32 (and widened f16/bf16/FP8).
    pub f32: KernelKind,
    /// INT8.
    pub int8: Int8Kernel,
    /// bf16 × bf16.
    pub bf16: Bf16Kernel,
}

impl Kernels {
    /// The best kernels at or below `cap` that this CPU runs.
    pub fn at_most(cap: IsaLevel) -> Kernels {
        let f = Features::get();
        let level = IsaLevel::ALL
            .into_iter()
            .rev()
            .find(|&l| l <= cap && l.available().is_ok())
            .unwrap_or(IsaLevel::Portable);
        let f32 = match level {
            IsaLevel::Avx512 => KernelKind::Avx512F,
            IsaLevel::Avx2 | IsaLevel::AvxVnni => KernelKind::Avx2Fma,
            IsaLevel::Portable => KernelKind::Portable,
        };
        let int8 = match level {
            IsaLevel::Avx512 if f.avx512_vnni => Int8Kernel::Avx512Vnni,
            IsaLevel::Avx512 | IsaLevel::AvxVnni if f.avx_vnni => Int8Kernel::AvxVnni,
            IsaLevel::Portable => Int8Kernel::Portable,
            _ => Int8Kernel::Avx2,
        };
        // Intel's cores run `vdpbf16ps` at half the rate of f32 FMAs: on a Sapphire Rapids host the
        // native kernel ran at 0.55-0.6× of widening to f32 (docs/PERFORMANCE.md), so there bf16
        // widens; other CPUs with AVX-512 BF16 (AMD Zen 4 and later) multiply natively.
        let bf16 = if level == IsaLevel::Avx512 && f.avx512_bf16 && !f.intel {
            Bf16Kernel::Avx512Bf16
        } else {
            Bf16Kernel::WidenToF32
        };
        Kernels {
            level,
            f32,
            int8,
            bf16,
        }
    }

    /// Exactly the kernels of `level`, or why this CPU cannot run them.
    pub fn exactly(level: IsaLevel) -> Result<Kernels> {
        level.available().map_err(CpuError::Unsupported)?;
        Ok(Kernels::at_most(level))
    }

    /// The best kernels of this CPU, capped by `LIGHTOS_CPU_ISA` when it is set; an error naming the
    /// accepted values when it is set to something else. Read once per process.
    pub fn detect() -> Result<Kernels> {
        static K: OnceLock<std::result::Result<Kernels, String>> = OnceLock::new();
        K.get_or_init(|| match std::env::var(ISA_ENV) {
            Ok(v) if !v.trim().is_empty() => {
                IsaLevel::parse(&v).map(Kernels::at_most).ok_or_else(|| {
                    let names: Vec<_> = IsaLevel::ALL.iter().map(|l| l.name()).collect();
                    format!("{ISA_ENV}={v:?}: expected one of {}", names.join(", "))
                })
            }
            _ => Ok(Kernels::at_most(IsaLevel::Avx512)),
        })
        .clone()
        .map_err(CpuError::Config)
    }

    /// These kernels with bf16 on `vdpbf16ps` (whatever the default for this CPU), or `None` where
    /// the CPU or the level lacks AVX-512 BF16: how tests and benchmarks reach the native kernel
    /// on CPUs that widen by default.
    pub fn with_native_bf16(self) -> Option<Kernels> {
        (self.level == IsaLevel::Avx512 && Features::get().avx512_bf16).then_some(Kernels {
            bf16: Bf16Kernel::Avx512Bf16,
            ..self
        })
    }

    /// Whether this CPU runs every kernel of the set (each at or below the set's level).
    pub fn runnable(&self) -> bool {
        let base = Kernels::at_most(self.level);
        self.level.available().is_ok()
            && self.f32 == base.f32
            && self.int8 == base.int8
            && (self.bf16 == base.bf16 || Some(*self) == base.with_native_bf16())
    }

    /// Whether the set's level is below the best this CPU runs (`LIGHTOS_CPU_ISA` capped it, or
    /// the set was made for a lower level).
    pub fn below_best(&self) -> bool {
        self.level < Kernels::at_most(IsaLevel::Avx512).level
    }
}

impl fmt::Display for Kernels {
    /// `avx512 (f32 avx512f 12x32, int8 avx512-vnni, bf16 avx512-bf16)`, and `, below this CPU's
    /// best level` where that is so.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (mr, nr) = self.f32.tile();
        let f32 = match self.f32 {
            KernelKind::Avx512F => "avx512f",
            KernelKind::Avx2Fma => "avx2+fma",
            KernelKind::Portable => "portable",
        };
        let int8 = match self.int8 {
            Int8Kernel::Avx512Vnni => "avx512-vnni",
            Int8Kernel::AvxVnni => "avx-vnni",
            Int8Kernel::Avx2 => "avx2-madd",
            Int8Kernel::Portable => "portable",
        };
        let bf16 = match self.bf16 {
            Bf16Kernel::Avx512Bf16 => "avx512-bf16",
            Bf16Kernel::WidenToF32 => "via f32",
        };
        write!(
            f,
            "{} (f32 {f32} {mr}x{nr}, int8 {int8}, bf16 {bf16}{})",
            self.level,
            if self.below_best() {
                ", below this CPU's best level"
            } else {
                ""
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse_and_cap() {
        for l in IsaLevel::ALL {
            assert_eq!(IsaLevel::parse(l.name()), Some(l));
        }
        assert_eq!(IsaLevel::parse("sse9"), None);
        let p = Kernels::at_most(IsaLevel::Portable);
        assert_eq!(
            (p.f32, p.int8, p.bf16),
            (
                KernelKind::Portable,
                Int8Kernel::Portable,
                Bf16Kernel::WidenToF32
            )
        );
        // A cap never gives a kernel of a higher level.
        for cap in IsaLevel::ALL {
            let k = Kernels::at_most(cap);
            assert!(k.level <= cap);
            if cap < IsaLevel::Avx512 {
                assert_ne!(k.f32, KernelKind::Avx512F);
                assert_ne!(k.int8, Int8Kernel::Avx512Vnni);
                assert_eq!(k.bf16, Bf16Kernel::WidenToF32);
            }
            if cap < IsaLevel::AvxVnni {
                assert_ne!(k.int8, Int8Kernel::AvxVnni);
            }
        }
        for l in IsaLevel::ALL {
            match l.available() {
                Ok(()) => assert_eq!(Kernels::exactly(l).unwrap().level, l),
                Err(why) => {
                    eprintln!("skipped: ISA level {l}: {why}");
                    assert!(Kernels::exactly(l).is_err());
                }
            }
        }
    }
}
