//! The live PowerGovernor over a GPU executor (`cuda0`) whose NVML telemetry is a fake GPU
//! (there is no GPU in the VM): its readings reach the governor, a job predicted to overheat it
//! goes elsewhere, caps and their release become power-limit calls, a refused limit is not fatal,
//! and a GPU that stops answering degrades placement. The executor itself is lightosd's CPU
//! backend registered under the GPU's name: only the telemetry is faked, the kernel path is real.

use lightos_governor::{
    gpu::{GpuLimits, GpuReading, GpuTelemetry},
    live::{LiveError, LiveGovernor},
    Action, GovernorConfig, JobProfile, Policy, Throttle,
};
use lightos_runtime::Context;
use lightos_vm_tests::ExecutorThread;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A GPU whose readings the test sets and whose power-limit calls it records.
#[derive(Debug, Default)]
struct FakeGpu {
    reading: Mutex<Option<GpuReading>>,
    limits_set: Mutex<Vec<f64>>,
    refuse_limits: bool,
}

const LIMITS: GpuLimits = GpuLimits {
    slowdown_c: 87.0,
    min_power_w: 200.0,
    max_power_w: 700.0,
    default_power_w: 700.0,
};

#[derive(Debug)]
struct Shared(Arc<FakeGpu>);

impl GpuTelemetry for Shared {
    fn limits(&self, gpu: u32) -> Result<GpuLimits, String> {
        assert_eq!(gpu, 0, "cuda0 is GPU 0");
        Ok(LIMITS)
    }
    fn read(&self, _: u32) -> Result<GpuReading, String> {
        self.0
            .reading
            .lock()
            .unwrap()
            .ok_or_else(|| "GPU is lost".into())
    }
    fn set_power_limit(&self, _: u32, watts: f64) -> Result<f64, String> {
        if self.0.refuse_limits {
            return Err("Insufficient Permissions".into());
        }
        let set = watts.clamp(LIMITS.min_power_w, LIMITS.max_power_w);
        self.0.limits_set.lock().unwrap().push(set);
        Ok(set)
    }
}

/// Idle at 84 °C (a hot inlet the governor cannot see), 3 K under its slowdown point.
fn hot_idle() -> GpuReading {
    GpuReading {
        temp_c: 84.0,
        power_w: 90.0,
        power_limit_w: 700.0,
        utilization: 0.0,
        throttle: Throttle::None,
    }
}

fn governor(fake: &Arc<FakeGpu>, stale_after_s: f64) -> LiveGovernor {
    let cfg = GovernorConfig {
        policy: Policy::Predictive,
        stale_after_s,
        ..GovernorConfig::default()
    };
    let gpus: Box<dyn GpuTelemetry> = Box::new(Shared(fake.clone()));
    let mut gov = LiveGovernor::with_gpus(
        Context::open().unwrap(),
        cfg,
        &["cuda0", "cpu-g"],
        Some(gpus),
    )
    .unwrap();
    for _ in 0..60 {
        gov.poll().unwrap();
        std::thread::sleep(Duration::from_millis(10));
    }
    gov
}

