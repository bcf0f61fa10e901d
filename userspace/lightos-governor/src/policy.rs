//! The selectable policies.

use std::{fmt, str::FromStr};

/// How the governor places jobs and whether it acts on power and cooling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Devices in turn, blind to load and heat (baseline).
    RoundRobin,
    /// The device with the least queued work (baseline).
    LeastLoaded,
    /// The earliest-finishing device whose predicted peak temperature stays under its throttle
    /// point (less a margin); queued work moves off devices predicted to overheat.
    ThermalAware,
    /// Thermal-aware placement, and before a job that the model predicts would trip its device,
    /// raise cooling and then lower the power limit just enough, instead of waiting for the trip.
    Predictive,
    /// Predictive, and cap power to what sparse or memory-bound jobs need for full throughput.
    SparsityAware,
}

impl Policy {
    /// Every policy, baselines first.
    pub const ALL: [Policy; 5] = [
        Policy::RoundRobin,
        Policy::LeastLoaded,
        Policy::ThermalAware,
        Policy::Predictive,
        Policy::SparsityAware,
    ];

    /// Its command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Policy::RoundRobin => "round-robin",
            Policy::LeastLoaded => "least-loaded",
            Policy::ThermalAware => "thermal-aware",
            Policy::Predictive => "predictive",
            Policy::SparsityAware => "sparsity-aware",
        }
    }

    /// Whether placement uses the thermal model.
    pub fn uses_thermal_model(self) -> bool {
        matches!(
            self,
            Policy::ThermalAware | Policy::Predictive | Policy::SparsityAware
        )
    }

    /// Whether it raises cooling and caps power ahead of predicted trips.
    pub fn predictive_cooling(self) -> bool {
        matches!(self, Policy::Predictive | Policy::SparsityAware)
    }

    /// Whether it caps power for sparse and memory-bound jobs.
    pub fn sparsity_caps(self) -> bool {
        self == Policy::SparsityAware
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Policy {
    type Err = String;

    fn from_str(s: &str) -> Result<Policy, String> {
        Policy::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Policy::ALL.iter().map(|p| p.name()).collect();
                format!("unknown policy {s:?} (one of {})", names.join(", "))
            })
    }
}
