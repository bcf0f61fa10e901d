//! lightosd's CPU backend through the kernel: ops and dtypes beyond the core executor's,
//! bit-identical results across thread counts, and a killed daemon surfacing as a typed error the
//! application recovers from. (The same application on cpu0 and photonic0: photonic_mlp.rs.)

use lightos_runtime::{
    accel::{AccelError, Accelerator},
    BufferFlags, Context, DType, JobStatus, Op, Placement, Primitive, PrimitiveBuilder,
};
use lightos_vm_tests::{get_f32, pattern_f32, put_f32, random_f32, ExecutorThread};
use std::time::Duration;

fn route_all_to(dev: &Context, id: u32) {
    dev.clear_routes().unwrap();
    dev.add_route(None, None, 0..=u64::MAX, id).unwrap();
}

/// lightosd's CPU backend on two threads called `name`, a context routing everything to it, and a
/// 64 KiB buffer there.
fn on_lightosd(name: &str) -> (ExecutorThread, Context, lightos_runtime::Buffer) {
    let cpu = ExecutorThread::lightosd(name, 2);
    let dev = Context::open().unwrap();
    route_all_to(&dev, cpu.backend_id);
    let buf = dev
        .create_buffer(1 << 16, BufferFlags::empty(), Placement::Any)
        .unwrap();
    (cpu, dev, buf)
}

/// Runs one primitive on a fresh queue; returns its status.
fn run(dev: &Context, prim: Primitive) -> JobStatus {
    let q = dev.create_queue(0, Duration::from_secs(30)).unwrap();
    let s = q.submit(&[prim]).unwrap();
    q.wait(s.last_seq, Some(Duration::from_secs(60)))
        .unwrap()
        .status
}

#[test]
fn f16_matmul_and_int8_quantization_run_on_lightosd() {
    let cpu = ExecutorThread::lightosd("cpu-dtypes", 2);
    let dev = Context::open().unwrap();
    route_all_to(&dev, cpu.backend_id);
    let (m, k, n) = (8usize, 16usize, 4usize);
    let buf = dev
        .create_buffer(4096, BufferFlags::empty(), Placement::Any)
        .unwrap();
    let mut map = buf.map().unwrap();
    // f16 operands: a and b hold exactly representable values (multiples of 1/8 in [-1, 1]).
    let (a, b): (Vec<f32>, Vec<f32>) = (
        (0..m * k).map(|i| (i % 17) as f32 / 8.0 - 1.0).collect(),
        (0..k * n).map(|i| (i % 9) as f32 / 8.0 - 0.5).collect(),
    );
    let h = |v: &[f32], at: usize, map: &mut [u8]| {
        for (i, x) in v.iter().enumerate() {
            map[at + 2 * i..at + 2 * i + 2].copy_from_slice(&half_bits(*x).to_le_bytes());
        }
    };
    h(&a, 0, &mut map);
    h(&b, 512, &mut map);
    let prim = PrimitiveBuilder::new(Op::Matmul, DType::F16)
        .out_dtype(DType::F32)
        .input(&buf, 0, &[m as u64, k as u64])
        .input(&buf, 512, &[k as u64, n as u64])
        .output(&buf, 1024, &[m as u64, n as u64]);
    // f16 in, f32 out is not an allowed combination (float MATMUL keeps its dtype): refused.
    assert!(dev
        .create_queue(0, Duration::from_secs(5))
        .unwrap()
        .submit(&[prim])
        .is_err());
    let prim = PrimitiveBuilder::new(Op::Matmul, DType::F16)
        .input(&buf, 0, &[m as u64, k as u64])
        .input(&buf, 512, &[k as u64, n as u64])
        .output(&buf, 1024, &[m as u64, n as u64]);
    assert_eq!(run(&dev, prim), JobStatus::Ok);
    for i in 0..m {
        for j in 0..n {
            let want: f32 = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
            let got = f16_value(u16::from_le_bytes([
                map[1024 + 2 * (i * n + j)],
                map[1025 + 2 * (i * n + j)],
            ]));
            assert!(
                (got - want).abs() <= want.abs() / 1024.0 + 1e-3,
                "({i},{j}) {got} vs {want}"
            );
        }
    }
    // QUANTIZE f32 → i8 with scale 1/16 and zero point 2, then DEQUANTIZE back.
    let x = pattern_f32(64, 1);
    put_f32(&mut map[2048..], &x);
    let scale = u64::from((1.0f32 / 16.0).to_bits());
    let q = PrimitiveBuilder::new(Op::Quantize, DType::F32)
        .out_dtype(DType::I8)
        .param(0, scale)
        .param(1, 2)
        .input(&buf, 2048, &[64])
        .output(&buf, 2400, &[64]);
    assert_eq!(run(&dev, q), JobStatus::Ok);
    let d = PrimitiveBuilder::new(Op::Dequantize, DType::I8)
        .out_dtype(DType::F32)
        .param(0, scale)
        .param(1, 2)
        .input(&buf, 2400, &[64])
        .output(&buf, 2560, &[64]);
    assert_eq!(run(&dev, d), JobStatus::Ok);
    let back = get_f32(&map[2560..], 64);
    for (v, r) in x.iter().zip(&back) {
        assert!((v - r).abs() <= 1.0 / 32.0 + 1e-6, "{v} → {r}");
    }
    // A zero scale passes the kernel's structural checks; the backend refuses it: INVALID.
    let bad = PrimitiveBuilder::new(Op::Quantize, DType::F32)
        .out_dtype(DType::I8)
        .input(&buf, 2048, &[64])
        .output(&buf, 2400, &[64]);
    assert_eq!(run(&dev, bad), JobStatus::Invalid);
}

