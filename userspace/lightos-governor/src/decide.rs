//! The decisions: placement, actions around a job, rebalancing and loss of a device.

use super::{device::DeviceState, Governor, GovernorError, GovernorStats, JobProfile, Policy};

/// A change the governor asks of a device's controls.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Action {
    /// Limit the device's power to `watts`.
    PowerCap {
        /// Device index.
        device: usize,
        /// The limit (W).
        watts: f64,
    },
    /// Lift the governor's power limit (back to the device's maximum).
    ClearCap {
        /// Device index.
        device: usize,
    },
    /// Set the active cooling drive (0 to 1).
    Cooling {
        /// Device index.
        device: usize,
        /// The drive.
        drive: f64,
    },
}

/// Where a job goes, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    /// The chosen device.
    pub device: usize,
    /// Its predicted peak temperature while it runs the job (°C); `None` without a sensor.
    pub predicted_peak_c: Option<f64>,
    /// Why, in words (also logged).
    pub reason: String,
    /// Whether stale telemetry forced the safe fallback policy.
    pub degraded: bool,
}

/// A queued job to move: `index` in the queue of device `from` goes to device `to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Move {
    /// Device it is queued on.
    pub from: usize,
    /// Its position in that queue.
    pub index: usize,
    /// Device it moves to.
    pub to: usize,
}

/// A candidate device's prediction for one job.
#[derive(Clone, Copy, Debug)]
struct Outlook {
    dev: usize,
    /// Estimated time until the job would finish (s).
    finish_s: f64,
    /// Predicted peak (°C); `None` without a sensor.
    peak_c: Option<f64>,
    /// Whether the peak stays under the device's limit.
    fits: bool,
}

impl Governor {
    /// The temperature limit predictions must stay under on `d`.
    fn limit_c(&self, d: &DeviceState) -> f64 {
        d.spec.throttle_c - self.cfg.margin_c
    }

    /// Predicted peak of `d` if it runs its backlog then a job of `above_idle_w` for `dur_s`.
    fn predict_peak(d: &DeviceState, above_idle_w: f64, dur_s: f64) -> Option<f64> {
        let t0 = d.last_temp_c?;
        let cap_room = d
            .cap_w
            .map_or(f64::INFINITY, |c| (c - d.spec.idle_power_w).max(0.0));
        let t1 = if d.backlog_s > 0.0 {
            d.model.predict_c(
                t0,
                d.net_power_w(d.backlog_power_w().min(cap_room)),
                d.backlog_s,
            )
        } else {
            t0
        };
        let t2 = d
            .model
            .peak_c(t1, d.net_power_w(above_idle_w.min(cap_room)), dur_s);
        Some(t0.max(t1).max(t2))
    }

    fn outlook(&self, dev: usize, job: &JobProfile) -> Outlook {
        let d = &self.devices[dev];
        let peak_c = Self::predict_peak(d, job.power_w, job.duration_s);
        Outlook {
            dev,
            finish_s: d.backlog_s + job.duration_s,
            peak_c,
            fits: peak_c.is_none_or(|p| p < self.limit_c(d)),
        }
    }

    /// Picks a device for `job` at time `now_s` and books the job on it.
    pub fn place(&mut self, job: &JobProfile, now_s: f64) -> Result<Decision, GovernorError> {
        self.decide(job, now_s, true)
    }

    /// Where `job` would go now and why, without booking it, logging it or changing any state.
    pub fn preview(&self, job: &JobProfile, now_s: f64) -> Result<Decision, GovernorError> {
        let mut scratch = Governor {
            cfg: self.cfg,
            devices: self.devices.clone(),
            rr_next: self.rr_next,
            degraded: self.degraded,
            stats: GovernorStats::default(),
        };
        scratch.decide(job, now_s, false)
    }

