//! The chip's thermal model: one RC node, `C·dT/dt = P_in − (T − T_amb)/R − P_tec`, with laser,
//! heater and compute power in and thermo-electric (TEC) cooling out. Inputs are constant between
//! steps, so each step uses the exact solution
//! `T(t+dt) = T_ss + (T − T_ss)·e^(−dt/RC)`, `T_ss = T_amb + R·(P_in − P_tec)`.
//! A time-scale factor runs the model faster than the wall clock so tests reach 75 °C and 85 °C in
//! seconds. Above the fault threshold (95 °C) the device latches a fault that only a reset clears —
//! so a thermal guard that fails is visible.

/// Parameters of the thermal model.
#[derive(Clone, Debug)]
pub struct ThermalConfig {
    /// Ambient temperature (°C).
    pub ambient: f64,
    /// Thermal resistance to ambient (K/W).
    pub resistance: f64,
    /// Heat capacity (J/K).
    pub capacity: f64,
    /// Largest TEC cooling power (W).
    pub tec_max_w: f64,
    /// Temperature at which the device latches a fault (°C).
    pub fault_latch: f64,
    /// Model seconds per wall-clock second.
    pub time_scale: f64,
}

impl Default for ThermalConfig {
    fn default() -> Self {
        Self {
            ambient: 25.0,
            resistance: 20.0,
            capacity: 0.5,
            tec_max_w: 2.0,
            fault_latch: 95.0,
            time_scale: 1.0,
        }
    }
}

/// Power flowing into and out of the chip (W).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PowerInputs {
    /// Laser power.
    pub laser_w: f64,
    /// Phase-shifter heater power.
    pub heater_w: f64,
    /// Power dissipated by computation (modulators, detectors, drivers).
    pub compute_w: f64,
    /// TEC drive, 0 to 1 of its maximum cooling power.
    pub tec_drive: f64,
}

/// Injected thermal faults.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ThermalFaults {
    /// The TEC no longer cools.
    pub cooling_failure: bool,
    /// Extra heat from a runaway (W).
    pub runaway_w: f64,
}

/// The state of the thermal node.
#[derive(Clone, Debug)]
pub struct Thermal {
    cfg: ThermalConfig,
    temp: f64,
    latched: bool,
    /// Total model time (s).
    elapsed: f64,
}

impl Thermal {
    /// A chip at ambient temperature.
    pub fn new(cfg: ThermalConfig) -> Thermal {
        Thermal {
            temp: cfg.ambient,
            cfg,
            latched: false,
            elapsed: 0.0,
        }
    }

    /// The temperature (°C).
    pub fn temperature(&self) -> f64 {
        self.temp
    }

    /// Whether the over-temperature fault is latched.
    pub fn fault_latched(&self) -> bool {
        self.latched
    }

    /// Model seconds per wall-clock second.
    pub fn time_scale(&self) -> f64 {
        self.cfg.time_scale
    }

    /// Model time so far (s).
    pub fn elapsed(&self) -> f64 {
        self.elapsed
    }

    /// Net heat flow into the node for these inputs (W).
    pub fn net_power(&self, p: &PowerInputs, f: &ThermalFaults) -> f64 {
        let tec = if f.cooling_failure {
            0.0
        } else {
            p.tec_drive.clamp(0.0, 1.0) * self.cfg.tec_max_w
        };
        p.laser_w + p.heater_w + p.compute_w + f.runaway_w - tec
    }

    /// The temperature the inputs would settle at (°C).
    pub fn steady_state(&self, p: &PowerInputs, f: &ThermalFaults) -> f64 {
        self.cfg.ambient + self.cfg.resistance * self.net_power(p, f)
    }