/// Binary16 bits of a value exactly representable in it (tests use small multiples of 1/8).
fn half_bits(x: f32) -> u16 {
    let b = x.to_bits();
    if x == 0.0 {
        return ((b >> 16) & 0x8000) as u16;
    }
    let sign = ((b >> 16) & 0x8000) as u16;
    let exp = ((b >> 23) & 0xFF) as i32 - 127 + 15;
    sign | ((exp as u16) << 10) | ((b >> 13) & 0x3FF) as u16
}

fn f16_value(h: u16) -> f32 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((h >> 10) & 0x1F);
    let man = f32::from(h & 0x3FF);
    if exp == 0 {
        return sign * man * 2f32.powi(-24);
    }
    sign * (1.0 + man / 1024.0) * 2f32.powi(exp - 15)
}

#[test]
fn deterministic_matmul_is_bit_identical_on_1_2_and_4_threads() {
    let (m, k, n) = (70usize, 300usize, 50usize);
    let (a, b) = (pattern_f32(m * k, 2), pattern_f32(k * n, 3));
    let mut results = Vec::new();
    for threads in [1, 2, 4] {
        let cpu = ExecutorThread::lightosd(&format!("cpu-det{threads}"), threads);
        let dev = Context::open().unwrap();
        route_all_to(&dev, cpu.backend_id);
        let (bo, oo) = (4 * m * k, 4 * (m * k + k * n));
        let buf = dev
            .create_buffer(oo + 4 * m * n, BufferFlags::empty(), Placement::Any)
            .unwrap();
        let mut map = buf.map().unwrap();
        put_f32(&mut map[..bo], &a);
        put_f32(&mut map[bo..oo], &b);
        let prim = PrimitiveBuilder::new(Op::Matmul, DType::F32)
            .deterministic()
            .input(&buf, 0, &[m as u64, k as u64])
            .input(&buf, bo as u64, &[k as u64, n as u64])
            .output(&buf, oo as u64, &[m as u64, n as u64]);
        assert_eq!(run(&dev, prim), JobStatus::Ok);
        results.push(map[oo..oo + 4 * m * n].to_vec());
    }
    assert!(
        results[0] == results[1] && results[1] == results[2],
        "results differ across thread counts"
    );
    let got = get_f32(&results[0], m * n);
    let want: f64 = (0..k).map(|p| f64::from(a[p]) * f64::from(b[p * n])).sum();
    assert!((f64::from(got[0]) - want).abs() < 1e-4);
}

