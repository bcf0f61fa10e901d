//! Every op through `execute` against f64 references, in each dtype the ABI allows.
// Operand bytes live in `Vec`s: the allocator aligns them for f32, as mapped pages are; a stack
// array of u8 could be misaligned and fail for that reason instead of the one under test.
#![allow(clippy::useless_vec)]

use super::*;
use crate::test_util::rand_f32;

fn t(dims: &[u64], offset: u64, strides: &[u64]) -> uapi::Tensor {
    tensor::describe(dims, offset, strides)
}

fn prim(op: u16, dtype: u8, out_dtype: u8, operands: &[uapi::Tensor]) -> uapi::Primitive {
    primitive(op, dtype, out_dtype, operands)
}

/// Encodes f32 values as `dtype` bytes (round to nearest even).
fn bytes(values: &[f32], dtype: u8) -> Vec<u8> {
    let esize = dtype_size(dtype).unwrap();
    let mut out = vec![0u8; values.len() * esize + 64];
    let tt = t(&[values.len() as u64], 0, &[]);
    store_f32(values, &mut out, &tt, dtype, &mut Rounding::NearestEven).unwrap();
    out
}

fn read(out: &[u8], tt: &uapi::Tensor, dtype: u8) -> Vec<f32> {
    load_f32(out, tt, dtype).unwrap()
}

/// Relative tolerance of a dtype's rounding (one ulp-ish at 1.0, with slack for sums).
fn tol(dtype: u8) -> f64 {
    match dtype {
        uapi::DTYPE_F32 => 1e-5,
        uapi::DTYPE_F16 => 2e-3,
        uapi::DTYPE_BF16 => 1.6e-2,
        _ => 0.13,
    }
}

/// The inputs as the dtype sees them (rounded once), in f64.
fn seen(values: &[f32], dtype: u8) -> Vec<f64> {
    let b = bytes(values, dtype);
    read(&b, &t(&[values.len() as u64], 0, &[]), dtype)
        .iter()
        .map(|&v| v as f64)
        .collect()
}

fn assert_close(got: &[f32], want: &[f64], rel: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let scale = want.iter().fold(1f64, |m, v| m.max(v.abs()));
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (*g as f64 - w).abs() <= rel * scale,
            "{what}[{i}]: {g} vs {w}"
        );
    }
}

#[test]
fn matmul_in_every_float_dtype_and_batched() {
    let g = Gemm::new(2).unwrap();
    let (b, m, k, n) = (2usize, 9usize, 21usize, 13usize);
    for dtype in [
        uapi::DTYPE_F32,
        uapi::DTYPE_F16,
        uapi::DTYPE_BF16,
        uapi::DTYPE_FP8_E4M3,
    ] {
        let (a, bb) = (rand_f32(b * m * k, 1), rand_f32(b * k * n, 2));
        let (ab, bbb) = (bytes(&a, dtype), bytes(&bb, dtype));
        let ot = t(&[b as u64, m as u64, n as u64], 0, &[]);
        let out_dtype = if dtype == uapi::DTYPE_FP8_E4M3 {
            uapi::DTYPE_F32
        } else {
            dtype
        };
        let p = prim(
            uapi::OP_MATMUL,
            dtype,
            out_dtype,
            &[
                t(&[b as u64, m as u64, k as u64], 0, &[]),
                t(&[b as u64, k as u64, n as u64], 0, &[]),
                ot,
            ],
        );
        let mut out = vec![0u8; b * m * n * 4];
        execute(&g, &p, &[&ab, &bbb], &mut out).unwrap();
        let (sa, sb) = (seen(&a, dtype), seen(&bb, dtype));
        let mut want = vec![0f64; b * m * n];
        for bi in 0..b {
            for i in 0..m {
                for j in 0..n {
                    want[bi * m * n + i * n + j] = (0..k)
                        .map(|p| sa[bi * m * k + i * k + p] * sb[bi * k * n + p * n + j])
                        .sum();
                }
            }
        }
        assert_close(
            &read(&out, &ot, out_dtype),
            &want,
            tol(out_dtype) * 4.0,
            &format!("matmul dtype {dtype}"),
        );
    }
}

#[test]
fn int8_matmul_gives_exact_integer_sums_and_strided_operands_work() {
    let g = Gemm::new(2).unwrap();
    let (m, k, n) = (5usize, 70usize, 6usize);
    let a: Vec<i8> = (0..m * k)
        .map(|i| (i as i32 * 7 % 255 - 127) as i8)
        .collect();
    // B given transposed in memory ([n, k]) with strides (1, k).
    let bt: Vec<i8> = (0..n * k)
        .map(|i| (i as i32 * 11 % 255 - 127) as i8)
        .collect();
    let ot = t(&[m as u64, n as u64], 0, &[]);
    let p = prim(
        uapi::OP_MATMUL,
        uapi::DTYPE_I8,
        uapi::DTYPE_F32,
        &[
            t(&[m as u64, k as u64], 0, &[]),
            t(&[k as u64, n as u64], 0, &[1, k as u64]),
            ot,
        ],
    );
    let mut out = vec![0u8; m * n * 4];
    let (ab, bb): (Vec<u8>, Vec<u8>) = (
        a.iter().map(|&v| v as u8).collect(),
        bt.iter().map(|&v| v as u8).collect(),
    );
    execute(&g, &p, &[&ab, &bb], &mut out).unwrap();
    let got = read(&out, &ot, uapi::DTYPE_F32);
    for i in 0..m {
        for j in 0..n {
            let want: i32 = (0..k)
                .map(|p| i32::from(a[i * k + p]) * i32::from(bt[j * k + p]))
                .sum();
            assert_eq!(got[i * n + j], want as f32);
        }
    }
}

