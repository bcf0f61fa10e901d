//! Fault injection: a line protocol on the model's control socket (`--control PATH`).
//!
//! One command per line, one reply line each (`ok …` or `error: …`):
//! `hang`, `corrupt-completion`, `cooling-failure on|off`, `runaway WATTS|off`, `remove`
//! (surprise removal: the model disappears), `clear` (every fault off), `status` (temperature,
//! laser power, and the driver's `enable` and `laser_limit_mw` controls), `help`.
//! The VM runner connects the guest's second serial port to this socket, so in-guest tests inject
//! faults exactly as a person at the host would.

use crate::device::NpuDevice;

/// What the event loop must do after a command.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    /// Send this reply and carry on.
    Reply(String),
    /// Send this reply, then vanish (surprise removal).
    Remove(String),
}

/// The reply to `help`.
pub const HELP: &str = "commands: hang | corrupt-completion | cooling-failure on|off | runaway WATTS|off | remove | clear | status";

fn on_off(arg: Option<&str>) -> Result<bool, String> {
    match arg {
        Some("on") => Ok(true),
        Some("off") => Ok(false),
        _ => Err("expected 'on' or 'off'".into()),
    }
}

/// Applies one command line to `dev`.
pub fn apply(dev: &mut NpuDevice, line: &str) -> Outcome {
    let mut words = line.split_whitespace();
    let (cmd, arg) = (words.next().unwrap_or(""), words.next());
    let takes_arg = matches!(cmd, "cooling-failure" | "runaway");
    if words.next().is_some() || (!takes_arg && arg.is_some()) {
        return Outcome::Reply(format!("error: too many arguments to '{cmd}'"));
    }
    let result: Result<String, String> = match cmd {
        "hang" => {
            dev.faults.hang = true;
            Ok("the command processor hangs until a reset".into())
        }
        "corrupt-completion" => {
            dev.faults.corrupt_next_completion = true;
            Ok("the next completion will be corrupted".into())
        }
        "cooling-failure" => on_off(arg).map(|on| {
            dev.faults.thermal.cooling_failure = on;
            format!("cooling failure {}", if on { "on" } else { "off" })
        }),
        "runaway" => match arg {
            Some("off") => {
                dev.faults.thermal.runaway_w = 0.0;
                Ok("runaway off".into())
            }
            Some(w) => match w.parse::<f64>() {
                Ok(w) if w.is_finite() && (0.0..=100.0).contains(&w) => {
                    dev.faults.thermal.runaway_w = w;
                    Ok(format!("runaway {w} W"))
                }
                _ => Err(format!("bad wattage '{w}' (0 to 100)")),
            },
            None => Err("expected a wattage or 'off'".into()),
        },
        "clear" => {
            dev.faults = Default::default();
            Ok("all faults cleared".into())
        }
        "status" => Ok(format!(
            "temp_c={:.3} laser_mw={} enable={} laser_limit_mw={} faults={:?}{}",
            dev.temperature(),
            dev.laser_mw(),
            u32::from(dev.interrupts_enabled()),
            dev.laser_limit_mw(),
            dev.faults,
            dev.last_calibration().map_or(String::new(), |c| format!(
                " calibrated_c={:.3} calibration_s={:.3} fringes={} offset_error_rad={:.1e} coupler_split_rad={:.1e} residual={}",
                c.temp,
                c.device_time_s,
                c.fringes,
                c.offset_rms_error_rad,
                c.coupler_split_rms_rad,
                c.residual.map_or("-".into(), |r| format!("{r:.2e}"))
            ))
        )),
        "help" => Ok(HELP.into()),
        "remove" => return Outcome::Remove("ok surprise removal".into()),
        "" => Err("empty command".into()),
        other => Err(format!("unknown command '{other}'; {HELP}")),
    };
    Outcome::Reply(match result {
        Ok(s) => format!("ok {s}"),
        Err(e) => format!("error: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{chip::ChipConfig, shm::SharedRegion, thermal::ThermalConfig};

    fn dev() -> NpuDevice {
        let chip = ChipConfig {
            n: 4,
            ..ChipConfig::default()
        };
        NpuDevice::new(
            SharedRegion::anonymous(0x8000).unwrap(),
            SharedRegion::anonymous(4096).unwrap(),
            chip,
            ThermalConfig::default(),
        )
    }

    #[test]
    fn commands_set_faults_and_bad_ones_are_refused() {
        let mut d = dev();
        assert!(matches!(apply(&mut d, "hang"), Outcome::Reply(s) if s.starts_with("ok")));
        assert!(d.faults.hang);
        apply(&mut d, "cooling-failure on");
        apply(&mut d, "runaway 2.5");
        assert!(d.faults.thermal.cooling_failure);
        assert_eq!(d.faults.thermal.runaway_w, 2.5);
        for bad in [
            "runaway -1",
            "runaway nan",
            "cooling-failure",
            "frobnicate",
            "",
            "hang now",
        ] {
            assert!(
                matches!(apply(&mut d, bad), Outcome::Reply(s) if s.starts_with("error: ")),
                "{bad}"
            );
        }
        apply(&mut d, "clear");
        assert_eq!(d.faults, Default::default());
        assert!(matches!(apply(&mut d, "remove"), Outcome::Remove(_)));
    }

    #[test]
    fn status_reports_the_driver_controls() {
        let mut d = dev();
        let Outcome::Reply(s) = apply(&mut d, "status") else {
            panic!("status replies")
        };
        assert!(s.starts_with("ok temp_c="), "{s}");
        assert!(s.contains(" enable=0 laser_limit_mw=0 "), "{s}");
    }
}