    /// [`Governor::place`]; with `book` false, [`Governor::preview`] on a scratch copy.
    fn decide(
        &mut self,
        job: &JobProfile,
        now_s: f64,
        book: bool,
    ) -> Result<Decision, GovernorError> {
        job.validate()?;
        let alive: Vec<usize> = (0..self.devices.len())
            .filter(|&i| !self.devices[i].lost)
            .collect();
        if alive.is_empty() {
            return Err(GovernorError::NoDevice);
        }
        let policy = self.cfg.policy;
        let stale_after = self.cfg.stale_after_s;
        let degraded = policy.uses_thermal_model()
            && alive
                .iter()
                .any(|&i| self.devices[i].is_stale(now_s, stale_after));
        let stale: Vec<usize> = if degraded || self.degraded {
            alive
                .iter()
                .copied()
                .filter(|&i| self.devices[i].is_stale(now_s, stale_after))
                .collect()
        } else {
            Vec::new()
        };
        if book {
            self.note_degraded(degraded, &stale, now_s);
        }
        let decision = if degraded {
            // Safe fallback: least-loaded over the devices still reporting (all if none is).
            let seen: Vec<usize> = alive
                .iter()
                .copied()
                .filter(|i| !stale.contains(i))
                .collect();
            let pool = if seen.is_empty() { &alive } else { &seen };
            let dev = self.least_loaded(pool);
            let names: Vec<&str> = stale
                .iter()
                .map(|&i| self.devices[i].spec.name.as_str())
                .collect();
            Decision {
                device: dev,
                predicted_peak_c: None,
                reason: format!(
                    "telemetry stale on {}: safe fallback, least-loaded {} ({:.3} s queued)",
                    names.join(", "),
                    self.devices[dev].spec.name,
                    self.devices[dev].backlog_s
                ),
                degraded: true,
            }
        } else {
            match policy {
                Policy::RoundRobin => {
                    let dev = (0..self.devices.len())
                        .map(|k| (self.rr_next + k) % self.devices.len())
                        .find(|&i| !self.devices[i].lost)
                        .ok_or(GovernorError::NoDevice)?;
                    self.rr_next = (dev + 1) % self.devices.len();
                    Decision {
                        device: dev,
                        predicted_peak_c: None,
                        reason: format!("round-robin: {}", self.devices[dev].spec.name),
                        degraded: false,
                    }
                }
                Policy::LeastLoaded => {
                    let dev = self.least_loaded(&alive);
                    Decision {
                        device: dev,
                        predicted_peak_c: None,
                        reason: format!(
                            "least-loaded: {} ({:.3} s queued)",
                            self.devices[dev].spec.name, self.devices[dev].backlog_s
                        ),
                        degraded: false,
                    }
                }
                _ => self.thermal_choice(job, &alive),
            }
        };
        if !book {
            return Ok(decision);
        }
        let d = &mut self.devices[decision.device];
        d.backlog_s += job.duration_s;
        d.backlog_j += job.power_w * job.duration_s;
        d.jobs += 1;
        self.stats.decisions += 1;
        self.stats.degraded_decisions += u64::from(decision.degraded);
        tracing::info!(policy = %policy, device = %d.spec.name, reason = %decision.reason, "placed");
        Ok(decision)
    }

    /// Logs entering and leaving the degraded mode once each.
    fn note_degraded(&mut self, degraded: bool, stale: &[usize], now_s: f64) {
        if degraded && !self.degraded {
            for &i in stale {
                let d = &self.devices[i];
                let age = d.last_seen_s.map_or(f64::INFINITY, |t| now_s - t);
                tracing::warn!(device = %d.spec.name, age_s = age,
                    "telemetry stale: degrading to least-loaded placement");
            }
        } else if !degraded && self.degraded {
            tracing::info!(policy = %self.cfg.policy, "telemetry fresh again: policy restored");
        }
        self.degraded = degraded;
    }

    fn least_loaded(&self, pool: &[usize]) -> usize {
        pool.iter()
            .copied()
            .min_by(|&a, &b| {
                self.devices[a]
                    .backlog_s
                    .total_cmp(&self.devices[b].backlog_s)
            })
            .unwrap_or(0)
    }