/// A params word of a quantized MATMUL: scale bits low, zero point high.
fn qword(scale: f32, zero: i32) -> u64 {
    u64::from(scale.to_bits()) | (u64::from(zero as u32) << 32)
}

#[test]
fn quantized_matmul_applies_scales_and_zero_points_per_tensor_and_per_column() {
    let g = Gemm::new(2).unwrap();
    let (m, k, n) = (4usize, 33usize, 5usize);
    let a: Vec<i8> = (0..m * k)
        .map(|i| (i as i32 * 7 % 255 - 127) as i8)
        .collect();
    let b: Vec<i8> = (0..k * n)
        .map(|i| (i as i32 * 11 % 255 - 127) as i8)
        .collect();
    let (ab, bb): (Vec<u8>, Vec<u8>) = (
        a.iter().map(|&v| v as u8).collect(),
        b.iter().map(|&v| v as u8).collect(),
    );
    let col_scales: Vec<f32> = (0..n).map(|j| 0.01 * (j + 1) as f32).collect();
    let sb_bytes = bytes(&col_scales, uapi::DTYPE_F32);
    let (sa, za, sb, zb) = (0.05f32, 3i32, 0.02f32, -7i32);
    let ot = t(&[m as u64, n as u64], 0, &[]);
    let ops2 = [
        t(&[m as u64, k as u64], 0, &[]),
        t(&[k as u64, n as u64], 0, &[]),
        ot,
    ];
    let ops3 = [ops2[0], ops2[1], t(&[n as u64], 0, &[]), ot];
    for per_column in [false, true] {
        let mut p = if per_column {
            prim(uapi::OP_MATMUL, uapi::DTYPE_I8, uapi::DTYPE_F32, &ops3)
        } else {
            prim(uapi::OP_MATMUL, uapi::DTYPE_I8, uapi::DTYPE_F32, &ops2)
        };
        p.params[0] = qword(sa, za);
        p.params[1] = if per_column {
            qword(0.0, zb)
        } else {
            qword(sb, zb)
        };
        let mut out = vec![0u8; m * n * 4];
        let inputs: Vec<&[u8]> = if per_column {
            vec![&ab, &bb, &sb_bytes]
        } else {
            vec![&ab, &bb]
        };
        execute(&g, &p, &inputs, &mut out).unwrap();
        let got = read(&out, &ot, uapi::DTYPE_F32);
        let want: Vec<f64> = (0..m * n)
            .map(|ij| {
                let (i, j) = (ij / n, ij % n);
                let sbj = if per_column { col_scales[j] } else { sb };
                (0..k)
                    .map(|x| {
                        let av = f64::from(sa) * f64::from(i32::from(a[i * k + x]) - za);
                        let bv = f64::from(sbj) * f64::from(i32::from(b[x * n + j]) - zb);
                        av * bv
                    })
                    .sum()
            })
            .collect();
        assert_close(&got, &want, 1e-5, &format!("per_column {per_column}"));
    }
    // A bad scale in the third input is an error, not a panic; FP8 takes scales but no zero points.
    let mut p = prim(uapi::OP_MATMUL, uapi::DTYPE_I8, uapi::DTYPE_F32, &ops3);
    p.params[0] = qword(sa, 0);
    let bad = bytes(&[1.0, f32::NAN, 1.0, 1.0, 1.0], uapi::DTYPE_F32);
    let mut out = vec![0u8; m * n * 4];
    assert!(execute(&g, &p, &[&ab, &bb, &bad], &mut out).is_err());
    let mut p = prim(
        uapi::OP_MATMUL,
        uapi::DTYPE_FP8_E4M3,
        uapi::DTYPE_F32,
        &ops2,
    );
    p.params[0] = qword(0.5, 0);
    p.params[1] = qword(0.25, 0);
    let x: Vec<f32> = (0..m * k).map(|i| (i % 5) as f32 - 2.0).collect();
    let y: Vec<f32> = (0..k * n).map(|i| (i % 3) as f32 - 1.0).collect();
    let (xb, yb) = (
        bytes(&x, uapi::DTYPE_FP8_E4M3),
        bytes(&y, uapi::DTYPE_FP8_E4M3),
    );
    execute(&g, &p, &[&xb, &yb], &mut out).unwrap();
    let got = read(&out, &ot, uapi::DTYPE_F32);
    let want: Vec<f64> = (0..m * n)
        .map(|ij| {
            (0..k)
                .map(|q| 0.125 * f64::from(x[ij / n * k + q]) * f64::from(y[q * n + ij % n]))
                .sum()
        })
        .collect();
    assert_close(&got, &want, 1e-6, "fp8 scaled");
    p.params[0] = qword(0.5, 1);
    assert!(
        execute(&g, &p, &[&xb, &yb], &mut out).is_err(),
        "FP8 has no zero point"
    );
}

