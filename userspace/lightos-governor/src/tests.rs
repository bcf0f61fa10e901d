//! Unit tests of the governor: model fit, each policy on constructed situations, degradation.

use super::{sim, *};

const M: RcModel = RcModel {
    r_k_per_w: 0.15,
    c_j_per_k: 150.0,
    ambient_c: 30.0,
};

fn spec(name: &str) -> DeviceSpec {
    DeviceSpec {
        name: name.into(),
        throttle_c: 83.0,
        idle_power_w: 60.0,
        max_power_w: 400.0,
        min_power_w: 100.0,
        cooling_max_w: 60.0,
        power_cap_control: true,
        prior: M,
    }
}

fn governor(policy: Policy, n: usize) -> Governor {
    Governor::new(
        GovernorConfig {
            policy,
            ..GovernorConfig::default()
        },
        (0..n).map(|i| spec(&format!("d{i}"))).collect(),
    )
}

fn sample(t: f64, temp: f64) -> Sample {
    Sample {
        time_s: t,
        temp_c: Some(temp),
        power_w: Some(60.0),
        throttle: Throttle::None,
        ..Sample::default()
    }
}

/// A series from the true model `m`, power switching between two levels, every `h` seconds.
fn series(m: &RcModel, n: usize, h: f64) -> Vec<Sample> {
    series_stepped(m, n, |_| h)
}

/// The same with step `k` lasting `step(k)` seconds.
fn series_stepped(m: &RcModel, n: usize, step: impl Fn(usize) -> f64) -> Vec<Sample> {
    let (mut temp, mut time) = (m.ambient_c + 5.0, 0.0);
    (0..n)
        .map(|k| {
            let power = if (k / 40) % 2 == 0 { 300.0 } else { 60.0 };
            let s = Sample {
                time_s: time,
                temp_c: Some(temp),
                power_w: Some(power),
                ..Sample::default()
            };
            temp = m.predict_c(temp, power, step(k));
            time += step(k);
            s
        })
        .collect()
}

fn assert_recovers(f: &Fit, tolerance: f64) {
    let m = f.model;
    assert!((m.r_k_per_w / M.r_k_per_w - 1.0).abs() < tolerance, "{m:?}");
    assert!((m.c_j_per_k / M.c_j_per_k - 1.0).abs() < tolerance, "{m:?}");
    assert!((m.ambient_c - M.ambient_c).abs() < tolerance, "{m:?}");
    assert!(f.rms_error_c < tolerance, "{f:?}");
}

#[test]
fn fit_recovers_the_model_from_a_noiseless_series() {
    assert_recovers(&fit(&series(&M, 400, 0.1)).unwrap(), 1e-6);
}

#[test]
fn fit_recovers_the_model_from_unevenly_spaced_samples() {
    // Steps from 0.1 s to 0.16 s, as a loaded machine's 0.1 s poll loop delivers them (the closed
    // form at the mean step, once used up to 25 % of jitter, is 1 % off here), and from 0.05 to 0.2 s.
    let jittered = series_stepped(&M, 400, |k| 0.1 * (1.0 + 0.6 * ((k * 7) % 5) as f64 / 4.0));
    assert_recovers(&fit(&jittered).unwrap(), 1e-6);
    let ragged = series_stepped(&M, 400, |k| 0.05 * (1.0 + ((k * 3) % 4) as f64));
    assert_recovers(&fit(&ragged).unwrap(), 1e-6);
    // A series too short to show its 22.5 s time constant is refused, not fitted to nonsense.
    let glimpse = series_stepped(&M, 48, |k| 1e-4 * (1.0 + (k % 2) as f64));
    let err = fit(&glimpse);
    assert!(matches!(err, Err(FitError::NotPhysical)), "{err:?}");
}

#[test]
fn fit_refuses_short_unordered_and_unexcited_series() {
    assert_eq!(fit(&series(&M, 5, 0.1)), Err(FitError::TooFewSamples));
    let mut repeated = series(&M, 50, 0.1);
    repeated[20].time_s = repeated[19].time_s;
    assert_eq!(fit(&repeated), Err(FitError::TimeNotIncreasing));
    let flat: Vec<Sample> = series(&M, 50, 0.1)
        .into_iter()
        .map(|s| Sample {
            power_w: Some(100.0),
            ..s
        })
        .collect();
    assert_eq!(fit(&flat), Err(FitError::NotExcited));
    let no_power: Vec<Sample> = series(&M, 50, 0.1)
        .into_iter()
        .map(|s| Sample { power_w: None, ..s })
        .collect();
    assert_eq!(fit(&no_power), Err(FitError::TooFewSamples));
}

