//! Quantized MATMUL (ABI 1.7): one test per rejection path of its scales, zero points and scales
//! input; and the float MATMUL's epilogue (1.11: a bias as the third input, ReLU in `params[2]`). Each mutates a valid i8 MATMUL with per-tensor scales (which lightosd accepts: the first
//! test) in one way and expects SUBMIT to refuse it with EINVAL, naming primitive 0.

use lightos_runtime::{
    BufferFlags, Context, DType, Error, Op, Placement, Primitive, PrimitiveBuilder,
};
use lightos_uapi as uapi;
use lightos_vm_tests::ExecutorThread;
use nix::errno::Errno;
use std::time::Duration;

/// A params word: f32 scale bits low, zero point high.
fn word(scale_bits: u32, zero: i32) -> u64 {
    u64::from(scale_bits) | (u64::from(zero as u32) << 32)
}

const ONE: u32 = 0x3f80_0000; // 1.0f32

/// `a[2,4]` i8 at 0, `b[4,3]` i8 at 64, scales f32[3] at 128, out f32[2,3] at 256; per tensor.
fn valid(b: &lightos_runtime::Buffer) -> uapi::Primitive {
    *PrimitiveBuilder::new(Op::Matmul, DType::I8)
        .out_dtype(DType::F32)
        .param(0, word(ONE, 1))
        .param(1, word(ONE, -2))
        .input(b, 0, &[2, 4])
        .input(b, 64, &[4, 3])
        .output(b, 256, &[2, 3])
        .abi()
}

/// Adds the per-column scales input (B's scale word must then be 0).
fn per_column(mut p: uapi::Primitive) -> uapi::Primitive {
    p.operands[3] = p.operands[2];
    p.operands[2] = uapi::Tensor {
        offset: 128,
        ndim: 1,
        shape: [3, 0, 0, 0],
        ..p.operands[1]
    };
    p.operands[2].strides = [0; 4];
    p.n_inputs = 3;
    p.params[1] = word(0, -2);
    p
}

fn submit(p: uapi::Primitive) -> Result<(), Errno> {
    let dev = Context::open().unwrap();
    let q = dev.create_queue(0, Duration::from_secs(10)).unwrap();
    let b = dev
        .create_buffer(4096, BufferFlags::empty(), Placement::Any)
        .unwrap();
    // Per-column scales of 1.0 (a zero scale would be the backend's refusal, not the kernel's).
    let mut m = b.map().unwrap();
    for j in 0..3 {
        m[128 + 4 * j..132 + 4 * j].copy_from_slice(&1.0f32.to_le_bytes());
    }
    drop(m);
    let mut p = p;
    for t in p.operands.iter_mut().filter(|t| t.ndim != 0) {
        t.buffer = b.handle();
    }
    match q.submit(&[Primitive::from_abi(p)]) {
        Ok(s) => {
            let c = q.wait(s.last_seq, Some(Duration::from_secs(30))).unwrap();
            assert_eq!(c.status, lightos_runtime::JobStatus::Ok);
            Ok(())
        }
        Err(Error::Submit {
            index,
            errno,
            reason,
        }) => {
            assert_eq!(index, 0);
            assert!(
                reason.is_some_and(|r| !r.is_empty()),
                "a rejection says why"
            );
            Err(errno)
        }
        Err(e) => panic!("{e}"),
    }
}

fn rejected(mutate: impl Fn(&mut uapi::Primitive)) {
    let dev = Context::open().unwrap();
    let b = dev
        .create_buffer(4096, BufferFlags::empty(), Placement::Any)
        .unwrap();
    let mut p = valid(&b);
    mutate(&mut p);
    assert_eq!(submit(p), Err(Errno::EINVAL), "{p:?}");
}

#[test]
fn a_valid_scaled_matmul_per_tensor_and_per_column_is_accepted() {
    let _cpu = ExecutorThread::lightosd("cpu-qrej", 1);
    let dev = Context::open().unwrap();
    let b = dev
        .create_buffer(4096, BufferFlags::empty(), Placement::Any)
        .unwrap();
    assert_eq!(submit(valid(&b)), Ok(()));
    assert_eq!(submit(per_column(valid(&b))), Ok(()));
}

#[test]
fn params_on_a_float_matmul() {
    rejected(|p| {
        p.dtype = uapi::DTYPE_F32;
        p.out_dtype = 0;
    });
}

#[test]
fn scales_with_a_quantized_output() {
    rejected(|p| p.out_dtype = uapi::DTYPE_I8);
}

#[test]
fn a_scale_of_zero() {
    rejected(|p| p.params[0] = word(0, 1));
}

#[test]
fn a_negative_scale() {
    rejected(|p| p.params[1] = word(0xbf80_0000, 0));
}

#[test]
fn a_non_finite_scale() {
    rejected(|p| p.params[0] = word(0x7f80_0000, 0));
    rejected(|p| p.params[1] = word(0x7fc0_0000, 0));
}

#[test]
fn an_i8_zero_point_out_of_range() {
    rejected(|p| p.params[0] = word(ONE, 128));
    rejected(|p| p.params[1] = word(ONE, -129));
}

#[test]
fn an_fp8_zero_point() {
    rejected(|p| p.dtype = uapi::DTYPE_FP8_E4M3);
}

#[test]
fn a_b_scale_beside_per_column_scales() {
    rejected(|p| {
        *p = per_column(*p);
        p.params[1] = word(ONE, 0);
    });
}

#[test]
fn per_column_scales_of_the_wrong_length() {
    rejected(|p| {
        *p = per_column(*p);
        p.operands[2].shape[0] = 2;
    });
}

/// The valid per-column MATMUL made a float one: its third input is then a bias (ABI 1.11).
fn float_with_bias(p: &mut uapi::Primitive) {
    *p = per_column(*p);
    p.dtype = uapi::DTYPE_F32;
    p.out_dtype = 0;
    p.params = [0; 4];
}

#[test]
fn a_float_matmuls_third_input_is_a_bias_of_its_length() {
    // Accepted as a bias since 1.11 (lightosd runs it: vm_cpu_backend checks the values) ...
    let _cpu = ExecutorThread::lightosd("cpu-qbias", 1);
    let dev = Context::open().unwrap();
    let b = dev
        .create_buffer(4096, BufferFlags::empty(), Placement::Any)
        .unwrap();
    let mut p = valid(&b);
    float_with_bias(&mut p);
    assert_eq!(submit(p), Ok(()));
    // ... but not one of the wrong length.
    rejected(|p| {
        float_with_bias(p);
        p.operands[2].shape[0] = 2;
    });
}

#[test]
fn an_unknown_epilogue_bit() {
    rejected(|p| {
        float_with_bias(p);
        p.params[2] = 2;
    });
}

#[test]
fn an_unused_param_word() {
    rejected(|p| p.params[2] = 1);
}