#[test]
fn elementwise_ops_in_every_dtype_and_in_place() {
    let g = Gemm::new(1).unwrap();
    let x = rand_f32(40, 3);
    let y = rand_f32(40, 4);
    for dtype in [
        uapi::DTYPE_F32,
        uapi::DTYPE_F16,
        uapi::DTYPE_BF16,
        uapi::DTYPE_FP8_E4M3,
        uapi::DTYPE_I8,
    ] {
        let scale = if dtype == uapi::DTYPE_I8 { 50.0 } else { 1.0 };
        let (x, y): (Vec<f32>, Vec<f32>) = (
            x.iter().map(|v| v * scale).collect(),
            y.iter().map(|v| v * scale).collect(),
        );
        let (xb, yb) = (bytes(&x, dtype), bytes(&y, dtype));
        let (sx, sy) = (seen(&x, dtype), seen(&y, dtype));
        let tt = t(&[4, 10], 0, &[]);
        for (op, f) in [
            (
                uapi::OP_ADD,
                (|a: f64, b: f64| a + b) as fn(f64, f64) -> f64,
            ),
            (uapi::OP_MUL, |a, b| a * b),
            (uapi::OP_RELU, |a, _| a.max(0.0)),
        ] {
            let n_in = if op == uapi::OP_RELU { 1 } else { 2 };
            let ops: Vec<uapi::Tensor> = vec![tt; n_in + 1];
            let p = prim(op, dtype, 0, &ops);
            // In place: the output is the first input's bytes.
            let mut out = xb.clone();
            let ins: Vec<&[u8]> = if n_in == 2 { vec![&xb, &yb] } else { vec![&xb] };
            execute(&g, &p, &ins, &mut out).unwrap();
            let want: Vec<f64> = sx.iter().zip(&sy).map(|(&a, &b)| f(a, b)).collect();
            let rel = if dtype == uapi::DTYPE_I8 {
                1.0 / 50.0
            } else {
                tol(dtype)
            };
            let want_rounded: Vec<f64> = if dtype == uapi::DTYPE_I8 {
                want.iter()
                    .map(|v| v.round_ties_even().clamp(-128.0, 127.0))
                    .collect()
            } else {
                want
            };
            assert_close(
                &read(&out, &tt, dtype),
                &want_rounded,
                rel,
                &format!("op {op} dtype {dtype}"),
            );
        }
    }
}

/// An f32 element-wise op writes a contiguous output in place (in parallel chunks past 16 Ki
/// elements) and a strided one through the store: the same values at the same positions.
#[test]
fn elementwise_outputs_contiguous_or_strided_agree() {
    let g = Gemm::new(2).unwrap();
    let (rows, cols) = (200u64, 201u64);
    let n = (rows * cols) as usize;
    let (x, y) = (rand_f32(n, 5), rand_f32(n, 6));
    let (xb, yb) = (bytes(&x, uapi::DTYPE_F32), bytes(&y, uapi::DTYPE_F32));
    let dense = t(&[rows, cols], 0, &[]);
    // The output's transpose: element (i, j) at j * rows + i.
    let strided = t(&[rows, cols], 0, &[1, rows]);
    for (op, param, n_in) in [
        (uapi::OP_ADD, 0, 2),
        (uapi::OP_MUL, 0, 2),
        (uapi::OP_BINARY, uapi::BINARY_SUB, 2),
        (uapi::OP_RELU, 0, 1),
        (uapi::OP_GELU, 0, 1),
        (uapi::OP_UNARY, uapi::UNARY_TANH, 1),
    ] {
        let ins: Vec<&[u8]> = if n_in == 2 { vec![&xb, &yb] } else { vec![&xb] };
        let run = |out_t: uapi::Tensor| {
            let mut ops = vec![dense; n_in];
            ops.push(out_t);
            let mut p = prim(op, uapi::DTYPE_F32, 0, &ops);
            p.params[0] = param;
            let mut out = vec![0u8; n * 4 + 64];
            execute(&g, &p, &ins, &mut out).unwrap();
            read(&out, &out_t, uapi::DTYPE_F32)
        };
        let (a, b) = (run(dense), run(strided));
        assert_eq!(a, b, "op {op}: contiguous and strided outputs");
        let expect = match op {
            uapi::OP_ADD => x[n - 1] + y[n - 1],
            uapi::OP_RELU => x[n - 1].max(0.0),
            _ => a[n - 1],
        };
        assert_eq!(a[n - 1], expect, "op {op}: the last element");
    }
}

