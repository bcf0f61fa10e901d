//! CPU package power from the Linux powercap interface (Intel RAPL, and AMD's through the same
//! `intel-rapl` zones): the energy counter's increase between two readings over the time between
//! them. Absent on machines without RAPL (virtual machines, most Arm parts): no power reading.

use std::{
    fs,
    path::{Path, PathBuf},
};

/// Where the kernel exposes powercap zones.
pub const POWERCAP_ROOT: &str = "/sys/class/powercap";

/// Reads the summed power of every top-level RAPL package zone.
#[derive(Clone, Debug)]
pub struct RaplMeter {
    /// `(energy_uj path, max_energy_range_uj)` per package zone.
    zones: Vec<(PathBuf, u64)>,
    /// The previous reading: time (s) and counter per zone.
    last: Option<(f64, Vec<u64>)>,
}

impl RaplMeter {
    /// The package zones under `root` (`intel-rapl:N`, not their `:N:M` subzones); `None` when there
    /// is none readable.
    pub fn open(root: &Path) -> Option<RaplMeter> {
        let mut zones: Vec<(PathBuf, u64)> = fs::read_dir(root)
            .ok()?
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("intel-rapl:") && n.matches(':').count() == 1)
            })
            .filter_map(|p| {
                let range = read_u64(&p.join("max_energy_range_uj"))?;
                read_u64(&p.join("energy_uj"))?;
                Some((p.join("energy_uj"), range))
            })
            .collect();
        zones.sort();
        (!zones.is_empty()).then_some(RaplMeter { zones, last: None })
    }

    /// Power (W) since the previous call, at time `now_s`; `None` on the first call, when no time
    /// passed, or when a counter cannot be read. A counter that wrapped is unwrapped with its range.
    pub fn sample(&mut self, now_s: f64) -> Option<f64> {
        let counters: Option<Vec<u64>> = self.zones.iter().map(|(p, _)| read_u64(p)).collect();
        let counters = counters?;
        let previous = self.last.replace((now_s, counters.clone()));
        let (then, before) = previous?;
        let dt = now_s - then;
        if dt <= 0.0 {
            return None;
        }
        let uj: u64 = counters
            .iter()
            .zip(&before)
            .zip(&self.zones)
            .map(|((&now, &was), (_, range))| {
                if now >= was {
                    now - was
                } else {
                    now + range.saturating_sub(was)
                }
            })
            .sum();
        Some(uj as f64 / 1e6 / dt)
    }
}

fn read_u64(path: &Path) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(root: &Path, name: &str, energy: u64, range: u64) {
        let z = root.join(name);
        fs::create_dir_all(&z).unwrap();
        fs::write(z.join("energy_uj"), format!("{energy}\n")).unwrap();
        fs::write(z.join("max_energy_range_uj"), format!("{range}\n")).unwrap();
    }

    #[test]
    fn power_is_the_summed_package_energy_over_time_with_wraparound() {
        let root = std::env::temp_dir().join(format!("lightos-rapl-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        zone(&root, "intel-rapl:0", 1_000_000, 10_000_000);
        zone(&root, "intel-rapl:1", 5_000_000, 10_000_000);
        zone(&root, "intel-rapl:0:0", 0, 10_000_000); // a subzone (core): not summed
        let mut m = RaplMeter::open(&root).unwrap();
        assert_eq!(
            m.sample(0.0),
            None,
            "the first reading has nothing to compare with"
        );
        zone(&root, "intel-rapl:0", 3_000_000, 10_000_000); // +2 J
        zone(&root, "intel-rapl:1", 1_000_000, 10_000_000); // wrapped: +6 J
        zone(&root, "intel-rapl:0:0", 9_000_000, 10_000_000);
        assert_eq!(m.sample(2.0), Some(4.0));
        assert_eq!(m.sample(2.0), None, "no time passed");
        fs::remove_file(root.join("intel-rapl:1/energy_uj")).unwrap();
        assert_eq!(
            m.sample(3.0),
            None,
            "an unreadable counter gives no reading"
        );
        fs::remove_dir_all(&root).unwrap();
        assert!(RaplMeter::open(&root).is_none());
    }
}