#[test]
fn a_killed_lightosd_surfaces_as_a_typed_device_lost_and_the_app_reruns_elsewhere() {
    // lightosd is in the guest image's /usr/bin (make guest), on PATH.
    let mut child = std::process::Command::new("lightosd")
        .args(["--name", "cpu-doomed", "--threads", "1"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("lightosd in the guest image");
    let mut acc = Accelerator::open().unwrap();
    lightos_vm_tests::photonic::wait_for("lightosd registered", 30, || {
        acc.devices()
            .unwrap()
            .iter()
            .any(|d| d.name == "cpu-doomed")
    });
    acc.select("cpu-doomed").unwrap();
    // MATMULs big enough to be running (or queued) when the daemon dies.
    let a = acc.zeros(&[512, 512], DType::F32).unwrap();
    let c = acc.zeros(&[512, 512], DType::F32).unwrap();
    let events: Vec<_> = (0..4).map(|_| acc.matmul(&a, &a, &c).unwrap()).collect();
    child.kill().unwrap();
    child.wait().unwrap();
    let mut last = None;
    for e in events {
        last = Some(e.wait());
    }
    match last.unwrap() {
        Err(AccelError::Job {
            op: Op::Matmul,
            device,
            status: JobStatus::DeviceLost,
        }) => assert_eq!(device, "cpu-doomed"),
        other => panic!("the last job on a killed backend ended {other:?}"),
    }
    // The application selects another device and runs the same code again.
    let _other = ExecutorThread::lightosd("cpu-rescue", 2);
    acc.select("cpu-rescue").unwrap();
    acc.matmul(&a, &a, &c).unwrap().wait().unwrap();
}

#[test]
fn a_matmul_with_zero_depth_zeroes_its_output() {
    // Empty inputs but a non-empty output: not the null primitive; the sum over no terms is 0.
    let cpu = ExecutorThread::lightosd("cpu-k0", 1);
    let dev = Context::open().unwrap();
    route_all_to(&dev, cpu.backend_id);
    let buf = dev
        .create_buffer(4096, BufferFlags::empty(), Placement::Any)
        .unwrap();
    let mut map = buf.map().unwrap();
    put_f32(&mut map[..], &[7.0; 12]);
    let prim = PrimitiveBuilder::new(Op::Matmul, DType::F32)
        .input(&buf, 1024, &[3, 0])
        .input(&buf, 2048, &[0, 4])
        .output(&buf, 0, &[3, 4]);
    assert_eq!(run(&dev, prim), JobStatus::Ok);
    assert_eq!(get_f32(&map, 12), [0.0; 12]);
}

#[test]
fn quantized_matmul_dequantizes_per_tensor_and_per_column_through_the_kernel() {
    use lightos_runtime::accel::{Accelerator, BQuant, Quant};
    let _cpu = ExecutorThread::lightosd("cpu-qmm", 2);
    let mut acc = Accelerator::open().unwrap();
    acc.select("cpu-qmm").unwrap();
    let (m, k, n) = (3usize, 40usize, 5usize);
    let qa: Vec<i8> = (0..m * k)
        .map(|i| (i as i32 * 7 % 200 - 100) as i8)
        .collect();
    let qb: Vec<i8> = (0..k * n)
        .map(|i| (i as i32 * 13 % 200 - 100) as i8)
        .collect();
    let mut a = acc.zeros(&[m as u64, k as u64], DType::I8).unwrap();
    let mut b = acc.zeros(&[k as u64, n as u64], DType::I8).unwrap();
    a.bytes_mut()
        .copy_from_slice(&qa.iter().map(|&v| v as u8).collect::<Vec<_>>());
    b.bytes_mut()
        .copy_from_slice(&qb.iter().map(|&v| v as u8).collect::<Vec<_>>());
    let col: Vec<f32> = (0..n).map(|j| 0.002 * (j + 1) as f32).collect();
    let scales = acc.tensor_from_f32(&[n as u64], &col).unwrap();
    let out = acc.zeros(&[m as u64, n as u64], DType::F32).unwrap();
    let pa = Quant {
        scale: 0.03,
        zero_point: 4,
    };
    for per_column in [false, true] {
        let pb = if per_column {
            BQuant::PerColumn {
                scales: &scales,
                zero_point: -3,
            }
        } else {
            BQuant::PerTensor(Quant {
                scale: 0.01,
                zero_point: -3,
            })
        };
        acc.matmul_quantized(&a, pa, &b, pb, &out)
            .unwrap()
            .wait()
            .unwrap();
        let got = out.to_f32().unwrap();
        for i in 0..m {
            for j in 0..n {
                let sb = if per_column { f64::from(col[j]) } else { 0.01 };
                let want: f64 = (0..k)
                    .map(|x| {
                        0.03 * f64::from(i32::from(qa[i * k + x]) - 4)
                            * sb
                            * f64::from(i32::from(qb[x * n + j]) + 3)
                    })
                    .sum::<f64>();
                let g = f64::from(got[i * n + j]);
                assert!(
                    (g - want).abs() <= 1e-5 * want.abs().max(1.0),
                    "per_column {per_column} [{i},{j}]: {g} vs {want}"
                );
            }
        }
    }
    // Checked before submission: a zero point out of i8's range names the op, nothing is submitted.
    let bad = Quant {
        scale: 0.03,
        zero_point: 200,
    };
    assert!(acc
        .matmul_quantized(&a, bad, &b, BQuant::PerTensor(pa), &out)
        .is_err());
}

#[test]
fn pool2d_runs_on_lightosd_as_onnx_defines_it() {
    use lightos_runtime::{PoolMode, PoolParams};
    let (_cpu, dev, buf) = on_lightosd("cpu-pool");
    let mut map = buf.map().unwrap();
    let (n, c, h, w) = (2usize, 3usize, 7usize, 6usize);
    let x = pattern_f32(n * c * h * w, 3);
    put_f32(&mut map[..], &x);
    // Max 3x3 stride 2 with Caffe-style padding, average 3x3 stride 1 with padding counted and
    // not, and a ceil-mode max: each against lightos-cpu's definition of the same pooling.
    let cases = [
        PoolParams {
            pads: [0, 0, 1, 1],
            ..PoolParams::new(PoolMode::Max, 3, 2)
        },
        PoolParams {
            pads: [1; 4],
            ..PoolParams::new(PoolMode::Avg, 3, 1)
        },
        PoolParams {
            pads: [1; 4],
            ..PoolParams::new(PoolMode::AvgIncludePad, 3, 1)
        },
        PoolParams {
            ceil: true,
            ..PoolParams::new(PoolMode::Max, 2, 2)
        },
    ];
    for params in cases {
        let kind = match params.mode {
            PoolMode::Max => lightos_cpu::pool::PoolKind::Max,
            PoolMode::Avg => lightos_cpu::pool::PoolKind::Avg {
                count_include_pad: false,
            },
            PoolMode::AvgIncludePad => lightos_cpu::pool::PoolKind::Avg {
                count_include_pad: true,
            },
        };
        let reference = lightos_cpu::pool::Pool2d {
            input: [n, c, h, w],
            kernel: params.kernel.map(usize::from),
            stride: params.stride.map(usize::from),
            dilation: params.dilation.map(usize::from),
            pads: params.pads.map(usize::from),
            ceil: params.ceil,
            kind,
        };
        let (oh, ow) = reference.out_hw().unwrap();
        let want = lightos_cpu::pool::pool2d(&x, &reference).unwrap();
        let prim = PrimitiveBuilder::new(Op::Pool2d, DType::F32)
            .pool(&params)
            .input(&buf, 0, &[n as u64, c as u64, h as u64, w as u64])
            .output(&buf, 32768, &[n as u64, c as u64, oh as u64, ow as u64]);
        assert_eq!(run(&dev, prim), JobStatus::Ok, "{params:?}");
        let got = get_f32(&map[32768..], want.len());
        assert_eq!(got, want, "{params:?}");
    }
    // A wrong output shape is refused by the kernel with the shape it should have been.
    let prim = PrimitiveBuilder::new(Op::Pool2d, DType::F32)
        .pool(&PoolParams::new(PoolMode::Max, 2, 2))
        .input(&buf, 0, &[n as u64, c as u64, h as u64, w as u64])
        .output(&buf, 32768, &[n as u64, c as u64, 3, 2]);
    match dev
        .create_queue(0, Duration::from_secs(5))
        .unwrap()
        .submit(&[prim])
    {
        Err(lightos_runtime::Error::Submit { reason, .. }) => {
            assert!(reason.unwrap_or_default().contains("[2, 3, 3, 3]"))
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn lrn_runs_on_lightosd_as_onnx_defines_it() {
    use lightos_runtime::LrnParams;
    let (_cpu, dev, buf) = on_lightosd("cpu-lrn");
    let mut map = buf.map().unwrap();
    let (n, c, h, w) = (2usize, 5usize, 3usize, 2usize);
    let x = pattern_f32(n * c * h * w, 5);
    put_f32(&mut map[..], &x);
    // AlexNet's window (5) and an even one (4: one more channel after than before).
    for size in [5u16, 4] {
        let params = LrnParams {
            size,
            alpha: 0.5,
            beta: 0.75,
            bias: 2.0,
        };
        let prim = PrimitiveBuilder::new(Op::Lrn, DType::F32)
            .lrn(&params)
            .input(&buf, 0, &[n as u64, c as u64, h as u64, w as u64])
            .output(&buf, 32768, &[n as u64, c as u64, h as u64, w as u64]);
        assert_eq!(run(&dev, prim), JobStatus::Ok, "size {size}");
        let got = get_f32(&map[32768..], x.len());
        // ONNX's definition, written out: channels [c - floor((size-1)/2), c + ceil((size-1)/2)].
        let (before, after) = ((size as usize - 1) / 2, (size as usize - 1).div_ceil(2));
        for ni in 0..n {
            for ci in 0..c {
                for p in 0..h * w {
                    let at = |ch: usize| (ni * c + ch) * h * w + p;
                    let lo = ci.saturating_sub(before);
                    let hi = (ci + after).min(c - 1);
                    let sq: f32 = (lo..=hi).map(|ch| x[at(ch)] * x[at(ch)]).sum();
                    let want = x[at(ci)] / (2.0 + 0.5 / f32::from(size) * sq).powf(0.75);
                    let g = got[at(ci)];
                    assert!(
                        (g - want).abs() <= 1e-6 * want.abs().max(1.0),
                        "size {size}: {g} vs {want}"
                    );
                }
            }
        }
    }
}

#[test]
fn a_float_matmul_adds_its_bias_and_applies_relu_on_lightosd() {
    let (_cpu, dev, buf) = on_lightosd("cpu-epilogue");
    let (m, k, n) = (5usize, 7usize, 3usize);
    let mut map = buf.map().unwrap();
    let (a, b, bias) = (
        pattern_f32(m * k, 4),
        pattern_f32(k * n, 5),
        pattern_f32(n, 6),
    );
    put_f32(&mut map[0..], &a);
    put_f32(&mut map[512..], &b);
    put_f32(&mut map[1024..], &bias);
    for relu in [false, true] {
        let prim = PrimitiveBuilder::new(Op::Matmul, DType::F32)
            .param(
                2,
                if relu {
                    lightos_uapi::MATMUL_EPILOGUE_RELU
                } else {
                    0
                },
            )
            .input(&buf, 0, &[m as u64, k as u64])
            .input(&buf, 512, &[k as u64, n as u64])
            .input(&buf, 1024, &[n as u64])
            .output(&buf, 2048, &[m as u64, n as u64]);
        assert_eq!(run(&dev, prim), JobStatus::Ok);
        let got = get_f32(&map[2048..], m * n);
        for i in 0..m {
            for j in 0..n {
                let dot: f64 = (0..k)
                    .map(|p| f64::from(a[i * k + p]) * f64::from(b[p * n + j]))
                    .sum();
                let want = dot + f64::from(bias[j]);
                let want = if relu { want.max(0.0) } else { want };
                let g = f64::from(got[i * n + j]);
                assert!(
                    (g - want).abs() <= 1e-5 * (1.0 + want.abs()),
                    "relu {relu} ({i},{j}): {g} vs {want}"
                );
            }
        }
    }
}

#[test]
fn an_extended_conv2d_runs_on_lightosd() {
    use lightos_runtime::ConvParams;
    let (_cpu, dev, buf) = on_lightosd("cpu-conv-ext");
    let mut map = buf.map().unwrap();
    // A depthwise 3x3 (groups = channels) with dilation 2 and Caffe-style asymmetric padding, and a
    // two-group 1x3 with strides 2 and 1: against lightos-cpu's convolution.
    let cases = [
        (
            ConvParams {
                dilation: [2, 2],
                pads: [1, 1, 2, 2],
                groups: 4,
                relu: true,
                ..ConvParams::new(1, 0)
            },
            [4usize, 1, 3, 3],
        ),
        (
            ConvParams {
                stride: [2, 1],
                groups: 2,
                ..ConvParams::new(1, 1)
            },
            [6, 2, 1, 3],
        ),
    ];
    let (n, c, h, w) = (1usize, 4usize, 9usize, 8usize);
    let x = pattern_f32(n * c * h * w, 7);
    put_f32(&mut map[..], &x);
    for (params, wshape) in cases {
        let weights = pattern_f32(wshape.iter().product(), 8);
        put_f32(&mut map[8192..], &weights);
        let s = lightos_cpu::conv::Conv2d {
            input: [n, c, h, w],
            weights: wshape,
            stride: params.stride.map(usize::from),
            dilation: params.dilation.map(usize::from),
            pads: params.pads.map(usize::from),
            groups: usize::from(params.groups),
        };
        let (oh, ow) = s.out_hw().unwrap();
        let gemm = lightos_cpu::Gemm::new(1).unwrap();
        let mut want = lightos_cpu::conv::conv2d(&gemm, &x, &weights, None, &s).unwrap();
        if params.relu {
            want.iter_mut().for_each(|v| *v = v.max(0.0));
        }
        let prim = PrimitiveBuilder::new(Op::Conv2d, DType::F32)
            .conv(&params)
            .input(&buf, 0, &[n as u64, c as u64, h as u64, w as u64])
            .input(&buf, 8192, &wshape.map(|d| d as u64))
            .output(
                &buf,
                32768,
                &[n as u64, wshape[0] as u64, oh as u64, ow as u64],
            );
        assert_eq!(run(&dev, prim), JobStatus::Ok, "{params:?}");
        let got = get_f32(&map[32768..], want.len());
        for (i, (g, e)) in got.iter().zip(&want).enumerate() {
            assert!(
                (g - e).abs() <= 1e-5 * (1.0 + e.abs()),
                "{params:?} [{i}]: {g} vs {e}"
            );
        }
    }
}

#[test]
fn abi_1_13_element_wise_reduce_gather_and_softmax_axis_run_on_lightosd() {
    use lightos_runtime::{BinaryFn, ReduceKind, UnaryFn};
    let (_cpu, dev, buf) = on_lightosd("cpu-1-13");
    let mut map = buf.map().unwrap();
    // Random values (no exact zeros to divide by, as the patterns have).
    let (a, b) = (random_f32(24, 7), random_f32(24, 8));
    put_f32(&mut map[0..], &a);
    put_f32(&mut map[1024..], &b);
    let close = |g: f32, w: f32, what: &str| {
        assert!(
            (g - w).abs() <= 1e-6 * w.abs().max(1.0),
            "{what}: {g} vs {w}"
        );
    };
    type Unary = (UnaryFn, fn(f32) -> f32);
    let unary: [Unary; 6] = [
        (UnaryFn::Exp, f32::exp),
        (UnaryFn::Tanh, f32::tanh),
        (UnaryFn::Sigmoid, |x| 1.0 / (1.0 + (-x).exp())),
        (UnaryFn::Sqrt, |x| x.abs().sqrt()),
        (UnaryFn::Reciprocal, |x| 1.0 / x),
        (UnaryFn::Neg, |x| -x),
    ];
    for (f, want) in unary {
        // √ of |a| (a NaN compares unequal), the others of a.
        let src = if f == UnaryFn::Sqrt { 2048 } else { 0 };
        put_f32(
            &mut map[2048..],
            &a.iter().map(|x| x.abs()).collect::<Vec<_>>(),
        );
        let prim = PrimitiveBuilder::new(Op::Unary, DType::F32)
            .unary(f)
            .input(&buf, src, &[24])
            .output(&buf, 32768, &[24]);
        assert_eq!(run(&dev, prim), JobStatus::Ok, "{f:?}");
        let got = get_f32(&map[32768..], 24);
        for (g, x) in got.iter().zip(&a) {
            close(*g, want(*x), &format!("{f:?}"));
        }
    }
    // erf(0.5), from the tables.
    put_f32(&mut map[4096..], &[0.5]);
    let prim = PrimitiveBuilder::new(Op::Unary, DType::F32)
        .unary(UnaryFn::Erf)
        .input(&buf, 4096, &[1])
        .output(&buf, 32768, &[1]);
    assert_eq!(run(&dev, prim), JobStatus::Ok);
    close(get_f32(&map[32768..], 1)[0], 0.520_499_9, "erf");
    type Binary = (BinaryFn, fn(f32, f32) -> f32);
    let binary: [Binary; 5] = [
        (BinaryFn::Sub, |x, y| x - y),
        (BinaryFn::Div, |x, y| x / y),
        (BinaryFn::Max, f32::max),
        (BinaryFn::Min, f32::min),
        (BinaryFn::Pow, |x, y| x.abs().powf(y)),
    ];
    for (f, want) in binary {
        let src = if f == BinaryFn::Pow { 2048 } else { 0 };
        let prim = PrimitiveBuilder::new(Op::Binary, DType::F32)
            .binary(f)
            .input(&buf, src, &[24])
            .input(&buf, 1024, &[24])
            .output(&buf, 32768, &[24]);
        assert_eq!(run(&dev, prim), JobStatus::Ok, "{f:?}");
        let got = get_f32(&map[32768..], 24);
        for i in 0..24 {
            close(got[i], want(a[i], b[i]), &format!("{f:?}"));
        }
    }
    // a as [2,3,4]: the mean over axes 0 and 2, then the maximum over axis 1.
    let prim = PrimitiveBuilder::new(Op::Reduce, DType::F32)
        .reduce(ReduceKind::Mean, &[0, 2])
        .input(&buf, 0, &[2, 3, 4])
        .output(&buf, 32768, &[1, 3, 1]);
    assert_eq!(run(&dev, prim), JobStatus::Ok);
    let got = get_f32(&map[32768..], 3);
    for j in 0..3 {
        let sum: f32 = (0..2)
            .flat_map(|i| (0..4).map(move |k| (i, k)))
            .map(|(i, k)| a[i * 12 + j * 4 + k])
            .sum();
        close(got[j], sum / 8.0, "mean");
    }
    let prim = PrimitiveBuilder::new(Op::Reduce, DType::F32)
        .reduce(ReduceKind::Max, &[1])
        .input(&buf, 0, &[2, 3, 4])
        .output(&buf, 32768, &[2, 1, 4]);
    assert_eq!(run(&dev, prim), JobStatus::Ok);
    let got = get_f32(&map[32768..], 8);
    for i in 0..2 {
        for k in 0..4 {
            let want = (0..3)
                .map(|j| a[i * 12 + j * 4 + k])
                .fold(f32::MIN, f32::max);
            close(got[i * 4 + k], want, "max");
        }
    }
    // Softmax along the middle axis of [2,3,4]: each (i, k) lane sums to one.
    let prim = PrimitiveBuilder::new(Op::Softmax, DType::F32)
        .axis(1)
        .input(&buf, 0, &[2, 3, 4])
        .output(&buf, 32768, &[2, 3, 4]);
    assert_eq!(run(&dev, prim), JobStatus::Ok);
    let got = get_f32(&map[32768..], 24);
    for i in 0..2 {
        for k in 0..4 {
            let z: f32 = (0..3).map(|j| a[i * 12 + j * 4 + k].exp()).sum();
            for j in 0..3 {
                let at = i * 12 + j * 4 + k;
                close(got[at], a[at].exp() / z, "softmax");
            }
        }
    }
    // Gather rows 2 and -1 (the last) of a as [6,4]; then an index out of range fails the job.
    for (i, v) in [2i64, -1].iter().enumerate() {
        map[8192 + 8 * i..8200 + 8 * i].copy_from_slice(&v.to_le_bytes());
    }
    let gather = PrimitiveBuilder::new(Op::Gather, DType::F32)
        .axis(0)
        .input(&buf, 0, &[6, 4])
        .input(&buf, 8192, &[2])
        .output(&buf, 32768, &[2, 4]);
    assert_eq!(run(&dev, gather), JobStatus::Ok);
    let got = get_f32(&map[32768..], 8);
    assert_eq!(&got[..4], &a[8..12]);
    assert_eq!(&got[4..], &a[20..24]);
    map[8192..8200].copy_from_slice(&6i64.to_le_bytes());
    assert_ne!(run(&dev, gather), JobStatus::Ok, "index 6 of 6 rows");
}