#[test]
fn softmax_layernorm_gelu_in_float_dtypes() {
    let g = Gemm::new(2).unwrap();
    let x = rand_f32(3 * 16, 5);
    for dtype in [uapi::DTYPE_F32, uapi::DTYPE_F16, uapi::DTYPE_BF16] {
        let xb = bytes(&x, dtype);
        let sx = seen(&x, dtype);
        let tt = t(&[3, 16], 0, &[]);
        let mut out = vec![0u8; xb.len()];
        execute(
            &g,
            &prim(uapi::OP_SOFTMAX, dtype, 0, &[tt, tt]),
            &[&xb],
            &mut out,
        )
        .unwrap();
        let want: Vec<f64> = sx
            .chunks(16)
            .flat_map(|r| {
                let z: f64 = r.iter().map(|v| v.exp()).sum();
                r.iter().map(move |v| v.exp() / z).collect::<Vec<_>>()
            })
            .collect();
        assert_close(&read(&out, &tt, dtype), &want, tol(dtype), "softmax");
        execute(
            &g,
            &prim(uapi::OP_GELU, dtype, 0, &[tt, tt]),
            &[&xb],
            &mut out,
        )
        .unwrap();
        let want: Vec<f64> = sx
            .iter()
            .map(|&v| {
                0.5 * v
                    * (1.0
                        + ((2.0 / std::f64::consts::PI).sqrt() * (v + 0.044715 * v.powi(3))).tanh())
            })
            .collect();
        assert_close(&read(&out, &tt, dtype), &want, tol(dtype), "gelu");
        let (gm, bt) = (bytes(&[2.0; 16], dtype), bytes(&[0.5; 16], dtype));
        let d = t(&[16], 0, &[]);
        execute(
            &g,
            &prim(uapi::OP_LAYERNORM, dtype, 0, &[tt, d, d, tt]),
            &[&xb, &gm, &bt],
            &mut out,
        )
        .unwrap();
        let want: Vec<f64> = sx
            .chunks(16)
            .flat_map(|r| {
                let mean = r.iter().sum::<f64>() / 16.0;
                let var = r.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 16.0;
                r.iter()
                    .map(move |v| (v - mean) / (var + 1e-5).sqrt() * 2.0 + 0.5)
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_close(
            &read(&out, &tt, dtype),
            &want,
            tol(dtype) * 2.0,
            "layernorm",
        );
    }
}

#[test]
fn attention_and_conv2d_through_the_abi() {
    let g = Gemm::new(2).unwrap();
    let (q, k, v) = (
        rand_f32(2 * 3 * 4, 6),
        rand_f32(2 * 5 * 4, 7),
        rand_f32(2 * 5 * 2, 8),
    );
    let ot = t(&[2, 3, 2], 0, &[]);
    let p = prim(
        uapi::OP_ATTENTION,
        uapi::DTYPE_F32,
        0,
        &[
            t(&[2, 3, 4], 0, &[]),
            t(&[2, 5, 4], 0, &[]),
            t(&[2, 5, 2], 0, &[]),
            ot,
        ],
    );
    let mut out = vec![0u8; 12 * 4];
    execute(
        &g,
        &p,
        &[&bytes(&q, 1), &bytes(&k, 1), &bytes(&v, 1)],
        &mut out,
    )
    .unwrap();
    let want = ops::attention(
        &g,
        &q,
        &k,
        &v,
        AttentionShape {
            batch: 2,
            queries: 3,
            keys: 5,
            dim: 4,
            value_dim: 2,
        },
        0.5,
        false,
    )
    .unwrap();
    assert_eq!(read(&out, &ot, 1), want, "scale 0 means 1/sqrt(D) = 0.5");

    let (x, w) = (rand_f32(3 * 5 * 5, 9), rand_f32(2 * 3 * 3 * 3, 10));
    let ot = t(&[1, 2, 3, 3], 0, &[]);
    let mut p = prim(
        uapi::OP_CONV2D,
        uapi::DTYPE_F32,
        0,
        &[t(&[1, 3, 5, 5], 0, &[]), t(&[2, 3, 3, 3], 0, &[]), ot],
    );
    p.params = [2, 1, 0, 0];
    let mut out = vec![0u8; 18 * 4];
    execute(&g, &p, &[&bytes(&x, 1), &bytes(&w, 1)], &mut out).unwrap();
    let want = crate::conv::conv2d(
        &g,
        &x,
        &w,
        None,
        &crate::conv::Conv2d::new([1, 3, 5, 5], [2, 3, 3, 3], 2, 1),
    )
    .unwrap();
    assert_eq!(read(&out, &ot, 1), want);
    // A transposed (strided) output goes through the store instead of being written in place.
    let strided = t(&[1, 2, 3, 3], 0, &[18, 1, 2, 6]);
    p.operands[2] = strided;
    let mut out = vec![0u8; 18 * 4];
    execute(&g, &p, &[&bytes(&x, 1), &bytes(&w, 1)], &mut out).unwrap();
    assert_eq!(read(&out, &strided, 1), want, "strided output");
}

#[test]
fn quantize_and_dequantize_through_the_abi() {
    let g = Gemm::new(1).unwrap();
    let x = [0.5f32, -1.0, 0.26, 100.0];
    let tt = t(&[4], 0, &[]);
    let mut p = prim(
        uapi::OP_QUANTIZE,
        uapi::DTYPE_F32,
        uapi::DTYPE_I8,
        &[tt, tt],
    );
    p.params = [u64::from(0.25f32.to_bits()), 3, 0, 0];
    let mut q = vec![0u8; 4];
    execute(&g, &p, &[&bytes(&x, 1)], &mut q).unwrap();
    assert_eq!(
        q.iter().map(|&v| v as i8).collect::<Vec<_>>(),
        [5, -1, 4, 127]
    );
    let mut d = prim(
        uapi::OP_DEQUANTIZE,
        uapi::DTYPE_I8,
        uapi::DTYPE_F32,
        &[tt, tt],
    );
    d.params = p.params;
    let mut back = vec![0u8; 16];
    execute(&g, &d, &[&q], &mut back).unwrap();
    assert_eq!(read(&back, &tt, 1), [0.5, -1.0, 0.25, 31.0]);
    // Toward zero: 0.26/0.25 = 1.04 → 1, then + 3.
    p.rounding = uapi::ROUND_TOWARD_ZERO;
    execute(&g, &p, &[&bytes(&x, 1)], &mut q).unwrap();
    assert_eq!(q[2] as i8, 4);
    // FP8: scale 2, values halve then round to E4M3.
    p.out_dtype = uapi::DTYPE_FP8_E4M3;
    p.rounding = uapi::ROUND_NEAREST_EVEN;
    p.params = [u64::from(2.0f32.to_bits()), 0, 0, 0];
    execute(&g, &p, &[&bytes(&x, 1)], &mut q).unwrap();
    assert_eq!(
        q,
        [
            Fp8E4M3(0x28).0,
            0xB0,
            0x20,
            Fp8E4M3::from_f32(50.0, &mut Rounding::NearestEven).0
        ]
    );
}

#[test]
fn stochastic_rounding_is_reproducible_from_the_seed() {
    let g = Gemm::new(1).unwrap();
    let x: Vec<f32> = rand_f32(256, 11);
    let tt = t(&[256], 0, &[]);
    let mut p = prim(
        uapi::OP_QUANTIZE,
        uapi::DTYPE_F32,
        uapi::DTYPE_I8,
        &[tt, tt],
    );
    p.params = [u64::from(0.1f32.to_bits()), 0, 0, 0];
    p.rounding = uapi::ROUND_STOCHASTIC;
    let run = |seed| {
        let mut p = p;
        p.seed = seed;
        let mut q = vec![0u8; 256];
        execute(&g, &p, &[&bytes(&x, 1)], &mut q).unwrap();
        q
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1), run(2));
}

#[test]
fn copy_strided_to_contiguous_in_any_dtype() {
    let g = Gemm::new(1).unwrap();
    let src: Vec<u8> = (0..24).collect(); // a [3, 4] matrix of u16-sized (f16) elements
    let it = t(&[4, 3], 0, &[1, 4]); // its transpose
    let ot = t(&[4, 3], 0, &[]);
    let mut out = vec![0u8; 24];
    execute(
        &g,
        &prim(uapi::OP_COPY, uapi::DTYPE_F16, 0, &[it, ot]),
        &[&src],
        &mut out,
    )
    .unwrap();
    let halves: Vec<u16> = out
        .chunks(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    let want: Vec<u16> = (0..4)
        .flat_map(|j| {
            (0..3).map(move |i| {
                u16::from_le_bytes([(i * 8 + j * 2) as u8, (i * 8 + j * 2 + 1) as u8])
            })
        })
        .collect();
    assert_eq!(halves, want);
}

#[test]
fn bad_parameters_and_short_buffers_are_errors_not_panics() {
    let g = Gemm::new(1).unwrap();
    let tt = t(&[4], 0, &[]);
    let mut p = prim(
        uapi::OP_QUANTIZE,
        uapi::DTYPE_F32,
        uapi::DTYPE_I8,
        &[tt, tt],
    );
    let x = bytes(&[1.0; 4], 1);
    let mut q = vec![0u8; 4];
    p.params = [0, 0, 0, 0];
    assert!(
        matches!(execute(&g, &p, &[&x], &mut q), Err(CpuError::Quant(_))),
        "scale 0"
    );
    p.params = [u64::from(f32::INFINITY.to_bits()), 0, 0, 0];
    assert!(execute(&g, &p, &[&x], &mut q).is_err(), "infinite scale");
    p.out_dtype = uapi::DTYPE_FP8_E4M3;
    p.params = [u64::from(1f32.to_bits()), 1, 0, 0];
    assert!(execute(&g, &p, &[&x], &mut q).is_err(), "FP8 zero point");
    let mut ln = prim(uapi::OP_LAYERNORM, uapi::DTYPE_F32, 0, &[tt, tt]);
    ln.params[0] = u64::from(f32::NAN.to_bits());
    assert!(
        execute(&g, &ln, &[&x], &mut vec![0u8; 16]).is_err(),
        "NaN epsilon"
    );
    let relu = prim(uapi::OP_RELU, uapi::DTYPE_F32, 0, &[tt, tt]);
    assert!(
        execute(&g, &relu, &[&x[..8]], &mut vec![0u8; 16]).is_err(),
        "input shorter than its tensor"
    );
    assert!(
        execute(&g, &relu, &[&x], &mut vec![0u8; 8]).is_err(),
        "output shorter than its tensor"
    );
    let mut bad = relu;
    bad.rounding = 9;
    assert!(
        execute(&g, &bad, &[&x], &mut vec![0u8; 16]).is_err(),
        "unknown rounding"
    );
    let mm = prim(
        uapi::OP_MATMUL,
        uapi::DTYPE_F32,
        0,
        &[t(&[2, 2], 0, &[]), t(&[2, 2], 0, &[]), t(&[2, 2], 0, &[])],
    );
    assert!(
        execute(&g, &mm, &[&x, &x[..4]], &mut vec![0u8; 16]).is_err(),
        "B shorter than its tensor"
    );
}

#[test]
fn deterministic_across_thread_counts_for_every_op_that_reduces() {
    let x = rand_f32(64 * 96, 12);
    let w = rand_f32(96 * 80, 13);
    let (xt, wt, ot) = (
        t(&[64, 96], 0, &[]),
        t(&[96, 80], 0, &[]),
        t(&[64, 80], 0, &[]),
    );
    let (xb, wb) = (bytes(&x, 1), bytes(&w, 1));
    let run = |threads: usize| {
        let g = Gemm::new(threads).unwrap();
        let mut outs = Vec::new();
        let mut out = vec![0u8; 64 * 80 * 4];
        execute(
            &g,
            &prim(uapi::OP_MATMUL, 1, 0, &[xt, wt, ot]),
            &[&xb, &wb],
            &mut out,
        )
        .unwrap();
        outs.push(out.clone());
        let mut sm = vec![0u8; 64 * 96 * 4];
        execute(
            &g,
            &prim(uapi::OP_SOFTMAX, 1, 0, &[xt, xt]),
            &[&xb],
            &mut sm,
        )
        .unwrap();
        outs.push(sm.clone());
        execute(
            &g,
            &prim(uapi::OP_LAYERNORM, 1, 0, &[xt, xt]),
            &[&xb],
            &mut sm,
        )
        .unwrap();
        outs.push(sm);
        outs
    };
    let one = run(1);
    assert_eq!(one, run(2));
    assert_eq!(one, run(4));
}

/// The ABI's definitions (docs/ABI.md), what every backend computes: a fully masked (all −∞)
/// SOFTMAX row is zeros, not NaN; GELU is the tanh approximation.
#[test]
fn abi_semantics_a_masked_softmax_row_is_zeros_and_gelu_is_the_tanh_form() {
    let g = Gemm::new(1).unwrap();
    let ninf = f32::NEG_INFINITY;
    let x = vec![1.0, 2.0, 3.0, ninf, ninf, ninf];
    let xb = bytes(&x, uapi::DTYPE_F32);
    let tt = t(&[2, 3], 0, &[]);
    let mut out = vec![0u8; xb.len()];
    let softmax = prim(uapi::OP_SOFTMAX, uapi::DTYPE_F32, 0, &[tt, tt]);
    execute(&g, &softmax, &[&xb], &mut out).unwrap();
    let got = read(&out, &tt, uapi::DTYPE_F32);
    assert!((got[..3].iter().sum::<f32>() - 1.0).abs() < 1e-6, "{got:?}");
    assert_eq!(&got[3..], &[0.0; 3], "a masked row is zeros");

    let x = vec![0.0, 1.0, -1.0, 3.0, -5.0];
    let xb = bytes(&x, uapi::DTYPE_F32);
    let tt = t(&[5], 0, &[]);
    let gelu = prim(uapi::OP_GELU, uapi::DTYPE_F32, 0, &[tt, tt]);
    execute(&g, &gelu, &[&xb], &mut out).unwrap();
    let got = read(&out, &tt, uapi::DTYPE_F32);
    assert_eq!(got[0], 0.0);
    assert!(
        (got[1] - 0.841192).abs() < 1e-5 && (got[2] + 0.158808).abs() < 1e-5,
        "{got:?}"
    );
    for (g, &v) in got.iter().zip(&x) {
        let v = f64::from(v);
        let tanh_form = 0.5
            * v
            * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (v + 0.044715 * v.powi(3))).tanh());
        assert!(
            (f64::from(*g) - tanh_form).abs() < 1e-6,
            "gelu({v}) = {g}, not {tanh_form}"
        );
    }
}