#[test]
fn observe_refits_online_and_keeps_the_prior_until_then() {
    let truth = RcModel {
        r_k_per_w: 0.2,
        c_j_per_k: 100.0,
        ambient_c: 35.0,
    };
    let mut g = governor(Policy::Predictive, 1);
    assert_eq!(g.model(0), Some((M, false)));
    for s in series(&truth, 200, 0.1) {
        g.observe(0, s).unwrap();
    }
    let (m, fitted) = g.model(0).unwrap();
    assert!(fitted);
    assert!((m.r_k_per_w / truth.r_k_per_w - 1.0).abs() < 1e-3, "{m:?}");
    assert_eq!(
        g.observe(5, sample(0.0, 30.0)),
        Err(GovernorError::UnknownDevice(5))
    );
}

#[test]
fn a_steady_series_moves_the_ambient_to_explain_unseen_heat() {
    let mut g = governor(Policy::Predictive, 1);
    // 70 °C at a steady 100 W: the prior (30 °C + 0.15·100 = 45 °C) misses 25 K of unseen heat.
    for k in 0..32 {
        let s = Sample {
            power_w: Some(100.0),
            ..sample(k as f64 * 0.1, 70.0)
        };
        g.observe(0, s).unwrap();
    }
    let (m, fitted) = g.model(0).unwrap();
    assert!(!fitted);
    assert!((m.ambient_c - 55.0).abs() < 1e-9, "{m:?}");
    assert_eq!(m.r_k_per_w, M.r_k_per_w);
}

#[test]
fn a_steady_series_polled_unevenly_moves_the_ambient_too() {
    let mut g = governor(Policy::Predictive, 1);
    // A loaded machine's poll loop: every other interval 60 % longer (the live VM test flaked so,
    // its fake GPU's hot inlet unexplained, when uneven spacing was checked before excitation).
    for k in 0..32 {
        let s = Sample {
            power_w: Some(100.0),
            ..sample(k as f64 * 0.1 + (k % 2) as f64 * 0.06, 70.0)
        };
        g.observe(0, s).unwrap();
    }
    let (m, _) = g.model(0).unwrap();
    assert!((m.ambient_c - 55.0).abs() < 1e-9, "{m:?}");
}

#[test]
fn absurd_profiles_are_rejected() {
    let mut g = governor(Policy::LeastLoaded, 2);
    for bad in [
        JobProfile {
            power_w: f64::NAN,
            ..JobProfile::dense(100.0, 1.0)
        },
        JobProfile::dense(-1.0, 1.0),
        JobProfile::dense(1e6, 1.0),
        JobProfile::dense(100.0, 0.0),
        JobProfile::dense(100.0, f64::INFINITY),
        JobProfile {
            sparsity: 1.5,
            ..JobProfile::dense(100.0, 1.0)
        },
        JobProfile {
            intensity: 0.0,
            ..JobProfile::dense(100.0, 1.0)
        },
    ] {
        assert!(
            matches!(g.place(&bad, 0.0), Err(GovernorError::Profile(_))),
            "{bad:?}"
        );
    }
    assert_eq!(g.stats().decisions, 0);
}

#[test]
fn round_robin_cycles_and_skips_lost_devices() {
    let mut g = governor(Policy::RoundRobin, 3);
    let job = JobProfile::dense(100.0, 1.0);
    let picks: Vec<usize> = (0..4).map(|_| g.place(&job, 0.0).unwrap().device).collect();
    assert_eq!(picks, [0, 1, 2, 0]);
    g.device_lost(1, &[], 0.0).unwrap();
    let picks: Vec<usize> = (0..3).map(|_| g.place(&job, 0.0).unwrap().device).collect();
    assert_eq!(picks, [2, 0, 2]);
}

