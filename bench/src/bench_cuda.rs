//! The CUDA backend on GPU 0 against PyTorch on the same GPU in the same run: bf16 GEMM
//! (cuBLAS through `CudaDevice::gemm`, FP32 accumulation, bf16 out) and the NVRTC softmax, each
//! on device-resident data, against `torch.matmul` and `torch.softmax` (bench/torch_cuda.py).
//! Without a CUDA driver it prints `CUDA-SKIPPED:` and why, and exits 0; without torch, the
//! baseline columns say "n/a".

use lightos_cuda::gemm::{ColumnMajorCall, GemmType};
use lightos_cuda::{CudaDevice, CudaError};
use std::process::Command;
use std::time::Instant;

const GEMM_SIZES: [usize; 3] = [2048, 4096, 8192];
const SOFTMAX_SHAPE: (usize, usize) = (8192, 4096);
const REPEATS: usize = 20;

fn bf16_bytes(n: usize, seed: u32) -> Vec<u8> {
    (0..n)
        .flat_map(|i| {
            let v = ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) % 2001) as f32
                / 1000.0
                - 1.0;
            half::bf16::from_f32(v).to_bits().to_le_bytes()
        })
        .collect()
}

/// Seconds per call of `f` (after 3 warm-ups), the device synchronized around the timing.
fn time(dev: &CudaDevice, mut f: impl FnMut() -> Result<(), CudaError>) -> Result<f64, CudaError> {
    for _ in 0..3 {
        f()?;
    }
    dev.synchronize()?;
    let t = Instant::now();
    for _ in 0..REPEATS {
        f()?;
    }
    dev.synchronize()?;
    Ok(t.elapsed().as_secs_f64() / REPEATS as f64)
}

/// PyTorch's figures from bench/torch_cuda.py: (TFLOP/s per GEMM size, softmax seconds), or why not.
fn torch_baseline() -> Result<(Vec<f64>, f64), String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/torch_cuda.py");
    let sizes: Vec<String> = GEMM_SIZES.iter().map(|s| s.to_string()).collect();
    let out = Command::new("python3")
        .arg(script)
        .args(["--sizes", &sizes.join(",")])
        .args([
            "--softmax",
            &format!("{}x{}", SOFTMAX_SHAPE.0, SOFTMAX_SHAPE.1),
        ])
        .args(["--repeats", &REPEATS.to_string()])
        .output()
        .map_err(|e| format!("python3: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("torch_cuda.py output: {e}"))?;
    let tflops = v["gemm_tflops"]
        .as_array()
        .ok_or("no gemm_tflops")?
        .iter()
        .filter_map(|x| x.as_f64())
        .collect();
    Ok((tflops, v["softmax_s"].as_f64().ok_or("no softmax_s")?))
}

fn main() -> std::process::ExitCode {
    let dev = match CudaDevice::open(0) {
        Ok(d) => d,
        Err(CudaError::Unavailable(why)) => {
            println!("CUDA-SKIPPED: no CUDA driver ({why})");
            return std::process::ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("bench_cuda: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match run(&dev) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_cuda: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(dev: &CudaDevice) -> Result<(), CudaError> {
    let info = dev.info();
    println!(
        "CUDA-DEVICE: {} ({} MiB, compute capability {}.{})",
        info.name,
        info.memory >> 20,
        info.capability.0,
        info.capability.1
    );
    let torch = torch_baseline();
    if let Err(why) = &torch {
        eprintln!("bench_cuda: no PyTorch baseline: {why}");
    }
    let ratio = |ours: f64, theirs: Option<f64>| {
        theirs.map_or("n/a".to_string(), |t| format!("{:.3}", ours / t))
    };
    let fmt =
        |v: Option<f64>, digits: usize| v.map_or("n/a".to_string(), |x| format!("{x:.digits$}"));
    println!("BENCH-TABLE-BEGIN");
    println!("| op | shape | LightOS CUDA | PyTorch | LightOS / PyTorch |");
    println!("|---|---|---|---|---|");
    for (i, &n) in GEMM_SIZES.iter().enumerate() {
        let call = ColumnMajorCall::for_row_major(1, n, n, n)?;
        let a = dev.upload(&bf16_bytes(n * n, 1))?;
        let b = dev.upload(&bf16_bytes(n * n, 2))?;
        let mut c = dev.zeros::<u8>(n * n * 2)?;
        let s = time(dev, || {
            dev.gemm(GemmType::Bf16ToBf16, &call, &a, &b, &mut c)
        })?;
        let ours = 2.0 * (n as f64).powi(3) / s / 1e12;
        let theirs = torch.as_ref().ok().and_then(|(t, _)| t.get(i).copied());
        println!(
            "| bf16 GEMM, TFLOP/s | {n}³ | {ours:.1} | {} | {} |",
            fmt(theirs, 1),
            ratio(ours, theirs)
        );
    }
    let (rows, d) = SOFTMAX_SHAPE;
    let mut x = dev.upload(&vec![0.5f32; rows * d])?;
    let s = time(dev, || dev.softmax_rows(&mut x, d))?;
    let theirs = torch.as_ref().ok().map(|(_, t)| *t);
    // Time ratio inverted so that, as above, > 1 means LightOS is faster.
    println!(
        "| f32 softmax (NVRTC), µs | {rows}×{d} | {:.1} | {} | {} |",
        s * 1e6,
        fmt(theirs.map(|t| t * 1e6), 1),
        theirs.map_or("n/a".to_string(), |t| format!("{:.3}", t / s))
    );
    println!("BENCH-TABLE-END");
    Ok(())
}
