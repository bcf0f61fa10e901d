//! `lightos devices`: every backend the kernel knows (executors and devices) with what it runs,
//! its load and, where it has a thermal guard, its temperature; plus the CPU backend this process
//! can run locally, and this machine's NVIDIA GPUs (through NVML) with what `lightosd --backend
//! cuda` would need.

use lightos_cpu::{cache::CacheSizes, Gemm};
use lightos_cuda::nvml::{GpuSample, Telemetry};
use lightos_runtime::{
    accel::{Accelerator, DeviceKind, DeviceProps},
    dtype_names, op_names, Context, Op,
};
use std::path::Path;

/// This machine's GPUs as NVML sees them (index, name, a reading), or why there are none.
fn local_gpus() -> Result<Vec<(u32, String, Option<GpuSample>)>, String> {
    let t = Telemetry::open().map_err(|e| e.to_string())?;
    (0..t.count().map_err(|e| e.to_string())?)
        .map(|i| Ok((i, t.name(i).map_err(|e| e.to_string())?, t.sample(i).ok())))
        .collect()
}

fn determinism(d: &DeviceProps) -> &'static str {
    match d.deterministic_ops {
        0 => "none",
        m if m & d.ops == d.ops => "all ops",
        _ => "some ops",
    }
}

/// Lists the devices; `--json` gives one object with `kernel` and `local` arrays.
pub fn run(device: &Path, json: bool) -> Result<(), Box<dyn std::error::Error>> {
    let devices = Accelerator::with(Context::open_path(device)?)?.devices()?;
    let local = Gemm::new(0)?;
    let caches = CacheSizes::detect();
    let mut rows = Vec::new();
    if !json {
        println!("kernel backends ({}):", devices.len());
    }
    for d in &devices {
        let kind = match d.kind {
            DeviceKind::Hardware => "device",
            DeviceKind::Executor => "executor",
        };
        if json {
            rows.push(serde_json::json!({
                "name": d.name, "id": d.backend_id, "kind": kind,
                "ops": op_names(d.ops), "dtypes": dtype_names(d.dtypes),
                "deterministic_ops": op_names(d.deterministic_ops),
                "queued": d.queued, "running": d.running, "jobs": d.jobs, "errors": d.errors,
                "temp_c": d.temperature_c, "thermal_state": d.thermal_state,
            }));
            continue;
        }
        println!("  {} (backend {}, {kind})", d.name, d.backend_id);
        println!("    ops            {}", op_names(d.ops).join(" "));
        println!("    dtypes         {}", dtype_names(d.dtypes).join(" "));
        println!("    deterministic  {}", determinism(d));
        println!(
            "    load           {} queued, {} running; {} jobs done, {} errors",
            d.queued, d.running, d.jobs, d.errors
        );
        if let Some(t) = &d.thermal {
            println!(
                "    thermal        {:.2} °C, {} (throttle {:.0} °C, shutdown {:.0} °C), laser limit {} mW",
                f64::from(t.temp_mc) / 1000.0,
                t.state.name(),
                f64::from(t.throttle_mc) / 1000.0,
                f64::from(t.shutdown_mc) / 1000.0,
                t.laser_limit_mw
            );
        }
    }
    let local_ops = op_names(
        lightos_cpu::exec::OPS
            .iter()
            .filter_map(|&o| Op::from_raw(o))
            .fold(0, |m, o| m | o.bit()),
    );
    let gpus = local_gpus();
    // What `lightosd --backend cuda` needs beyond the GPU: the driver, cuBLAS and NVRTC.
    let cuda_ready = lightos_cuda::probe::check_libraries().map_err(|e| e.to_string());
    if json {
        let gpu_rows: Vec<_> = gpus
            .as_ref()
            .map(|g| {
                g.iter()
                    .map(|(i, name, s)| {
                        serde_json::json!({
                            "name": format!("cuda{i}"), "gpu": name,
                            "temp_c": s.map(|s| s.temperature_c), "power_w": s.map(|s| s.power_w),
                            "power_limit_w": s.map(|s| s.power_limit_w),
                            "utilization": s.map(|s| s.utilization),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let v = serde_json::json!({
            "kernel": rows,
            "gpus": gpu_rows,
            "gpus_unavailable": gpus.as_ref().err(),
            "cuda_backend_unavailable": cuda_ready.as_ref().err(),
            "local": [{
                "name": "cpu (lightos-cpu, in this process; lightosd serves it to the kernel)",
                "threads": local.threads(), "kernel": format!("{:?}", local.kernel()), "isa": local.kernels().to_string(),
                "l1d": caches.l1d, "l2": caches.l2, "l3": caches.l3,
                "ops": local_ops, "dtypes": dtype_names(lightos_cpu::exec::DTYPES),
            }],
        });
        println!("{v}");
        return Ok(());
    }
    if devices.is_empty() {
        println!("  (none: start `lightosd` for the CPU backend; load the photonic driver for photonic0)");
    }
    println!("local:");
    println!("  cpu (lightos-cpu in this process; `lightosd` serves it to the kernel)");
    println!(
        "    threads        {}, kernels {} (set {}=avx2|avxvnni|portable to force a lower ISA)",
        local.threads(),
        local.kernels(),
        lightos_cpu::gemm::isa::ISA_ENV
    );
    println!(
        "    caches         L1d {} KiB, L2 {} KiB, L3 {} KiB → blocks {:?}",
        caches.l1d >> 10,
        caches.l2 >> 10,
        caches.l3 >> 10,
        local.blocking()
    );
    println!("    ops            {}", local_ops.join(" "));
    println!(
        "    dtypes         {}",
        dtype_names(lightos_cpu::exec::DTYPES).join(" ")
    );
    println!("    deterministic  all ops (bit-identical for any thread count)");
    match &gpus {
        Err(why) => println!("  gpus: none ({why})"),
        Ok(g) if g.is_empty() => println!("  gpus: none (NVML reports no GPU)"),
        Ok(g) => {
            for (i, name, s) in g {
                println!("  cuda{i}: {name} (`lightosd --backend cuda --gpu {i}` serves it to the kernel)");
                if let Some(s) = s {
                    println!(
                        "    telemetry      {:.0} °C, {:.1} W of {:.0} W limit, {:.0} % busy",
                        s.temperature_c,
                        s.power_w,
                        s.power_limit_w,
                        s.utilization * 100.0
                    );
                }
            }
            if let Err(why) = &cuda_ready {
                println!("    cuda backend   unavailable: {why}");
            }
        }
    }
    Ok(())
}