#[test]
fn least_loaded_picks_the_shortest_backlog() {
    let mut g = governor(Policy::LeastLoaded, 3);
    g.place(&JobProfile::dense(100.0, 5.0), 0.0).unwrap();
    g.place(&JobProfile::dense(100.0, 1.0), 0.0).unwrap();
    assert_eq!(
        g.place(&JobProfile::dense(100.0, 1.0), 0.0).unwrap().device,
        2
    );
    assert_eq!(
        g.place(&JobProfile::dense(100.0, 1.0), 0.0).unwrap().device,
        1
    );
}

#[test]
fn thermal_aware_sends_a_heavy_job_to_the_cooler_device_and_a_light_one_to_the_sooner() {
    let mut g = governor(Policy::ThermalAware, 2);
    g.observe(0, sample(0.0, 78.0)).unwrap();
    g.observe(1, sample(0.0, 40.0)).unwrap();
    // d1 is cool but busy for 3 s; d0 is idle but hot.
    g.place(&JobProfile::dense(10.0, 3.0), 0.0)
        .map(|d| assert_eq!(d.device, 0))
        .unwrap();
    g.unbook(0, &JobProfile::dense(10.0, 3.0)).unwrap();
    let mut g2 = governor(Policy::ThermalAware, 2);
    g2.observe(0, sample(0.0, 78.0)).unwrap();
    g2.observe(1, sample(0.0, 40.0)).unwrap();
    g2.devices[1].backlog_s = 3.0;
    g2.devices[1].jobs = 1;
    let heavy = g2.place(&JobProfile::dense(320.0, 30.0), 0.0).unwrap();
    assert_eq!(heavy.device, 1, "{}", heavy.reason);
    assert!(heavy.predicted_peak_c.unwrap() < 81.0);
    let light = g2.place(&JobProfile::dense(5.0, 0.5), 0.0).unwrap();
    assert_eq!(light.device, 0, "{}", light.reason);
    // With least-loaded the heavy job would have gone to the hot idle device.
    let mut ll = governor(Policy::LeastLoaded, 2);
    ll.devices[1].backlog_s = 3.0;
    assert_eq!(
        ll.place(&JobProfile::dense(320.0, 30.0), 0.0)
            .unwrap()
            .device,
        0
    );
}

#[test]
fn preview_decides_like_place_without_booking() {
    let mut g = governor(Policy::LeastLoaded, 2);
    let job = JobProfile::dense(100.0, 1.0);
    let p = g.preview(&job, 0.0).unwrap();
    assert_eq!(g.preview(&job, 0.0).unwrap(), p, "a preview books nothing");
    assert_eq!(g.place(&job, 0.0).unwrap(), p);
    assert_ne!(g.preview(&job, 0.0).unwrap().device, p.device);
    assert_eq!(g.stats().decisions, 1);
}

#[test]
fn when_every_device_is_predicted_hot_the_coolest_is_chosen() {
    let mut g = governor(Policy::ThermalAware, 3);
    for (i, t) in [80.0, 79.0, 80.5].into_iter().enumerate() {
        g.observe(i, sample(0.0, t)).unwrap();
    }
    let d = g.place(&JobProfile::dense(340.0, 60.0), 0.0).unwrap();
    assert_eq!(d.device, 1, "{}", d.reason);
    assert!(
        d.reason.contains("every device predicted over"),
        "{}",
        d.reason
    );
}

#[test]
fn predictive_raises_cooling_then_caps_before_a_predicted_trip() {
    let mut g = governor(Policy::Predictive, 1);
    g.devices[0].spec.throttle_c = 75.0;
    g.observe(0, sample(0.0, 70.0)).unwrap();
    // 60 W idle + 300 W less 60 W of full cooling settles at 30 + 0.15·300 = 75 °C, over 73.
    let job = JobProfile::dense(300.0, 60.0);
    let actions = g.on_start(0, &job).unwrap();
    assert_eq!(
        actions[0],
        Action::Cooling {
            device: 0,
            drive: 1.0
        }
    );
    let Action::PowerCap { watts, .. } = actions[1] else {
        panic!("{actions:?}")
    };
    assert!((100.0..360.0).contains(&watts), "{watts}");
    // The capped job with full cooling peaks at the limit, not above.
    let peak = M.peak_c(70.0, watts - 60.0, 60.0);
    assert!((peak - 73.0).abs() < 1e-6, "peak {peak}");
    // Idle again: cap lifted and cooling back to automatic.
    let relax = g.on_finish(0, &job).unwrap();
    assert_eq!(
        relax,
        [
            Action::ClearCap { device: 0 },
            Action::Cooling {
                device: 0,
                drive: 0.0
            }
        ]
    );
    // The thermal-aware policy alone only places; it never touches the controls.
    let mut t = governor(Policy::ThermalAware, 1);
    t.devices[0].spec.throttle_c = 75.0;
    t.observe(0, sample(0.0, 70.0)).unwrap();
    assert!(t.on_start(0, &job).unwrap().is_empty());
}