    /// Thermal-aware choice: earliest finish among devices whose predicted peak stays under their
    /// limit; when none does, the coolest prediction.
    fn thermal_choice(&self, job: &JobProfile, alive: &[usize]) -> Decision {
        let mut best: Option<Outlook> = None;
        for &i in alive {
            // A device finishing no sooner than a fitting one cannot win: skip its prediction.
            if best
                .is_some_and(|b| b.fits && self.devices[i].backlog_s + job.duration_s >= b.finish_s)
            {
                continue;
            }
            let o = self.outlook(i, job);
            let better = match &best {
                None => true,
                Some(b) => match (o.fits, b.fits) {
                    (true, false) => true,
                    (false, true) => false,
                    (true, true) => o.finish_s < b.finish_s,
                    (false, false) => {
                        o.peak_c.unwrap_or(f64::NEG_INFINITY)
                            < b.peak_c.unwrap_or(f64::NEG_INFINITY)
                    }
                },
            };
            if better {
                best = Some(o);
            }
        }
        // `alive` is never empty here.
        let o = best.unwrap_or(Outlook {
            dev: alive[0],
            finish_s: 0.0,
            peak_c: None,
            fits: true,
        });
        let d = &self.devices[o.dev];
        let peak = o
            .peak_c
            .map_or("no sensor".to_string(), |p| format!("peak {p:.1} °C"));
        let verdict = if o.fits {
            format!("under {:.1} °C", self.limit_c(d))
        } else {
            format!(
                "every device predicted over its limit; coolest (limit {:.1} °C)",
                self.limit_c(d)
            )
        };
        Decision {
            device: o.dev,
            predicted_peak_c: o.peak_c,
            reason: format!(
                "{}: finish in {:.3} s, {peak} {verdict}",
                d.spec.name, o.finish_s
            ),
            degraded: false,
        }
    }

    /// The actions to take as `job` starts on `dev`: with predictive cooling, full cooling and
    /// then a power limit when the model predicts the job would cross the limit; with sparsity
    /// caps, a limit at the power the job needs for full throughput.
    pub fn on_start(&mut self, dev: usize, job: &JobProfile) -> Result<Vec<Action>, GovernorError> {
        let policy = self.cfg.policy;
        let limit = self
            .devices
            .get(dev)
            .map(|d| self.limit_c(d))
            .ok_or(GovernorError::UnknownDevice(dev))?;
        let d = &mut self.devices[dev];
        let mut actions = Vec::new();
        let mut cap: Option<(f64, String)> = None;
        if policy.predictive_cooling() {
            if let Some(t0) = d.last_temp_c {
                let peak = d
                    .model
                    .peak_c(t0, d.net_power_w(job.power_w), job.duration_s);
                if peak >= limit && d.spec.cooling_max_w > 0.0 && d.cooling < 1.0 {
                    d.cooling = 1.0;
                    actions.push(Action::Cooling {
                        device: dev,
                        drive: 1.0,
                    });
                    tracing::info!(device = %d.spec.name, predicted_peak = peak, limit,
                        "cooling raised ahead of a predicted trip");
                }
                let peak = d
                    .model
                    .peak_c(t0, d.net_power_w(job.power_w), job.duration_s);
                if peak >= limit && d.spec.power_cap_control {
                    // Net power the limit allows, back to gross power drawn.
                    let net = d
                        .model
                        .max_power_for(t0, limit, job.duration_s)
                        .unwrap_or(0.0);
                    let gross = net + d.cooling * d.spec.cooling_max_w;
                    cap = Some((
                        gross,
                        format!("predicted peak {peak:.1} °C ≥ {limit:.1} °C"),
                    ));
                }
            }
        }
        if policy.sparsity_caps() {
            let need = job.speed_needed();
            if need < 0.95 {
                // 10 % above the estimate: an underestimate costs throughput, an overestimate power.
                let watts = d.spec.idle_power_w + job.power_w * (need * 1.1).min(1.0);
                if cap.as_ref().is_none_or(|(c, _)| watts < *c) {
                    cap = Some((
                        watts,
                        format!(
                            "job needs {:.0} % speed (sparsity {:.2})",
                            need * 100.0,
                            job.sparsity
                        ),
                    ));
                }
            }
        }
        match cap {
            Some((watts, why)) => {
                let watts = watts.clamp(d.spec.min_power_w, d.spec.max_power_w);
                if d.spec.power_cap_control && d.cap_w != Some(watts) {
                    d.cap_w = Some(watts);
                    actions.push(Action::PowerCap { device: dev, watts });
                    self.stats.caps_applied += 1;
                    tracing::info!(device = %d.spec.name, watts, reason = %why, "power capped");
                }
            }
            None if d.cap_w.is_some() => {
                d.cap_w = None;
                actions.push(Action::ClearCap { device: dev });
                tracing::info!(device = %d.spec.name, "power cap lifted: not needed for this job");
            }
            None => {}
        }
        self.stats.cooling_boosts += actions
            .iter()
            .filter(|a| matches!(a, Action::Cooling { .. }))
            .count() as u64;
        Ok(actions)
    }