    /// Advances the model by `wall_dt` wall-clock seconds (scaled by the time-scale factor).
    pub fn step(&mut self, wall_dt: f64, p: &PowerInputs, f: &ThermalFaults) {
        let dt = wall_dt.max(0.0) * self.cfg.time_scale;
        let tau = self.cfg.resistance * self.cfg.capacity;
        let ss = self.steady_state(p, f);
        self.temp = ss + (self.temp - ss) * (-dt / tau).exp();
        self.elapsed += dt;
        if self.temp >= self.cfg.fault_latch {
            self.latched = true;
        }
    }

    /// A device reset: clears the latch if the chip has cooled below the threshold.
    pub fn reset(&mut self) -> bool {
        if self.temp < self.cfg.fault_latch {
            self.latched = false;
        }
        !self.latched
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAVY: PowerInputs = PowerInputs {
        laser_w: 2.0,
        heater_w: 0.5,
        compute_w: 1.5,
        tec_drive: 0.0,
    };

    #[test]
    fn the_node_settles_at_ambient_plus_r_times_power() {
        let mut t = Thermal::new(ThermalConfig::default());
        let p = PowerInputs {
            laser_w: 1.0,
            ..Default::default()
        };
        for _ in 0..1000 {
            t.step(1.0, &p, &ThermalFaults::default());
        }
        assert!((t.temperature() - 45.0).abs() < 1e-6, "{}", t.temperature());
    }

    #[test]
    fn one_step_equals_many_small_ones() {
        let (mut a, mut b) = (
            Thermal::new(ThermalConfig::default()),
            Thermal::new(ThermalConfig::default()),
        );
        a.step(3.0, &HEAVY, &ThermalFaults::default());
        for _ in 0..3000 {
            b.step(0.001, &HEAVY, &ThermalFaults::default());
        }
        assert!((a.temperature() - b.temperature()).abs() < 1e-9);
    }

    #[test]
    fn a_time_scaled_chip_passes_75_and_85_within_seconds_and_latches_at_95() {
        let cfg = ThermalConfig {
            time_scale: 10.0,
            ..Default::default()
        };
        let mut t = Thermal::new(cfg);
        let f = ThermalFaults::default();
        let (mut t75, mut t85, mut t95) = (None, None, None);
        for ms in 1..=5000 {
            t.step(0.001, &HEAVY, &f);
            let wall = ms as f64 / 1000.0;
            if t.temperature() >= 75.0 && t75.is_none() {
                t75 = Some(wall);
            }
            if t.temperature() >= 85.0 && t85.is_none() {
                t85 = Some(wall);
            }
            if t.fault_latched() && t95.is_none() {
                t95 = Some(wall);
            }
        }
        let (t75, t85, t95) = (t75.unwrap(), t85.unwrap(), t95.unwrap());
        assert!(t75 < t85 && t85 < t95 && t95 < 5.0, "{t75} {t85} {t95}");
        assert!(!t.reset(), "still hot: the latch holds");
    }

    #[test]
    fn the_tec_holds_the_chip_down_unless_cooling_fails() {
        let cooled = PowerInputs {
            tec_drive: 1.0,
            ..HEAVY
        };
        let t = Thermal::new(ThermalConfig::default());
        let ok = t.steady_state(&cooled, &ThermalFaults::default());
        let failed = t.steady_state(
            &cooled,
            &ThermalFaults {
                cooling_failure: true,
                ..Default::default()
            },
        );
        assert!(ok < 75.0 && failed > 95.0, "{ok} {failed}");
        let runaway = t.steady_state(
            &cooled,
            &ThermalFaults {
                runaway_w: 3.0,
                ..Default::default()
            },
        );
        assert!(runaway > failed);
    }

    #[test]
    fn reset_clears_the_latch_once_cool() {
        let mut t = Thermal::new(ThermalConfig {
            time_scale: 100.0,
            ..Default::default()
        });
        for _ in 0..100 {
            t.step(0.01, &HEAVY, &ThermalFaults::default());
        }
        assert!(t.fault_latched());
        for _ in 0..1000 {
            t.step(0.01, &PowerInputs::default(), &ThermalFaults::default());
        }
        assert!(t.reset());
        assert!(!t.fault_latched());
    }
}