/// A deterministic bf16 MATMUL runs on the widened f32 path (bits that do not depend on the ISA),
/// even on an engine whose bf16 kernel is the native one; without the flag it uses the engine's.
#[test]
fn deterministic_bf16_matmul_widens_on_every_engine() {
    use crate::gemm::{IsaLevel, Kernels};
    let (m, k, n) = (13, 70, 37);
    let (a, b) = (rand_f32(m * k, 31), rand_f32(k * n, 32));
    let (ab, bb) = (bytes(&a, uapi::DTYPE_BF16), bytes(&b, uapi::DTYPE_BF16));
    let ot = t(&[m as u64, n as u64], 0, &[]);
    let mut engines = vec![Gemm::new(2).unwrap()];
    match Kernels::at_most(IsaLevel::Avx512).with_native_bf16() {
        Some(kn) => engines.push(Gemm::with(2, engines[0].blocking(), kn).unwrap()),
        None => eprintln!("skipped: the native bf16 engine: this CPU lacks AVX-512 BF16"),
    }
    let widened = {
        let (va, vb) = (
            MatRef::row_major(
                bytemuck::cast_slice::<u8, half::bf16>(&ab[..m * k * 2]),
                m,
                k,
            )
            .unwrap(),
            MatRef::row_major(
                bytemuck::cast_slice::<u8, half::bf16>(&bb[..k * n * 2]),
                k,
                n,
            )
            .unwrap(),
        );
        let mut c = vec![0f32; m * n];
        engines[0].run_widened(va, vb, &mut c, n).unwrap();
        c
    };
    for g in &engines {
        for det in [true, false] {
            let mut p = prim(
                uapi::OP_MATMUL,
                uapi::DTYPE_BF16,
                uapi::DTYPE_F32,
                &[
                    t(&[m as u64, k as u64], 0, &[]),
                    t(&[k as u64, n as u64], 0, &[]),
                    ot,
                ],
            );
            if det {
                p.flags |= uapi::PRIM_DETERMINISTIC;
            }
            let mut out = vec![0u8; m * n * 4];
            execute(g, &p, &[&ab, &bb], &mut out).unwrap();
            let got = read(&out, &ot, uapi::DTYPE_F32);
            if det || g.kernels().bf16 == crate::gemm::Bf16Kernel::WidenToF32 {
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&widened), "{:?} det={det}", g.kernels());
            }
            let want: Vec<f64> =
                crate::test_util::f64_matmul(&widened_inputs(&a), &widened_inputs(&b), m, k, n);
            assert_close(&got, &want, 1e-5, "bf16 MATMUL");
        }
    }
}