#[test]
fn a_hot_gpu_gets_light_work_only_and_is_capped_before_a_heavy_job_then_released() {
    let (_gpu, _cpu) = (
        ExecutorThread::lightosd("cuda0", 1),
        ExecutorThread::lightosd("cpu-g", 1),
    );
    let fake = Arc::new(FakeGpu::default());
    *fake.reading.lock().unwrap() = Some(hot_idle());
    let mut gov = governor(&fake, 5.0);
    let (gpu, cpu) = (gov.index("cuda0").unwrap(), gov.index("cpu-g").unwrap());
    assert_eq!(
        gov.governor().stats().per_device[gpu].peak_temp_c,
        Some(84.0),
        "readings arrive"
    );
    let heavy = JobProfile::dense(500.0, 60.0);
    let d = gov.place(&heavy).unwrap();
    assert_eq!(
        d.device, cpu,
        "the heavy job avoids the hot GPU: {}",
        d.reason
    );
    assert!(!d.degraded);
    let light = gov.place(&JobProfile::dense(1.0, 0.1)).unwrap();
    assert_eq!(
        light.device, gpu,
        "a light job still fits: {}",
        light.reason
    );
    // The heavy job pinned to the GPU: a power limit under its default before it starts.
    let actions = gov.start(gpu, &heavy).unwrap();
    let Some(&Action::PowerCap { watts, .. }) = actions
        .iter()
        .find(|a| matches!(a, Action::PowerCap { device, .. } if *device == gpu))
    else {
        panic!("no power cap on the GPU before a predicted slowdown: {actions:?}");
    };
    let set = fake.limits_set.lock().unwrap().clone();
    assert_eq!(set, vec![watts.clamp(200.0, 700.0)], "the cap reached NVML");
    assert!(set[0] < 700.0);
    gov.finish(gpu, &heavy).unwrap();
    gov.finish(gpu, &JobProfile::dense(1.0, 0.1)).unwrap();
    assert_eq!(
        fake.limits_set.lock().unwrap().last(),
        Some(&700.0),
        "the default limit is restored when the GPU is idle"
    );
}

#[test]
fn a_refused_power_limit_is_logged_not_fatal() {
    let (_gpu, _cpu) = (
        ExecutorThread::lightosd("cuda0", 1),
        ExecutorThread::lightosd("cpu-g", 1),
    );
    let fake = Arc::new(FakeGpu {
        refuse_limits: true,
        ..FakeGpu::default()
    });
    *fake.reading.lock().unwrap() = Some(hot_idle());
    let mut gov = governor(&fake, 5.0);
    let gpu = gov.index("cuda0").unwrap();
    let actions = gov.start(gpu, &JobProfile::dense(500.0, 60.0)).unwrap();
    assert!(
        actions.iter().any(|a| matches!(a, Action::PowerCap { .. })),
        "{actions:?}"
    );
    assert!(fake.limits_set.lock().unwrap().is_empty());
}

#[test]
fn a_gpu_that_stops_answering_degrades_placement() {
    let (_gpu, _cpu) = (
        ExecutorThread::lightosd("cuda0", 1),
        ExecutorThread::lightosd("cpu-g", 1),
    );
    let fake = Arc::new(FakeGpu::default());
    *fake.reading.lock().unwrap() = Some(hot_idle());
    let mut gov = governor(&fake, 0.3);
    assert!(!gov.place(&JobProfile::dense(1.0, 0.1)).unwrap().degraded);
    *fake.reading.lock().unwrap() = None;
    std::thread::sleep(Duration::from_millis(500));
    gov.poll().unwrap();
    let d = gov.place(&JobProfile::dense(1.0, 0.1)).unwrap();
    assert!(d.degraded, "stale GPU telemetry must degrade: {}", d.reason);
}

#[test]
fn a_gpu_unreadable_when_it_joins_is_an_error_naming_it() {
    let _gpu = ExecutorThread::lightosd("cuda0", 1);
    let fake = Arc::new(FakeGpu::default());
    let gpus: Box<dyn GpuTelemetry> = Box::new(Shared(fake));
    let err = LiveGovernor::with_gpus(
        Context::open().unwrap(),
        GovernorConfig::default(),
        &["cuda0"],
        Some(gpus),
    )
    .unwrap_err();
    assert!(
        matches!(&err, LiveError::Gpu { name, .. } if name == "cuda0"),
        "{err}"
    );
}

#[test]
fn without_gpu_telemetry_a_cuda_executor_is_governed_as_a_plain_executor() {
    let _gpu = ExecutorThread::lightosd("cuda0", 1);
    let mut gov = LiveGovernor::new(
        Context::open().unwrap(),
        GovernorConfig::default(),
        &["cuda0"],
    )
    .unwrap();
    gov.poll().unwrap();
    let d = gov.place(&JobProfile::dense(500.0, 60.0)).unwrap();
    assert_eq!(d.device, 0);
    assert!(gov
        .start(0, &JobProfile::dense(500.0, 60.0))
        .unwrap()
        .is_empty());
}
