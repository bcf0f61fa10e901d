//! Telemetry samples and the short time series the governor keeps per device.

use std::collections::VecDeque;

/// Why a device runs below its full speed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Throttle {
    /// Not throttled.
    #[default]
    None,
    /// The device (or its guard) cut power or clock because it is hot.
    Thermal,
    /// A power limit set by software holds it back.
    PowerCap,
    /// Emergency shutdown: it runs nothing until it has cooled.
    Shutdown,
}

impl Throttle {
    /// A short name for logs and tables.
    pub fn name(self) -> &'static str {
        match self {
            Throttle::None => "none",
            Throttle::Thermal => "thermal",
            Throttle::PowerCap => "power-cap",
            Throttle::Shutdown => "shutdown",
        }
    }

    /// Whether the device is held back by heat (thermal throttle or shutdown).
    pub fn is_thermal(self) -> bool {
        matches!(self, Throttle::Thermal | Throttle::Shutdown)
    }
}

/// One telemetry reading of a device. Readings a backend cannot give are `None`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sample {
    /// When it was taken (s, any monotonic origin shared by the governor's devices).
    pub time_s: f64,
    /// Temperature (°C).
    pub temp_c: Option<f64>,
    /// Net heat into the device (W): power drawn less active cooling.
    pub power_w: Option<f64>,
    /// Power limit in force (W).
    pub power_limit_w: Option<f64>,
    /// Busy fraction since the previous sample (0 to 1).
    pub utilization: Option<f64>,
    /// Throttle state and reason.
    pub throttle: Throttle,
}

/// The recent samples of one device, oldest first, at most `capacity` of them.
#[derive(Clone, Debug)]
pub struct Series {
    samples: VecDeque<Sample>,
    capacity: usize,
}

impl Series {
    /// An empty series keeping the newest `capacity` samples (at least 2).
    pub fn new(capacity: usize) -> Series {
        let capacity = capacity.max(2);
        Series {
            samples: VecDeque::with_capacity(capacity),
            capacity,
        }
    }

    /// Appends `s`, dropping the oldest sample when full.
    pub fn push(&mut self, s: Sample) {
        if self.samples.len() == self.capacity {
            self.samples.pop_front();
        }
        self.samples.push_back(s);
    }

    /// The newest sample.
    pub fn last(&self) -> Option<&Sample> {
        self.samples.back()
    }

    /// The samples, oldest first, as one slice.
    pub fn as_slice(&mut self) -> &[Sample] {
        self.samples.make_contiguous()
    }

    /// Number of samples held.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether no sample is held.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// The newest temperature reading, if any sample has one.
    pub fn last_temp_c(&self) -> Option<f64> {
        self.samples.iter().rev().find_map(|s| s.temp_c)
    }
}
