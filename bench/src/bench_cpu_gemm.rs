//! The CPU backend against the libraries users would otherwise call, in the same run, on the host
//! (the guest's TCG would measure the emulator):
//! 1. f32 GEMM against OpenBLAS (numpy), square n = 64 to 2048 and one-row (M = 1) shapes, 1 and 2
//!    threads; target ≥ 1.0× at every row.
//! 2. INT8 and bf16 against the CPU backend's own f32 (INT8 target ≥ 2× on VNNI), and against
//!    PyTorch's CPU `torch._int_mm` and bf16 `torch.matmul` (oneDNN).
//! 3. Convolution on ResNet-50's and SqueezeNet 1.1's layer shapes (bench/conv_shapes.json) against
//!    onnxruntime's CPU execution provider on one-node models.
//!
//! Baselines run in `LIGHTOS_BENCH_PYTHON` (bench/venv.sh's interpreter; default python3). Prints
//! Markdown tables between BENCH-TABLE-BEGIN/END lines and `CPU-GEMM-CONFIG:` / `CPU-ISA:` lines.

use half::bf16;
use lightos_bench::median_secs;
use lightos_cpu::conv::{conv2d, conv2d_packed, Conv2d, PackedFilter};
use lightos_cpu::{Gemm, MatRef};
use serde_json::Value;
use std::process::Command;

const DIR: &str = env!("CARGO_MANIFEST_DIR");