fn widened_inputs(v: &[f32]) -> Vec<f32> {
    seen(v, uapi::DTYPE_BF16)
        .into_iter()
        .map(|x| x as f32)
        .collect()
}

#[test]
fn pool2d_runs_its_abi_parameters() {
    let g = Gemm::new(1).unwrap();
    let x = rand_f32(2 * 3 * 5 * 4, 21);
    let input = [2usize, 3, 5, 4];
    // Average 3x2 windows, strides 2 and 1, padding top 1 left 0 bottom 1 right 1, counted.
    let p_abi = [
        3 | 2 << 16 | 2 << 32 | 1 << 48,
        1 | 1 << 32 | 1 << 48,
        1 | 1 << 16 | uapi::POOL_AVG_INCLUDE_PAD << 32,
    ];
    let reference = pool::Pool2d {
        input,
        kernel: [3, 2],
        stride: [2, 1],
        dilation: [1, 1],
        pads: [1, 0, 1, 1],
        ceil: false,
        kind: PoolKind::Avg {
            count_include_pad: true,
        },
    };
    let (oh, ow) = reference.out_hw().unwrap();
    let ot = t(&[2, 3, oh as u64, ow as u64], 0, &[]);
    let mut p = prim(
        uapi::OP_POOL2D,
        uapi::DTYPE_F32,
        0,
        &[t(&[2, 3, 5, 4], 0, &[]), ot],
    );
    p.params[..3].copy_from_slice(&p_abi);
    let mut out = vec![0u8; 2 * 3 * oh * ow * 4];
    execute(&g, &p, &[&bytes(&x, 1)], &mut out).unwrap();
    assert_eq!(read(&out, &ot, 1), pool::pool2d(&x, &reference).unwrap());
    // A mode the kernel would have refused is an error here too, not a panic.
    p.params[2] = 1 | 1 << 16 | 7 << 32;
    assert!(execute(&g, &p, &[&bytes(&x, 1)], &mut out).is_err());
}

