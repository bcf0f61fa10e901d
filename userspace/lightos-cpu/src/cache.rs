//! Cache sizes of this machine and the GEMM blocking derived from them.

use crate::gemm::F32_KC;
use std::fs;

/// Per-core data cache sizes in bytes (L3 is the whole shared cache).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheSizes {
    /// Level 1 data cache.
    pub l1d: usize,
    /// Level 2 cache.
    pub l2: usize,
    /// Level 3 cache (0 if none).
    pub l3: usize,
}

impl Default for CacheSizes {
    /// Sizes common on current x86 servers, used when sysfs says nothing.
    fn default() -> Self {
        CacheSizes {
            l1d: 32 << 10,
            l2: 512 << 10,
            l3: 8 << 20,
        }
    }
}

impl CacheSizes {
    /// Reads `/sys/devices/system/cpu/cpu0/cache`; any level it lacks keeps the default.
    pub fn detect() -> CacheSizes {
        let mut sizes = CacheSizes::default();
        let dir = "/sys/devices/system/cpu/cpu0/cache";
        for idx in 0..8 {
            let read = |f: &str| fs::read_to_string(format!("{dir}/index{idx}/{f}")).ok();
            let (Some(level), Some(kind), Some(size)) = (read("level"), read("type"), read("size"))
            else {
                continue;
            };
            let Some(bytes) = parse_size(size.trim()) else {
                continue;
            };
            match (level.trim(), kind.trim()) {
                ("1", "Data") => sizes.l1d = bytes,
                ("2", "Unified") | ("2", "Data") => sizes.l2 = bytes,
                ("3", "Unified") => sizes.l3 = bytes,
                _ => {}
            }
        }
        sizes
    }
}

/// Parses sysfs sizes such as `32K`, `1024K`, `8M`.
fn parse_size(s: &str) -> Option<usize> {
    let (num, mul) = match s.as_bytes().last()? {
        b'K' => (&s[..s.len() - 1], 1 << 10),
        b'M' => (&s[..s.len() - 1], 1 << 20),
        b'G' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<usize>().ok()?.checked_mul(mul)
}

/// GEMM block sizes (BLIS naming): `kc` the depth of a packed panel, `mc` the rows of a packed A
/// block, `nc` the columns of a packed B panel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Blocking {
    /// Rows of A per packed block (a multiple of MR).
    pub mc: usize,
    /// Depth per packed panel.
    pub kc: usize,
    /// Columns of B per packed panel (a multiple of NR).
    pub nc: usize,
}

impl Blocking {
    /// Blocks for this machine's caches: `kc` is the fixed f32 panel depth [`F32_KC`] (it decides
    /// rounding, so it does not follow the caches); the mc×kc block of A (f32) takes half of L2;
    /// the kc×nc panel of B half of L3 (or 4 L2s where there is no L3). Each family rounds mc and
    /// nc up to its own tile.
    pub fn for_caches(c: CacheSizes) -> Blocking {
        const ELEM: usize = 4;
        let round_down = |v: usize, m: usize| (v / m).max(1) * m;
        let kc = F32_KC;
        let mc = round_down((c.l2 / 2) / (kc * ELEM), 12).clamp(12, 1020);
        let l3 = if c.l3 > 0 { c.l3 / 2 } else { c.l2 * 4 };
        let nc = round_down(l3 / (kc * ELEM), 32).clamp(32, 8192);
        Blocking { mc, kc, nc }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysfs_sizes_parse() {
        assert_eq!(parse_size("32K"), Some(32 << 10));
        assert_eq!(parse_size("8M"), Some(8 << 20));
        assert_eq!(parse_size("512"), Some(512));
        assert_eq!(parse_size("x"), None);
        assert_eq!(parse_size(""), None);
    }

    #[test]
    fn blocking_follows_the_caches() {
        let b = Blocking::for_caches(CacheSizes::default());
        assert_eq!(b.kc, F32_KC, "the panel depth does not follow the caches");
        assert_eq!(b.mc % 12, 0);
        assert_eq!(b.nc % 32, 0);
        assert!(b.mc * b.kc * 4 <= 256 << 10 && b.mc >= 120);
        let big = Blocking::for_caches(CacheSizes {
            l1d: 64 << 10,
            l2: 2 << 20,
            l3: 0,
        });
        assert!(big.kc == b.kc && big.mc > b.mc);
    }
}