/// Runs a baseline script; its one JSON object.
fn python(script: &str, args: &[String], threads: usize) -> Result<Value, String> {
    let py = std::env::var("LIGHTOS_BENCH_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(&py)
        .arg(format!("{DIR}/{script}"))
        .args(args)
        .env("OPENBLAS_NUM_THREADS", threads.to_string())
        .env("OMP_NUM_THREADS", threads.to_string())
        .output()
        .map_err(|e| format!("{py}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{script} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("{script}: {e}"))
}

fn secs(v: &Value, path: &[&str]) -> f64 {
    path.iter()
        .fold(v, |v, k| &v[*k])
        .as_f64()
        .unwrap_or(f64::NAN)
}

/// Repeats for about 0.3 s of `flops` at ~100 GFLOP/s, 5 to 2000.
fn reps(flops: f64) -> usize {
    (0.3 / (flops / 1e11)).clamp(5.0, 2000.0) as usize
}

fn data<T>(len: usize, seed: usize, f: impl Fn(usize) -> T) -> Vec<T> {
    (0..len).map(|i| f(i * 7919 + seed * 104_729)).collect()
}

fn unit(v: usize) -> f32 {
    (v % 2001) as f32 / 1000.0 - 1.0
}

/// Median time of `C = A · B` (`m × k` by `k × n`) with elements from `fill`.
fn time_gemm<T: Copy, C: Copy + Default>(
    (m, k, n): (usize, usize, usize),
    fill: impl Fn(usize) -> T,
    gemm: impl Fn(MatRef<T>, MatRef<T>, &mut [C]),
) -> f64 {
    let (a, b) = (data(m * k, 1, &fill), data(k * n, 2, &fill));
    let mut c = vec![C::default(); m * n];
    let mut run = || {
        gemm(
            MatRef::row_major(&a, m, k).unwrap(),
            MatRef::row_major(&b, k, n).unwrap(),
            &mut c,
        )
    };
    run();
    median_secs(reps(2.0 * (m * k * n) as f64), run)
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "**not met**"
    }
}

/// `lo-hi` of some ratios.
fn span(v: Vec<f64>) -> String {
    let (lo, hi) = v
        .iter()
        .fold((f64::MAX, 0f64), |(l, h), &x| (l.min(x), h.max(x)));
    format!("{lo:.2}-{hi:.2}")
}

/// `met` / `not met`, for running text.
fn plain(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "not met"
    }
}

fn shape_name((m, k, n): (usize, usize, usize)) -> String {
    if m == k && k == n {
        m.to_string()
    } else {
        format!("{m}x{k}x{n}")
    }
}

fn die(e: String) -> ! {
    eprintln!("{e}");
    std::process::exit(1)
}

fn f32_table(threads: &[usize]) {
    let mut shapes: Vec<(usize, usize, usize)> =
        [64, 128, 256, 512, 1024, 2048].map(|n| (n, n, n)).into();
    shapes.extend([(1, 1024, 1024), (1, 4096, 4096), (1, 4096, 1024)]);
    let names: Vec<String> = shapes.iter().map(|&s| shape_name(s)).collect();
    println!("BENCH-TABLE-BEGIN");
    println!("| m×k×n | threads | LightOS f32 GFLOP/s | OpenBLAS f32 GFLOP/s | LightOS / OpenBLAS | target ≥ 1.0 |");
    println!("| ---: | ---: | ---: | ---: | ---: | :--- |");
    let mut blas = String::new();
    let mut ratios: Vec<(usize, bool, f64)> = Vec::new(); // (threads, one-row, ratio)
    for &t in threads {
        let g = Gemm::new(t).expect("thread pool");
        let base = python(
            "numpy_gemm.py",
            &[vec![t.to_string()], names.clone()].concat(),
            t,
        )
        .unwrap_or_else(|e| die(e));
        blas = base["blas"].as_str().unwrap_or("?").to_string();
        for (s, name) in shapes.iter().zip(&names) {
            let ours = time_gemm(*s, unit, |a, b, c: &mut [f32]| g.run(a, b, c, s.2).unwrap());
            let theirs = secs(&base, &["results", name]);
            let gf = |secs: f64| 2.0 * (s.0 * s.1 * s.2) as f64 / secs / 1e9;
            let r = theirs / ours;
            ratios.push((t, s.0 == 1, r));
            println!(
                "| {name} | {t} | {:.1} | {:.1} | {r:.2} | {} |",
                gf(ours),
                gf(theirs),
                verdict(r >= 1.0)
            );
        }
    }
    println!("BENCH-TABLE-END");
    println!("CPU-GEMM-CONFIG: {blas}");
    let met = ratios.iter().filter(|r| r.2 >= 1.0).count();
    let range = |f: &dyn Fn(&(usize, bool, f64)) -> bool| {
        span(ratios.iter().filter(|r| f(r)).map(|r| r.2).collect())
    };
    println!(
        "CPU-SUMMARY-F32: f32 target ≥ 1.0× OpenBLAS at every row: {} ({met} of {} rows met); square sizes {} on 1 thread and {} on {} threads, one-row shapes {} and {}",
        plain(met == ratios.len()),
        ratios.len(),
        range(&|r| r.0 == 1 && !r.1),
        range(&|r| r.0 > 1 && !r.1),
        threads.last().unwrap_or(&1),
        range(&|r| r.0 == 1 && r.1),
        range(&|r| r.0 > 1 && r.1),
    );
}

fn low_precision_table(threads: &[usize]) {
    let sizes = [256usize, 512, 1024, 2048];
    let args: Vec<String> = sizes.iter().map(|n| n.to_string()).collect();
    println!("BENCH-TABLE-BEGIN");
    println!("| n | threads | LightOS f32 GFLOP/s | LightOS INT8 GOP/s | INT8 / f32 (target ≥ 2) | torch `_int_mm` GOP/s | LightOS / torch INT8 | LightOS bf16 GFLOP/s (default kernel) | bf16 / f32 | bf16 on `vdpbf16ps` GFLOP/s | torch bf16 GFLOP/s | LightOS / torch bf16 |");
    println!(
        "| ---: | ---: | ---: | ---: | :--- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    let mut torch_desc = String::new();
    let mut q8 = Vec::new(); // (INT8 / f32, LightOS / torch INT8, bf16 default / f32, native / f32)
    for &t in threads {
        let g = Gemm::new(t).expect("thread pool");
        let native = g
            .kernels()
            .with_native_bf16()
            .map(|k| Gemm::with(t, g.blocking(), k).expect("thread pool"));
        let torch = python(
            "torch_cpu.py",
            &[vec![t.to_string()], args.clone()].concat(),
            t,
        )
        .unwrap_or_else(|e| die(e));
        torch_desc = format!(
            "torch {} (oneDNN: bf16 matmul `{}`, int8 `{}`)",
            torch["torch"].as_str().unwrap_or("?"),
            torch["mkldnn_bf16"]["impl"].as_str().unwrap_or("?"),
            torch["mkldnn_bf16"]["int8_impl"].as_str().unwrap_or("?")
        );
        for &n in &sizes {
            let s = (n, n, n);
            let f = time_gemm(s, unit, |a, b, c: &mut [f32]| g.run(a, b, c, n).unwrap());
            let q = time_gemm(
                s,
                |v| (v % 255) as u8 as i8,
                |a, b, c: &mut [i32]| g.run_i8(a, b, c, n).unwrap(),
            );
            let h = time_gemm(
                s,
                |v| bf16::from_f32(unit(v)),
                |a, b, c: &mut [f32]| g.run(a, b, c, n).unwrap(),
            );
            let hn = native.as_ref().map(|gn| {
                time_gemm(
                    s,
                    |v| bf16::from_f32(unit(v)),
                    |a, b, c: &mut [f32]| gn.run(a, b, c, n).unwrap(),
                )
            });
            let key = n.to_string();
            let (ti, tb) = (
                secs(&torch, &["results", "int8", &key]),
                secs(&torch, &["results", "bf16", &key]),
            );
            let gops = |secs: f64| 2.0 * (n * n * n) as f64 / secs / 1e9;
            q8.push((f / q, ti / q, f / h, hn.map(|hn| f / hn)));
            println!(
                "| {n} | {t} | {:.1} | {:.1} | {:.2} {} | {:.1} | {:.2} | {:.1} | {:.2} | {} | {:.1} | {:.2} |",
                gops(f),
                gops(q),
                f / q,
                verdict(f / q >= 2.0),
                gops(ti),
                ti / q,
                gops(h),
                f / h,
                hn.map_or("no AVX-512 BF16".into(), |hn| format!("{:.1}", gops(hn))),
                gops(tb),
                tb / h
            );
        }
    }
    println!("BENCH-TABLE-END");
    println!("CPU-TORCH: {torch_desc}");
    let met = q8.iter().filter(|r| r.0 >= 2.0).count();
    println!(
        "CPU-SUMMARY-INT8: INT8 target ≥ 2× f32: {} ({met} of {} rows; {}×); {}× the speed of torch's `_int_mm`",
        plain(met == q8.len()),
        q8.len(),
        span(q8.iter().map(|r| r.0).collect()),
        span(q8.iter().map(|r| r.1).collect()),
    );
    let native: Vec<f64> = q8.iter().filter_map(|r| r.3).collect();
    println!(
        "CPU-SUMMARY-BF16: bf16 on the default kernel {}× the speed of f32; on `vdpbf16ps` {}",
        span(q8.iter().map(|r| r.2).collect()),
        if native.is_empty() {
            "not measured (no AVX-512 BF16)".to_string()
        } else {
            format!("{}×", span(native))
        }
    );
}

fn conv_table(threads: &[usize]) {
    let path = format!("{DIR}/conv_shapes.json");
    let shapes: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).expect("conv_shapes.json");
    let u = |v: &Value, k: &str| v[k].as_u64().unwrap_or(0) as usize;
    println!("BENCH-TABLE-BEGIN");
    println!("| model | layer | C×H×W → O, k×k / s | threads | LightOS ms | LightOS ms, filter packed per call | onnxruntime ms | LightOS / onnxruntime (≥ 1: LightOS faster) |");
    println!("| :--- | :--- | :--- | ---: | ---: | ---: | ---: | ---: |");
    let mut totals = Vec::new();
    let mut ort_version = String::new();
    for &t in threads {
        let g = Gemm::new(t).expect("thread pool");
        let ort =
            python("ort_conv.py", &[t.to_string(), path.clone()], t).unwrap_or_else(|e| die(e));
        ort_version = ort["onnxruntime"].as_str().unwrap_or("?").to_string();
        let mut sum = std::collections::BTreeMap::<String, (f64, f64)>::new();
        for s in &shapes {
            let model = s["model"].as_str().unwrap_or("?").to_string();
            let name = s["name"].as_str().unwrap_or("?");
            let p = Conv2d {
                dilation: [u(s, "dilation").max(1); 2],
                groups: u(s, "groups").max(1),
                ..Conv2d::new(
                    [1, u(s, "c"), u(s, "h"), u(s, "w")],
                    [
                        u(s, "o"),
                        u(s, "c") / u(s, "groups").max(1),
                        u(s, "kh"),
                        u(s, "kw"),
                    ],
                    u(s, "stride"),
                    u(s, "pad"),
                )
            };
            let x = data(p.input.iter().product(), 1, unit);
            let w = data(p.weights.iter().product(), 2, unit);
            let bias = data(p.weights[0], 3, unit);
            let filter = PackedFilter::new(&g, &w, &p).unwrap();
            let packed = || {
                conv2d_packed(&g, &x, &filter, Some(&bias)).unwrap();
            };
            let per_call = || {
                conv2d(&g, &x, &w, Some(&bias), &p).unwrap();
            };
            let (oh, ow) = p.out_hw().unwrap();
            let flops = 2.0 * (p.weights.iter().product::<usize>() * oh * ow) as f64;
            packed();
            let ours = median_secs(reps(flops), packed);
            per_call();
            let unpacked = median_secs(reps(flops), per_call);
            let theirs = secs(&ort, &["results", &format!("{model}/{name}")]);
            let count = u(s, "count").max(1) as f64;
            let e = sum.entry(model.clone()).or_default();
            (e.0, e.1) = (e.0 + count * ours, e.1 + count * theirs);
            println!(
                "| {model} | {name} | {}×{}×{} → {}, {}×{} / {} | {t} | {:.3} | {:.3} | {:.3} | {:.2} |",
                p.input[1],
                p.input[2],
                p.input[3],
                p.weights[0],
                p.weights[2],
                p.weights[3],
                p.stride[0],
                ours * 1e3,
                unpacked * 1e3,
                theirs * 1e3,
                theirs / ours
            );
        }
        totals.extend(sum.into_iter().map(|(m, (o, r))| (m, t, o, r)));
    }
    println!("BENCH-TABLE-END");
    println!("BENCH-TABLE-BEGIN");
    println!("| model (every conv layer, counted as often as it occurs) | threads | LightOS ms | onnxruntime ms | LightOS / onnxruntime |");
    println!("| :--- | ---: | ---: | ---: | ---: |");
    let mut summary = Vec::new();
    for (m, t, o, r) in totals {
        println!(
            "| {m} | {t} | {:.2} | {:.2} | {:.2} |",
            o * 1e3,
            r * 1e3,
            r / o
        );
        let plural = if t > 1 { "s" } else { "" };
        summary.push(format!("{m} {:.2}× on {t} thread{plural}", r / o));
    }
    println!("BENCH-TABLE-END");
    println!(
        "CPU-SUMMARY-CONV: Convolution (every conv layer of a model), LightOS's speed relative to onnxruntime: {}",
        summary.join(", ")
    );
    println!("CPU-ORT: onnxruntime {ort_version}");
}

fn main() {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads: Vec<usize> = if cpus > 1 { vec![1, cpus] } else { vec![1] };
    let g = Gemm::new(cpus).unwrap_or_else(|e| die(e.to_string()));
    println!("CPU-ISA: {}; blocking {:?}", g.kernels(), g.blocking());
    let only = std::env::args().nth(1);
    let want = |t: &str| only.as_deref().is_none_or(|o| o == t);
    if want("f32") {
        f32_table(&threads);
    }
    if want("low") {
        low_precision_table(&threads);
    }
    if want("conv") {
        conv_table(&threads);
    }
}