#[test]
fn no_cap_when_the_prediction_stays_under_the_limit() {
    let mut g = governor(Policy::Predictive, 1);
    g.observe(0, sample(0.0, 40.0)).unwrap();
    assert!(g
        .on_start(0, &JobProfile::dense(300.0, 5.0))
        .unwrap()
        .is_empty());
}

#[test]
fn sparsity_aware_caps_sparse_jobs_and_lifts_the_cap_for_dense_ones() {
    let mut g = governor(Policy::SparsityAware, 1);
    g.observe(0, sample(0.0, 40.0)).unwrap();
    let sparse = JobProfile {
        power_w: 200.0,
        duration_s: 2.0,
        sparsity: 0.8,
        intensity: 20.0,
    };
    let need = sparse.speed_needed();
    assert!(need < 0.6, "{need}");
    let a = g.on_start(0, &sparse).unwrap();
    assert_eq!(
        a,
        [Action::PowerCap {
            device: 0,
            watts: 60.0 + 200.0 * need * 1.1
        }]
    );
    assert_eq!(
        g.on_start(0, &JobProfile::dense(200.0, 2.0)).unwrap(),
        [Action::ClearCap { device: 0 }]
    );
    // Predictive alone leaves sparse jobs uncapped.
    let mut p = governor(Policy::Predictive, 1);
    p.observe(0, sample(0.0, 40.0)).unwrap();
    assert!(p.on_start(0, &sparse).unwrap().is_empty());
}

#[test]
fn stale_telemetry_degrades_to_least_loaded_over_reporting_devices() {
    let mut g = governor(Policy::Predictive, 3);
    for i in 0..3 {
        g.observe(i, sample(0.0, 40.0)).unwrap();
    }
    assert!(
        !g.place(&JobProfile::dense(100.0, 1.0), 0.5)
            .unwrap()
            .degraded
    );
    // d1 keeps reporting, d0 and d2 go quiet; d1 carries the most work but is the only one seen.
    g.observe(1, sample(2.0, 40.0)).unwrap();
    let d = g.place(&JobProfile::dense(100.0, 1.0), 2.0).unwrap();
    assert!(d.degraded);
    assert_eq!(d.device, 1);
    assert!(d.reason.contains("stale on d0, d2"), "{}", d.reason);
    assert_eq!(g.stats().degraded_decisions, 1);
    // Every device quiet: least-loaded over all of them.
    let d = g.place(&JobProfile::dense(100.0, 1.0), 10.0).unwrap();
    assert!(d.degraded);
    assert_eq!(d.device, 2);
    // Reporting again: the policy is back.
    for i in 0..3 {
        g.observe(i, sample(10.0, 40.0)).unwrap();
    }
    assert!(
        !g.place(&JobProfile::dense(100.0, 1.0), 10.1)
            .unwrap()
            .degraded
    );
    // Baselines need no telemetry, so they never degrade.
    let mut rr = governor(Policy::RoundRobin, 2);
    assert!(
        !rr.place(&JobProfile::dense(100.0, 1.0), 100.0)
            .unwrap()
            .degraded
    );
}

