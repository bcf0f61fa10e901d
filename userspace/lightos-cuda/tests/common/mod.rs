//! Primitive-by-primitive checks of `lightos_cuda::exec` against the CPU backend, generic over
//! the engine: `on_gpu.rs` runs them on a GPU, `exec_on_host.rs` on the host engine.
#![allow(dead_code, clippy::useless_vec)]

use lightos_cpu::round::Rounding;
use lightos_cpu::tensor::{dtype_size, load_f32, store_f32};
use lightos_cpu::Gemm;
use lightos_cpu::{exec::primitive as prim, tensor::describe as t};
use lightos_cuda::{engine::Engine, exec, CudaError};
use lightos_uapi as uapi;

/// `values` encoded as `dtype` (round to nearest even), with slack after them.
pub fn bytes(values: &[f32], dtype: u8) -> Vec<u8> {
    let mut out = vec![0u8; values.len() * dtype_size(dtype).unwrap() + 64];
    let tt = t(&[values.len() as u64], 0, &[]);
    store_f32(values, &mut out, &tt, dtype, &mut Rounding::NearestEven).unwrap();
    out
}

/// Deterministic values in [-2, 2).
pub fn values(n: usize, seed: u32) -> Vec<f32> {
    (0..n)
        .map(|i| {
            ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) % 2001) as f32 / 500.0 - 2.0
        })
        .collect()
}

/// Runs `p` on the engine and on the CPU backend; returns (engine, CPU) outputs read as f32.
fn both<E: Engine>(
    dev: &E,
    p: &uapi::Primitive,
    inputs: &[Vec<u8>],
    out_len: usize,
) -> (Vec<f32>, Vec<f32>) {
    let ins: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
    let ot = &p.operands[usize::from(p.n_inputs)];
    let out_dtype = p.output_dtype();
    let (mut gpu_out, mut cpu_out) = (vec![0u8; out_len], vec![0u8; out_len]);
    exec::execute(dev, p, &ins, &mut gpu_out).expect("the engine runs it");
    lightos_cpu::exec::execute(&Gemm::new(2).unwrap(), p, &ins, &mut cpu_out).expect("CPU runs it");
    (
        load_f32(&gpu_out, ot, out_dtype).unwrap(),
        load_f32(&cpu_out, ot, out_dtype).unwrap(),
    )
}

fn assert_close(got: &[f32], want: &[f32], rel: f32, what: &str) {
    let scale = want.iter().fold(1f32, |m, v| m.max(v.abs()));
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= rel * scale,
            "{what}[{i}]: engine {g} vs CPU {w}"
        );
    }
}

/// MATMUL in every dtype, batched, B read through strides (transposed storage).
pub fn matmul_in_every_dtype_batched_and_strided<E: Engine>(dev: &E) {
    let (b, m, k, n) = (2u64, 33u64, 70u64, 19u64);
    for (dtype, rel) in [
        (uapi::DTYPE_F32, 1e-5),
        (uapi::DTYPE_F16, 1e-3),
        (uapi::DTYPE_BF16, 1e-2),
        (uapi::DTYPE_I8, 0.0),
        (uapi::DTYPE_FP8_E4M3, 1e-5),
    ] {
        let scale = if dtype == uapi::DTYPE_I8 { 60.0 } else { 1.0 };
        let a: Vec<f32> = values((b * m * k) as usize, 1)
            .iter()
            .map(|v| (v * scale).round_ties_even())
            .collect();
        let w: Vec<f32> = values((b * k * n) as usize, 2)
            .iter()
            .map(|v| (v * scale).round_ties_even())
            .collect();
        // B stored transposed: strides (k*n, 1, k) read it as [b, k, n].
        let p = prim(
            uapi::OP_MATMUL,
            dtype,
            uapi::DTYPE_F32,
            &[
                t(&[b, m, k], 0, &[]),
                t(&[b, k, n], 0, &[k * n, 1, k]),
                t(&[b, m, n], 0, &[]),
            ],
        );
        let ins = [bytes(&a, dtype), bytes(&w, dtype)];
        let (got, want) = both(dev, &p, &ins, (b * m * n * 4) as usize);
        assert_close(&got, &want, rel, &format!("MATMUL dtype {dtype}"));
    }
}