    /// Books `job` off `dev` when it ends; returns the actions to relax its controls once it is idle.
    pub fn on_finish(
        &mut self,
        dev: usize,
        job: &JobProfile,
    ) -> Result<Vec<Action>, GovernorError> {
        self.unbook(dev, job)?;
        self.stats.jobs_completed += 1;
        self.stats.per_device[dev].jobs_completed += 1;
        let d = &mut self.devices[dev];
        let mut actions = Vec::new();
        if d.jobs == 0 {
            if d.cap_w.take().is_some() {
                actions.push(Action::ClearCap { device: dev });
            }
            if d.cooling > 0.0 {
                d.cooling = 0.0;
                actions.push(Action::Cooling {
                    device: dev,
                    drive: 0.0,
                });
            }
        }
        Ok(actions)
    }

    /// Removes `job`'s booking from `dev` (finished, moved or cancelled).
    pub fn unbook(&mut self, dev: usize, job: &JobProfile) -> Result<(), GovernorError> {
        let d = self
            .devices
            .get_mut(dev)
            .ok_or(GovernorError::UnknownDevice(dev))?;
        d.backlog_s = (d.backlog_s - job.duration_s).max(0.0);
        d.backlog_j = (d.backlog_j - job.power_w * job.duration_s).max(0.0);
        d.jobs = d.jobs.saturating_sub(1);
        if d.jobs == 0 {
            d.backlog_s = 0.0;
            d.backlog_j = 0.0;
        }
        Ok(())
    }

    /// With a thermal policy, the queued jobs to move off devices whose backlog is predicted to
    /// take them over their limit: at most one per hot device, to a device where it fits and
    /// finishes sooner. `queues[d]` are the jobs waiting (not running) on device `d`, oldest first.
    pub fn rebalance(&mut self, now_s: f64, queues: &[Vec<JobProfile>]) -> Vec<Move> {
        let mut moves = Vec::new();
        if !self.cfg.policy.uses_thermal_model() {
            return moves;
        }
        for (from, queue) in queues.iter().enumerate().take(self.devices.len()) {
            let Some(job) = queue.last() else {
                continue;
            };
            let d = &self.devices[from];
            if d.lost || d.is_stale(now_s, self.cfg.stale_after_s) {
                continue;
            }
            let hot = Self::predict_peak(d, 0.0, 0.0).is_some_and(|p| p >= self.limit_c(d));
            if !hot {
                continue;
            }
            let target = (0..self.devices.len())
                .filter(|&i| {
                    i != from
                        && !self.devices[i].lost
                        && !self.devices[i].is_stale(now_s, self.cfg.stale_after_s)
                })
                .map(|i| self.outlook(i, job))
                .filter(|o| o.fits && o.finish_s < d.backlog_s)
                .min_by(|a, b| a.finish_s.total_cmp(&b.finish_s));
            if let Some(o) = target {
                let job = *job;
                tracing::info!(from = %self.devices[from].spec.name, to = %self.devices[o.dev].spec.name,
                    "queued job migrated off a device predicted to overheat");
                let _ = self.unbook(from, &job);
                let t = &mut self.devices[o.dev];
                t.backlog_s += job.duration_s;
                t.backlog_j += job.power_w * job.duration_s;
                t.jobs += 1;
                self.stats.migrations += 1;
                moves.push(Move {
                    from,
                    index: queue.len() - 1,
                    to: o.dev,
                });
            }
        }
        moves
    }

    /// Marks `dev` lost and places its queued jobs (`queued`, oldest first) elsewhere; returns the
    /// new device of each, in order.
    pub fn device_lost(
        &mut self,
        dev: usize,
        queued: &[JobProfile],
        now_s: f64,
    ) -> Result<Vec<usize>, GovernorError> {
        let d = self
            .devices
            .get_mut(dev)
            .ok_or(GovernorError::UnknownDevice(dev))?;
        if !d.lost {
            tracing::warn!(device = %d.spec.name, queued = queued.len(), "device lost: moving its queue");
        }
        d.lost = true;
        d.backlog_s = 0.0;
        d.backlog_j = 0.0;
        d.jobs = 0;
        let mut to = Vec::with_capacity(queued.len());
        for job in queued {
            to.push(self.place(job, now_s)?.device);
            self.stats.migrations += 1;
        }
        Ok(to)
    }
}