#[test]
fn a_float_matmul_adds_its_bias_then_relu() {
    let g = Gemm::new(1).unwrap();
    let (m, k, n) = (3usize, 4usize, 5usize);
    let (a, b, bias) = (rand_f32(m * k, 31), rand_f32(k * n, 32), rand_f32(n, 33));
    for dtype in [uapi::DTYPE_F32, uapi::DTYPE_BF16] {
        for relu in [0, uapi::MATMUL_EPILOGUE_RELU] {
            let ot = t(&[m as u64, n as u64], 0, &[]);
            let mut p = prim(
                uapi::OP_MATMUL,
                dtype,
                0,
                &[
                    t(&[m as u64, k as u64], 0, &[]),
                    t(&[k as u64, n as u64], 0, &[]),
                    t(&[n as u64], 0, &[]),
                    ot,
                ],
            );
            p.params[2] = relu;
            let esize = dtype_size(dtype).unwrap();
            let mut out = vec![0u8; m * n * esize];
            execute(
                &g,
                &p,
                &[&bytes(&a, dtype), &bytes(&b, dtype), &bytes(&bias, dtype)],
                &mut out,
            )
            .unwrap();
            let (ra, rb, rbias) = (
                read(&bytes(&a, dtype), &p.operands[0], dtype),
                read(&bytes(&b, dtype), &p.operands[1], dtype),
                read(&bytes(&bias, dtype), &p.operands[2], dtype),
            );
            let got = read(&out, &ot, dtype);
            for i in 0..m {
                for j in 0..n {
                    let mut want: f64 = (0..k)
                        .map(|q| f64::from(ra[i * k + q]) * f64::from(rb[q * n + j]))
                        .sum::<f64>()
                        + f64::from(rbias[j]);
                    if relu != 0 {
                        want = want.max(0.0);
                    }
                    let e = (f64::from(got[i * n + j]) - want).abs();
                    assert!(
                        e <= tol(dtype) * (1.0 + want.abs()) * 4.0,
                        "dtype {dtype} relu {relu} ({i},{j}): {} vs {want}",
                        got[i * n + j]
                    );
                }
            }
        }
    }
}

