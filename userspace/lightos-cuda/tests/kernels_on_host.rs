//! The CUDA backend's kernels run on the host (tests/host_harness.cpp: every CUDA thread an OS
//! thread, `__syncthreads` a barrier) against the CPU backend's ops. Checks their logic without
//! a GPU: indexing, grid striding, the block reductions, masked rows, gamma and beta. Skips
//! where g++ is not installed; fails where it cannot build the harness.

use lightos_cpu::ops;
use lightos_cuda::kernels::{self, Unary};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The harness binary, built once per test run (`None`: no compiler here).
fn harness() -> Option<&'static PathBuf> {
    static BIN: OnceLock<Option<PathBuf>> = OnceLock::new();
    BIN.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cuda-host-harness");
        std::fs::create_dir_all(&dir).ok()?;
        std::fs::write(dir.join("kernels.cu"), kernels::SOURCE).ok()?;
        let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/host_harness.cpp");
        let bin = dir.join("harness");
        let status = Command::new("g++")
            .args(["-std=c++20", "-O1", "-pthread", "-w", "-I"])
            .arg(&dir)
            .arg(&src)
            .arg("-o")
            .arg(&bin)
            .status();
        match status {
            Ok(s) => {
                assert!(s.success(), "g++ failed to build the host harness");
                Some(bin)
            }
            Err(e) => {
                eprintln!("skipped: no g++ to build the host harness ({e})");
                None
            }
        }
    })
    .as_ref()
}

/// Runs `kernel` with `grid` blocks on `input`; `None` when the harness is unavailable.
fn run(kernel: &str, grid: u32, args: &[String], input: &[f32]) -> Option<Vec<f32>> {
    let bin = harness()?;
    let mut child = Command::new(bin)
        .arg(kernel)
        .arg(grid.to_string())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("harness starts");
    let bytes: Vec<u8> = input.iter().flat_map(|v| v.to_le_bytes()).collect();
    child.stdin.take().unwrap().write_all(&bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "harness {kernel} failed");
    Some(
        out.stdout
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect(),
    )
}

fn values(n: usize, seed: u32) -> Vec<f32> {
    (0..n)
        .map(|i| {
            ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) % 2001) as f32 / 250.0 - 4.0
        })
        .collect()
}

fn assert_close(got: &[f32], want: &[f32], tol: f32, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * w.abs().max(1.0),
            "{what}[{i}]: {g} vs {w}"
        );
    }
}

#[test]
fn binary_ops_stride_over_more_values_than_threads() {
    let (a, b) = (values(1000, 1), values(1000, 2));
    let input: Vec<f32> = a.iter().chain(&b).copied().collect();
    // 2 blocks of 256 threads for 1000 values: each thread handles two.
    for (op, f) in [
        (0, (|x, y| x + y) as fn(f32, f32) -> f32),
        (1, |x, y| x * y),
    ] {
        let Some(got) = run("binary", 2, &["1000".into(), op.to_string()], &input) else {
            return;
        };
        let want: Vec<f32> = a.iter().zip(&b).map(|(&x, &y)| f(x, y)).collect();
        assert_eq!(got, want, "op {op}");
    }
}

/// An op, its two parameters, what the CPU computes and the tolerance.
type UnaryCase = (Unary, f32, f32, Box<dyn Fn(f32) -> f32>, f32);

#[test]
fn unary_ops_match_the_cpu_backend() {
    let x = values(700, 3);
    let grid = kernels::elementwise_grid(x.len());
    let cases: [UnaryCase; 4] = [
        (Unary::Relu, 0.0, 0.0, Box::new(|v: f32| v.max(0.0)), 0.0),
        (Unary::Gelu, 0.0, 0.0, Box::new(ops::gelu), 1e-6),
        (Unary::Divide, 0.37, 0.0, Box::new(|v: f32| v / 0.37), 0.0),
        (
            Unary::SubMul,
            3.0,
            0.25,
            Box::new(|v: f32| (v - 3.0) * 0.25),
            0.0,
        ),
    ];
    for (op, p, q, f, tol) in cases {
        let args = [(op as i32).to_string(), p.to_string(), q.to_string()];
        let Some(got) = run("unary", grid, &args, &x) else {
            return;
        };
        let want: Vec<f32> = x.iter().map(|&v| f(v)).collect();
        assert_close(&got, &want, tol, &format!("{op:?}"));
    }
}

#[test]
fn softmax_matches_the_cpu_backend_and_zeroes_a_masked_row() {
    for d in [3usize, 256, 1000] {
        let mut x = values(4 * d, d as u32);
        x[2 * d..3 * d].fill(f32::NEG_INFINITY);
        x[d] = f32::NEG_INFINITY;
        let Some(got) = run("softmax", 4, &[d.to_string()], &x) else {
            return;
        };
        let mut want = x.clone();
        ops::softmax_rows(&mut want, d);
        assert_close(&got, &want, 1e-5, &format!("softmax d={d}"));
        assert!(got[2 * d..3 * d].iter().all(|&v| v == 0.0));
        assert_eq!(got[d], 0.0);
    }
}

#[test]
fn layernorm_matches_the_cpu_backend_with_and_without_gamma_beta() {
    for d in [5usize, 300] {
        let x = values(3 * d, 7);
        let (g, b) = (values(d, 8), values(d, 9));
        for affine in [false, true] {
            let mut input = x.clone();
            if affine {
                input.extend(&g);
                input.extend(&b);
            }
            let args = [d.to_string(), "1e-5".into(), u8::from(affine).to_string()];
            let Some(got) = run("layernorm", 3, &args, &input) else {
                return;
            };
            let mut want = x.clone();
            let (gg, bb) = if affine {
                (Some(&g[..]), Some(&b[..]))
            } else {
                (None, None)
            };
            ops::layernorm_rows(&mut want, d, 1e-5, gg, bb);
            assert_close(
                &got,
                &want,
                2e-5,
                &format!("layernorm d={d} affine={affine}"),
            );
        }
    }
}

#[test]
fn scale_mask_scales_and_hides_later_keys_per_batch() {
    let (b, s, t) = (2usize, 3usize, 5usize);
    let x = values(b * s * t, 14);
    for causal in [false, true] {
        let args = [
            s.to_string(),
            t.to_string(),
            "0.5".into(),
            u8::from(causal).to_string(),
        ];
        // One block for 30 values: every thread but the first 30 idle; and 1 block of striding.
        let Some(got) = run("scale_mask", 1, &args, &x) else {
            return;
        };
        for (idx, (&g, &v)) in got.iter().zip(&x).enumerate() {
            let (j, i) = (idx % t, (idx / t) % s);
            let want = if causal && j > i {
                f32::NEG_INFINITY
            } else {
                v * 0.5
            };
            assert_eq!(g, want, "causal={causal} [{idx}]");
        }
    }
}