#[test]
fn a_lost_device_s_queue_moves_and_it_is_never_chosen_again() {
    let mut g = governor(Policy::LeastLoaded, 3);
    let job = JobProfile::dense(100.0, 1.0);
    let moved = g.device_lost(0, &[job, job, job, job], 0.0).unwrap();
    assert_eq!(moved.len(), 4);
    assert!(moved.iter().all(|&d| d != 0));
    assert_eq!(g.stats().migrations, 4);
    for _ in 0..10 {
        assert_ne!(g.place(&job, 0.0).unwrap().device, 0);
    }
    g.device_lost(1, &[], 0.0).unwrap();
    g.device_lost(2, &[], 0.0).unwrap();
    assert_eq!(g.place(&job, 0.0), Err(GovernorError::NoDevice));
    assert_eq!(
        g.device_lost(3, &[], 0.0),
        Err(GovernorError::UnknownDevice(3))
    );
}

#[test]
fn rebalance_moves_queued_work_off_a_device_predicted_to_overheat() {
    let mut g = governor(Policy::ThermalAware, 2);
    g.observe(0, sample(0.0, 79.0)).unwrap();
    g.observe(1, sample(0.0, 40.0)).unwrap();
    let job = JobProfile::dense(330.0, 20.0);
    // Book three heavy jobs on d0 by hand (as round-robin might have).
    for _ in 0..3 {
        g.devices[0].backlog_s += job.duration_s;
        g.devices[0].backlog_j += job.power_w * job.duration_s;
        g.devices[0].jobs += 1;
    }
    let moves = g.rebalance(0.1, &[vec![job, job], vec![]]);
    assert_eq!(
        moves,
        [Move {
            from: 0,
            index: 1,
            to: 1
        }]
    );
    assert_eq!(g.devices[0].jobs, 2);
    assert_eq!(g.devices[1].jobs, 1);
    // Baseline policies never move work.
    let mut rr = governor(Policy::RoundRobin, 2);
    assert!(rr.rebalance(0.1, &[vec![job, job], vec![]]).is_empty());
}

#[test]
fn throttle_events_count_transitions_not_samples() {
    let mut g = governor(Policy::LeastLoaded, 1);
    let hot = |t| Sample {
        throttle: Throttle::Thermal,
        ..sample(t, 84.0)
    };
    for (k, s) in [
        sample(0.0, 80.0),
        hot(0.1),
        hot(0.2),
        sample(0.3, 79.0),
        hot(0.4),
    ]
    .into_iter()
    .enumerate()
    {
        g.observe(0, s).unwrap_or_else(|e| panic!("{k}: {e}"));
    }
    assert_eq!(g.stats().throttle_events(), 2);
    assert_eq!(g.stats().per_device[0].peak_temp_c, Some(84.0));
}

fn short_sim() -> sim::SimConfig {
    sim::SimConfig {
        duration_s: 200.0,
        ..sim::SimConfig::default()
    }
}

#[test]
fn simulation_is_reproducible_and_finishes_every_job() {
    let a = sim::run(&short_sim(), Policy::Predictive).unwrap();
    let b = sim::run(&short_sim(), Policy::Predictive).unwrap();
    assert_eq!(a.completed, a.jobs);
    assert_eq!(a.latencies_s, b.latencies_s);
    assert_eq!(a.energy_j, b.energy_j);
}

#[test]
fn predictive_throttles_less_than_round_robin_on_the_same_trace() {
    let rr = sim::run(&short_sim(), Policy::RoundRobin).unwrap();
    let pr = sim::run(&short_sim(), Policy::Predictive).unwrap();
    assert!(
        rr.throttle_events > 0,
        "the trace must make round-robin throttle"
    );
    assert!(
        pr.throttle_events < rr.throttle_events,
        "{} vs {}",
        pr.throttle_events,
        rr.throttle_events
    );
    assert!(pr.caps_applied > 0 || pr.migrations > 0);
}

#[test]
fn simulated_silence_and_loss_degrade_without_losing_jobs() {
    let quiet = sim::run(
        &sim::SimConfig {
            silence: Some((3, 50.0)),
            ..short_sim()
        },
        Policy::Predictive,
    )
    .unwrap();
    assert!(quiet.degraded > 0);
    assert_eq!(quiet.completed, quiet.jobs);
    let lost = sim::run(
        &sim::SimConfig {
            lose: Some((2, 60.0)),
            ..short_sim()
        },
        Policy::ThermalAware,
    )
    .unwrap();
    assert_eq!(lost.completed, lost.jobs);
    assert!(lost.migrations > 0);
}