/// INT8 MATMUL stays exact past f32's 2^24, with per-column scales and zero points applied.
pub fn int8_matmul_exact_and_dequantized<E: Engine>(dev: &E) {
    let (m, k, n) = (4u64, 4096u64, 3u64);
    let a = vec![127f32; (m * k) as usize];
    let w: Vec<f32> = (0..k * n)
        .map(|i| if i % 2 == 0 { 127.0 } else { 126.0 })
        .collect();
    let p = prim(
        uapi::OP_MATMUL,
        uapi::DTYPE_I8,
        uapi::DTYPE_F32,
        &[t(&[m, k], 0, &[]), t(&[k, n], 0, &[]), t(&[m, n], 0, &[])],
    );
    let ins = [bytes(&a, uapi::DTYPE_I8), bytes(&w, uapi::DTYPE_I8)];
    let (got, want) = both(dev, &p, &ins, (m * n * 4) as usize);
    assert_eq!(got, want, "raw sums");
    // Scales: A 0.02 with zero point 3, B per column with zero point -2.
    let mut p = prim(
        uapi::OP_MATMUL,
        uapi::DTYPE_I8,
        uapi::DTYPE_F32,
        &[
            t(&[m, k], 0, &[]),
            t(&[k, n], 0, &[]),
            t(&[n], 0, &[]),
            t(&[m, n], 0, &[]),
        ],
    );
    p.params[0] = u64::from(0.02f32.to_bits()) | (3u64 << 32);
    p.params[1] = u64::from((-2i32) as u32) << 32;
    let ins = [
        bytes(&a, uapi::DTYPE_I8),
        bytes(&w, uapi::DTYPE_I8),
        bytes(&[0.5, 0.25, 0.125], uapi::DTYPE_F32),
    ];
    let (got, want) = both(dev, &p, &ins, (m * n * 4) as usize);
    assert_eq!(got, want, "dequantized");
}

/// SOFTMAX, GELU, RELU, LAYERNORM with gamma and beta, and a bf16 ADD.
pub fn row_and_elementwise_ops<E: Engine>(dev: &E) {
    let (rows, d) = (7u64, 300u64);
    let x = values((rows * d) as usize, 3);
    let shape = t(&[rows, d], 0, &[]);
    for (op, rel) in [
        (uapi::OP_SOFTMAX, 1e-5),
        (uapi::OP_GELU, 1e-5),
        (uapi::OP_RELU, 0.0),
    ] {
        let p = prim(op, uapi::DTYPE_F32, 0, &[shape, shape]);
        let (got, want) = both(
            dev,
            &p,
            &[bytes(&x, uapi::DTYPE_F32)],
            (rows * d * 4) as usize,
        );
        assert_close(&got, &want, rel, &format!("op {op}"));
    }
    let (g, b) = (values(d as usize, 4), values(d as usize, 5));
    let vec_t = t(&[d], 0, &[]);
    let p = prim(
        uapi::OP_LAYERNORM,
        uapi::DTYPE_F32,
        0,
        &[shape, vec_t, vec_t, shape],
    );
    let ins = [
        bytes(&x, uapi::DTYPE_F32),
        bytes(&g, uapi::DTYPE_F32),
        bytes(&b, uapi::DTYPE_F32),
    ];
    let (got, want) = both(dev, &p, &ins, (rows * d * 4) as usize);
    assert_close(&got, &want, 1e-4, "LAYERNORM");
    let p = prim(uapi::OP_ADD, uapi::DTYPE_BF16, 0, &[shape, shape, shape]);
    let ins = [
        bytes(&x, uapi::DTYPE_BF16),
        bytes(&g.repeat(rows as usize), uapi::DTYPE_BF16),
    ];
    let (got, want) = both(dev, &p, &ins, (rows * d * 2) as usize);
    assert_eq!(got, want, "ADD bf16");
}