#[test]
fn an_extended_conv2d_runs_groups_dilation_asymmetric_padding_and_relu() {
    let g = Gemm::new(1).unwrap();
    let (x, w, b) = (
        rand_f32(4 * 7 * 6, 41),
        rand_f32(6 * 2 * 3 * 2, 42),
        rand_f32(6, 43),
    );
    let s = crate::conv::Conv2d {
        input: [1, 4, 7, 6],
        weights: [6, 2, 3, 2],
        stride: [2, 1],
        dilation: [2, 1],
        pads: [1, 0, 2, 1],
        groups: 2,
    };
    let (oh, ow) = s.out_hw().unwrap();
    let ot = t(&[1, 6, oh as u64, ow as u64], 0, &[]);
    let mut p = prim(
        uapi::OP_CONV2D,
        uapi::DTYPE_F32,
        0,
        &[
            t(&[1, 4, 7, 6], 0, &[]),
            t(&[6, 2, 3, 2], 0, &[]),
            t(&[6], 0, &[]),
            ot,
        ],
    );
    p.params = [
        2 | 1 << 16 | 2 << 32 | 1 << 48,
        1 | 2 << 32 | 1 << 48,
        2 | uapi::CONV2D_EPILOGUE_RELU | uapi::CONV2D_EXTENDED,
        0,
    ];
    let mut out = vec![0u8; 6 * oh * ow * 4];
    execute(
        &g,
        &p,
        &[&bytes(&x, 1), &bytes(&w, 1), &bytes(&b, 1)],
        &mut out,
    )
    .unwrap();
    let want: Vec<f32> = crate::conv::conv2d(&g, &x, &w, Some(&b), &s)
        .unwrap()
        .into_iter()
        .map(|v| v.max(0.0))
        .collect();
    assert_eq!(read(&out, &ot, 1), want);
}

#[test]
fn abi_1_13_ops_through_execute_with_strides_and_half_dtypes() {
    // BINARY SUB with `b` broadcast along rows (stride 0), in f16.
    let (a, b) = (rand_f32(6, 1), rand_f32(3, 2));
    for dtype in [uapi::DTYPE_F32, uapi::DTYPE_F16] {
        let (ab, bb) = (bytes(&a, dtype), bytes(&b, dtype));
        let ot = t(&[2, 3], 0, &[]);
        let mut p = prim(
            uapi::OP_BINARY,
            dtype,
            0,
            &[t(&[2, 3], 0, &[]), t(&[2, 3], 0, &[0, 1]), ot],
        );
        p.params[0] = uapi::BINARY_SUB;
        let mut out = vec![0u8; 64];
        execute(&Gemm::new(1).unwrap(), &p, &[&ab, &bb], &mut out).unwrap();
        let (sa, sb) = (seen(&a, dtype), seen(&b, dtype));
        let want: Vec<f64> = (0..6).map(|i| sa[i] - sb[i % 3]).collect();
        assert_close(&read(&out, &ot, dtype), &want, tol(dtype), "sub");
    }
    // REDUCE SUM over axis 0 of a transposed view: the row sums of the stored matrix.
    let x = rand_f32(6, 3);
    let xb = bytes(&x, uapi::DTYPE_F32);
    let ot = t(&[1, 2], 0, &[]);
    let mut p = prim(
        uapi::OP_REDUCE,
        uapi::DTYPE_F32,
        0,
        &[t(&[3, 2], 0, &[1, 3]), ot],
    );
    (p.params[0], p.params[1]) = (uapi::REDUCE_SUM, 0b01);
    let mut out = vec![0u8; 64];
    execute(&Gemm::new(1).unwrap(), &p, &[&xb], &mut out).unwrap();
    let want: Vec<f64> = (0..2)
        .map(|r| (0..3).map(|c| x[r * 3 + c] as f64).sum())
        .collect();
    assert_close(&read(&out, &ot, uapi::DTYPE_F32), &want, 1e-6, "reduce");
    // GATHER of bf16 rows by i64 indices; an index out of range is an error, not a panic.
    let data = rand_f32(8, 4);
    let db = bytes(&data, uapi::DTYPE_BF16);
    let ib: Vec<u8> = [3i64, -4].iter().flat_map(|v| v.to_le_bytes()).collect();
    let ot = t(&[2, 2], 0, &[]);
    let p = prim(
        uapi::OP_GATHER,
        uapi::DTYPE_BF16,
        0,
        &[t(&[4, 2], 0, &[]), t(&[2], 0, &[]), ot],
    );
    let mut out = vec![0u8; 64];
    execute(&Gemm::new(1).unwrap(), &p, &[&db, &ib], &mut out).unwrap();
    let s = seen(&data, uapi::DTYPE_BF16);
    let want = [s[6], s[7], s[0], s[1]];
    assert_close(&read(&out, &ot, uapi::DTYPE_BF16), &want, 0.0, "gather");
    let bad: Vec<u8> = [4i64, 0].iter().flat_map(|v| v.to_le_bytes()).collect();
    assert!(execute(&Gemm::new(1).unwrap(), &p, &[&db, &bad], &mut out).is_err());
    // UNARY with an unknown function is refused.
    let mut p = prim(
        uapi::OP_UNARY,
        uapi::DTYPE_F32,
        0,
        &[t(&[2], 0, &[]), t(&[2], 0, &[])],
    );
    p.params[0] = uapi::UNARY_MAX + 1;
    assert!(execute(&Gemm::new(1).unwrap(), &p, &[&xb], &mut out).is_err());
}