/// QUANTIZE to i8 and FP8 and back: bit-identical to the CPU backend.
pub fn quantize_and_dequantize<E: Engine>(dev: &E) {
    let n = 1000u64;
    let x = values(n as usize, 6);
    let v = t(&[n], 0, &[]);
    for out_dtype in [uapi::DTYPE_I8, uapi::DTYPE_FP8_E4M3] {
        let mut p = prim(uapi::OP_QUANTIZE, uapi::DTYPE_F32, out_dtype, &[v, v]);
        p.params[0] = u64::from(0.0173f32.to_bits());
        if out_dtype == uapi::DTYPE_I8 {
            p.params[1] = 5;
        }
        let (got, want) = both(dev, &p, &[bytes(&x, uapi::DTYPE_F32)], n as usize);
        assert_eq!(got, want, "QUANTIZE to {out_dtype}");
        let mut d = prim(uapi::OP_DEQUANTIZE, out_dtype, uapi::DTYPE_F32, &[v, v]);
        d.params = p.params;
        let q = bytes(&got, out_dtype);
        let (got, want) = both(dev, &d, &[q], (n * 4) as usize);
        assert_eq!(got, want, "DEQUANTIZE from {out_dtype}");
    }
}

/// ATTENTION with the default and an explicit scale, causal and not, S ≠ T, D ≠ E.
pub fn attention<E: Engine>(dev: &E) {
    let (b, s, keys, d, e) = (2u64, 5u64, 7u64, 8u64, 3u64);
    let (q, k, v) = (
        values((b * s * d) as usize, 11),
        values((b * keys * d) as usize, 12),
        values((b * keys * e) as usize, 13),
    );
    let ins = [
        bytes(&q, uapi::DTYPE_F32),
        bytes(&k, uapi::DTYPE_F32),
        bytes(&v, uapi::DTYPE_F32),
    ];
    for (causal, scale) in [
        (false, 0u64),
        (true, 0),
        (true, u64::from(0.2f32.to_bits())),
    ] {
        let mut p = prim(
            uapi::OP_ATTENTION,
            uapi::DTYPE_F32,
            0,
            &[
                t(&[b, s, d], 0, &[]),
                t(&[b, keys, d], 0, &[]),
                t(&[b, keys, e], 0, &[]),
                t(&[b, s, e], 0, &[]),
            ],
        );
        p.params[0] = scale;
        if causal {
            p.flags |= uapi::PRIM_CAUSAL;
        }
        let (got, want) = both(dev, &p, &ins, (b * s * e * 4) as usize);
        assert_close(
            &got,
            &want,
            1e-5,
            &format!("ATTENTION causal={causal} scale={scale}"),
        );
    }
}

/// A zero scale, an op the backend does not run and a short buffer are errors.
pub fn bad_input_is_an_error<E: Engine>(dev: &E) {
    let v = t(&[4], 0, &[]);
    let mut p = prim(uapi::OP_QUANTIZE, uapi::DTYPE_F32, uapi::DTYPE_I8, &[v, v]);
    p.params[0] = u64::from(0f32.to_bits());
    let mut out = vec![0u8; 64];
    assert!(
        exec::execute(dev, &p, &[&[0u8; 16]], &mut out).is_err(),
        "zero scale"
    );
    let p = prim(uapi::OP_CONV2D, uapi::DTYPE_F32, 0, &[v, v, v]);
    assert!(matches!(
        exec::execute(dev, &p, &[&[0u8; 16], &[0u8; 16]], &mut out),
        Err(CudaError::Unsupported(_))
    ));
    let p = prim(
        uapi::OP_RELU,
        uapi::DTYPE_F32,
        0,
        &[t(&[1 << 20], 0, &[]), v],
    );
    assert!(
        exec::execute(dev, &p, &[&[0u8; 16]], &mut out).is_err(),
        "short buffer"
    );
}
