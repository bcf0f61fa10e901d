//! One test per rejection path of a primitive descriptor: each mutates a valid ADD in one way and
//! expects SUBMIT to fail with its errno, name primitive 0, and admit nothing (the op's accepted count
//! and the module's jobs in flight are unchanged), with a reason read back through the runtime.

use lightos_runtime::{Context, Error, Op};
use lightos_uapi as uapi;
use nix::errno::Errno;

/// Submits a valid 4-element f32 ADD (a at 0, b at 16, out at 32 of a 4 KiB buffer) changed by
/// `mutate`, which also gets a device-read-only buffer's handle, and expects `errno`.
fn rejected(mutate: impl Fn(&mut uapi::Primitive, u32), errno: Errno) {
    let dev = Context::open().unwrap();
    let (q, p, _buffers) = lightos_vm_tests::mutated_add(&dev, mutate);
    let before = dev.op_stats().unwrap()[Op::Add].count;
    let in_flight = dev.stats().unwrap().jobs_in_flight;
    match q.submit(&[p]) {
        Err(Error::Submit {
            index,
            errno: e,
            reason,
        }) => {
            assert_eq!((index, e), (0, errno), "{p:?}");
            // Every rejection of a primitive says why (ABI 1.8).
            assert!(reason.is_some_and(|r| !r.is_empty()), "no reason for {p:?}");
        }
        other => panic!("expected {errno}, got {other:?}"),
    }
    assert_eq!(dev.op_stats().unwrap()[Op::Add].count, before);
    assert_eq!(dev.stats().unwrap().jobs_in_flight, in_flight);
}

macro_rules! rejection {
    ($name:ident, $errno:ident, |$p:ident, $ro:ident| $body:expr) => {
        #[test]
        fn $name() {
            #[allow(unused_variables)]
            rejected(|$p: &mut uapi::Primitive, $ro: u32| $body, Errno::$errno);
        }
    };
}

rejection!(op_zero, EINVAL, |p, ro| p.op = 0);
rejection!(op_unknown, EINVAL, |p, ro| p.op = uapi::OP_COUNT as u16 + 1);
rejection!(dtype_zero, EINVAL, |p, ro| p.dtype = 0);
rejection!(dtype_unknown, EINVAL, |p, ro| p.dtype = uapi::DTYPE_MAX + 1);
rejection!(out_dtype_the_op_does_not_take, EINVAL, |p, ro| p
    .out_dtype =
    uapi::DTYPE_I8);
rejection!(out_dtype_unknown, EINVAL, |p, ro| p.out_dtype =
    uapi::DTYPE_MAX + 1);
rejection!(rounding_unknown, EINVAL, |p, ro| p.rounding =
    uapi::ROUND_MAX + 1);
rejection!(flag_unknown, EINVAL, |p, ro| p.flags = 1 << 7);
rejection!(causal_flag_on_a_non_attention_op, EINVAL, |p, ro| p.flags =
    uapi::PRIM_CAUSAL);
rejection!(pad_set, EINVAL, |p, ro| p.pad = 1);
rejection!(pad2_set, EINVAL, |p, ro| p.pad2 = 1);
rejection!(pad3_set, EINVAL, |p, ro| p.pad3 = 1);
rejection!(n_deps_above_max, EINVAL, |p, ro| {
    p.n_deps = uapi::MAX_DEPS + 1;
    p.deps = 0x1000;
});
rejection!(n_deps_without_a_list, EINVAL, |p, ro| p.n_deps = 1);
rejection!(dependency_list_without_a_count, EINVAL, |p, ro| p.deps =
    0x1000);
rejection!(dependency_list_unreadable, EFAULT, |p, ro| {
    p.n_deps = 1;
    p.deps = 8;
});
rejection!(unused_param_set, EINVAL, |p, ro| p.params[0] = 1);
rejection!(too_few_inputs, EINVAL, |p, ro| p.n_inputs = 1);
rejection!(too_many_inputs, EINVAL, |p, ro| p.n_inputs = 3);
rejection!(unused_operand_set, EINVAL, |p, ro| p.operands[3].ndim = 1);
rejection!(ndim_zero, EINVAL, |p, ro| p.operands[0].ndim = 0);
rejection!(ndim_above_max, EINVAL, |p, ro| p.operands[0].ndim = 5);
rejection!(dim_beyond_ndim_set, EINVAL, |p, ro| p.operands[0].shape
    [1] = 4);
rejection!(stride_beyond_ndim_set, EINVAL, |p, ro| p.operands[0]
    .strides[2] = 1);
rejection!(dim_above_max, EINVAL, |p, ro| p.operands[0].shape[0] =
    uapi::MAX_DIM_SIZE + 1);
rejection!(shapes_disagree, EINVAL, |p, ro| p.operands[1].shape[0] = 5);
rejection!(unknown_buffer_handle, ENOENT, |p, ro| p.operands[0]
    .buffer = 9999);
rejection!(misaligned_offset, EINVAL, |p, ro| p.operands[0].offset = 2);
rejection!(extent_past_the_buffer, ERANGE, |p, ro| p.operands[2]
    .offset =
    4096 - 8);
rejection!(stride_past_the_buffer, ERANGE, |p, ro| p.operands[2]
    .strides[0] =
    1 << 40);
rejection!(offset_overflow, EOVERFLOW, |p, ro| p.operands[0].offset =
    u64::MAX - 3);
rejection!(stride_overflow, EOVERFLOW, |p, ro| p.operands[1].strides
    [0] = u64::MAX / 2);
rejection!(output_device_read_only, EACCES, |p, ro| p.operands[2]
    .buffer = ro);
rejection!(output_overlaps_an_input_partly, EINVAL, |p, ro| p
    .operands[2]
    .offset =
    8);

/// Turns the valid ADD into a valid POOL2D (ABI 1.11): a 2x2 max window over `a` as [1,1,2,2],
/// stride 1, into `out` as [1,1,1,1].
fn pool(p: &mut uapi::Primitive) {
    let (a, out) = (p.operands[0], p.operands[2]);
    p.op = uapi::OP_POOL2D;
    p.n_inputs = 1;
    p.operands[0] = uapi::Tensor {
        ndim: 4,
        shape: [1, 1, 2, 2],
        ..a
    };
    p.operands[1] = uapi::Tensor {
        ndim: 4,
        shape: [1, 1, 1, 1],
        ..out
    };
    p.operands[2] = uapi::Tensor::default();
    p.params[0] = 2 | 2 << 16 | 1 << 32 | 1 << 48;
    p.params[2] = 1 | 1 << 16;
}

/// A valid primitive built by `mutate` passes validation: no backend in this suite runs it, so it
/// gets as far as routing (ENODEV, with a reason naming `op`).
fn passes_validation(mutate: impl Fn(&mut uapi::Primitive), op: &str) {
    let dev = Context::open().unwrap();
    let (q, p, _b) = lightos_vm_tests::mutated_add(&dev, |p, _| mutate(p));
    match q.submit(&[p]) {
        Err(Error::Submit { errno, reason, .. }) => {
            assert_eq!(errno, Errno::ENODEV);
            assert!(reason.unwrap().contains(op));
        }
        other => panic!("expected ENODEV from routing, got {other:?}"),
    }
}

#[test]
fn a_valid_pool2d_passes_validation() {
    passes_validation(pool, "pool2d");
}

rejection!(pool2d_mode_unknown, EINVAL, |p, ro| {
    pool(p);
    p.params[2] |= 3 << 32;
});
rejection!(pool2d_unknown_param_bit, EINVAL, |p, ro| {
    pool(p);
    p.params[2] |= 1 << 41;
});
rejection!(pool2d_kernel_zero, EINVAL, |p, ro| {
    pool(p);
    p.params[0] &= !0xffff;
});
rejection!(pool2d_stride_zero, EINVAL, |p, ro| {
    pool(p);
    p.params[0] &= !(0xffff << 32);
});
rejection!(pool2d_dilation_zero, EINVAL, |p, ro| {
    pool(p);
    p.params[2] &= !0xffff;
});
rejection!(pool2d_padding_above_max, EINVAL, |p, ro| {
    pool(p);
    p.params[1] = uapi::POOL_MAX_PARAM + 1;
});
rejection!(pool2d_window_larger_than_the_input, EINVAL, |p, ro| {
    pool(p);
    p.params[0] = 3 | 3 << 16 | 1 << 32 | 1 << 48;
});
rejection!(pool2d_output_shape_wrong, EINVAL, |p, ro| {
    pool(p);
    p.operands[1].shape = [1, 1, 1, 2];
});
rejection!(pool2d_input_not_4d, EINVAL, |p, ro| {
    pool(p);
    p.operands[0].ndim = 2;
    p.operands[0].shape = [2, 2, 0, 0];
});
rejection!(pool2d_integer_dtype, EINVAL, |p, ro| {
    pool(p);
    p.dtype = uapi::DTYPE_I8;
});
rejection!(pool2d_fourth_param_set, EINVAL, |p, ro| {
    pool(p);
    p.params[3] = 1;
});

/// Turns the valid ADD into a valid LRN (ABI 1.12): size 3, alpha 1e-4, beta 0.75, bias 1 over
/// `a` as [1,2,2] into `out` alike.
fn lrn(p: &mut uapi::Primitive) {
    let (a, out) = (p.operands[0], p.operands[2]);
    p.op = uapi::OP_LRN;
    p.n_inputs = 1;
    p.operands[0] = uapi::Tensor {
        ndim: 3,
        shape: [1, 2, 2, 0],
        ..a
    };
    p.operands[1] = uapi::Tensor {
        ndim: 3,
        shape: [1, 2, 2, 0],
        ..out
    };
    p.operands[2] = uapi::Tensor::default();
    p.params[0] = 3;
    p.params[1] = u64::from(1e-4f32.to_bits()) | u64::from(0.75f32.to_bits()) << 32;
    p.params[2] = u64::from(1f32.to_bits());
}

#[test]
fn a_valid_lrn_passes_validation() {
    passes_validation(lrn, "lrn");
}

rejection!(lrn_size_zero, EINVAL, |p, ro| {
    lrn(p);
    p.params[0] = 0;
});
rejection!(lrn_size_above_max, EINVAL, |p, ro| {
    lrn(p);
    p.params[0] = uapi::LRN_MAX_SIZE + 1;
});
rejection!(lrn_bias_not_positive, EINVAL, |p, ro| {
    lrn(p);
    p.params[2] = u64::from(0f32.to_bits());
});
rejection!(lrn_bias_upper_word_set, EINVAL, |p, ro| {
    lrn(p);
    p.params[2] |= 1 << 32;
});
rejection!(lrn_alpha_negative, EINVAL, |p, ro| {
    lrn(p);
    p.params[1] = u64::from((-1f32).to_bits()) | u64::from(0.75f32.to_bits()) << 32;
});
rejection!(lrn_beta_not_finite, EINVAL, |p, ro| {
    lrn(p);
    p.params[1] = u64::from(1e-4f32.to_bits()) | u64::from(f32::NAN.to_bits()) << 32;
});
rejection!(lrn_one_dimension, EINVAL, |p, ro| {
    lrn(p);
    p.operands[0].ndim = 1;
    p.operands[0].shape = [4, 0, 0, 0];
    p.operands[1].ndim = 1;
    p.operands[1].shape = [4, 0, 0, 0];
});
rejection!(lrn_output_shape_differs, EINVAL, |p, ro| {
    lrn(p);
    p.operands[1].shape = [1, 4, 1, 0];
});
rejection!(lrn_integer_dtype, EINVAL, |p, ro| {
    lrn(p);
    p.dtype = uapi::DTYPE_I8;
});
rejection!(lrn_fourth_param_set, EINVAL, |p, ro| {
    lrn(p);
    p.params[3] = 1;
});

/// Turns the valid ADD into a valid extended CONV2D (ABI 1.11): `a` as x[1,2,1,2], `b` as
/// w[2,1,1,1] with 2 groups, stride 1, out [1,2,1,2] at `out`.
fn conv(p: &mut uapi::Primitive) {
    let (a, b, out) = (p.operands[0], p.operands[1], p.operands[2]);
    p.op = uapi::OP_CONV2D;
    p.operands[0] = uapi::Tensor {
        ndim: 4,
        shape: [1, 2, 1, 2],
        ..a
    };
    p.operands[1] = uapi::Tensor {
        ndim: 4,
        shape: [2, 1, 1, 1],
        ..b
    };
    p.operands[2] = uapi::Tensor {
        ndim: 4,
        shape: [1, 2, 1, 2],
        ..out
    };
    p.params[0] = 1 | 1 << 16 | 1 << 32 | 1 << 48;
    p.params[2] = 2 | uapi::CONV2D_EXTENDED;
}

#[test]
fn a_valid_extended_conv2d_passes_validation() {
    passes_validation(conv, "conv2d");
}

rejection!(
    conv2d_third_param_without_the_extended_flag,
    EINVAL,
    |p, ro| {
        conv(p);
        p.params[2] = 2;
    }
);
rejection!(conv2d_extended_unknown_bit, EINVAL, |p, ro| {
    conv(p);
    p.params[2] |= 1 << 20;
});
rejection!(conv2d_extended_stride_zero, EINVAL, |p, ro| {
    conv(p);
    p.params[0] &= !0xffff;
});
rejection!(conv2d_extended_dilation_zero, EINVAL, |p, ro| {
    conv(p);
    p.params[0] &= !(0xffff << 32);
});
rejection!(conv2d_extended_padding_above_max, EINVAL, |p, ro| {
    conv(p);
    p.params[1] = uapi::CONV2D_MAX_PARAM + 1;
});
rejection!(conv2d_extended_groups_not_dividing, EINVAL, |p, ro| {
    conv(p);
    p.params[2] = 3 | uapi::CONV2D_EXTENDED;
});
rejection!(conv2d_extended_output_shape_wrong, EINVAL, |p, ro| {
    conv(p);
    p.operands[2].shape = [1, 2, 2, 1];
});

/// Turns the valid ADD into a one-input op (ABI 1.13's UNARY, REDUCE, SOFTMAX): `a` as `x_dims`
/// into `out` as `out_dims`.
fn one_input(p: &mut uapi::Primitive, op: u16, x_dims: &[u64], out_dims: &[u64]) {
    let (a, out) = (p.operands[0], p.operands[2]);
    let view = |t: uapi::Tensor, d: &[u64]| {
        let mut v = uapi::Tensor {
            ndim: d.len() as u32,
            shape: [0; 4],
            ..t
        };
        v.shape[..d.len()].copy_from_slice(d);
        v
    };
    p.op = op;
    p.n_inputs = 1;
    p.operands[0] = view(a, x_dims);
    p.operands[1] = view(out, out_dims);
    p.operands[2] = uapi::Tensor::default();
}

/// A valid UNARY (ABI 1.13): exp of `a` into `out`.
fn unary(p: &mut uapi::Primitive) {
    one_input(p, uapi::OP_UNARY, &[4], &[4]);
    p.params[0] = uapi::UNARY_EXP;
}

/// A valid BINARY (ABI 1.13): `a - b` into `out`.
fn binary(p: &mut uapi::Primitive) {
    p.op = uapi::OP_BINARY;
    p.params[0] = uapi::BINARY_SUB;
}

/// A valid REDUCE (ABI 1.13): the sums of `a` as [2,2] over axis 1 into `out` as [2,1].
fn reduce(p: &mut uapi::Primitive) {
    one_input(p, uapi::OP_REDUCE, &[2, 2], &[2, 1]);
    p.params[0] = uapi::REDUCE_SUM;
    p.params[1] = 0b10;
}

/// A valid GATHER (ABI 1.13): rows of `a` as [2,2] picked by the two i64 indices at byte 16,
/// into `out` as [2,2].
fn gather(p: &mut uapi::Primitive) {
    p.op = uapi::OP_GATHER;
    p.operands[0].ndim = 2;
    p.operands[0].shape = [2, 2, 0, 0];
    p.operands[1].shape = [2, 0, 0, 0];
    p.operands[2].ndim = 2;
    p.operands[2].shape = [2, 2, 0, 0];
}

/// A valid SOFTMAX along axis 0 of `a` as [2,2] (ABI 1.13's axis parameter).
fn softmax_axis(p: &mut uapi::Primitive) {
    one_input(p, uapi::OP_SOFTMAX, &[2, 2], &[2, 2]);
    p.params[0] = 1;
}

#[test]
fn valid_abi_1_13_ops_pass_validation() {
    passes_validation(unary, "unary");
    passes_validation(binary, "binary");
    passes_validation(reduce, "reduce");
    passes_validation(gather, "gather");
    passes_validation(softmax_axis, "softmax");
}

rejection!(unary_function_zero, EINVAL, |p, ro| {
    unary(p);
    p.params[0] = 0;
});
rejection!(unary_function_unknown, EINVAL, |p, ro| {
    unary(p);
    p.params[0] = uapi::UNARY_MAX + 1;
});
rejection!(unary_output_shape_differs, EINVAL, |p, ro| {
    unary(p);
    p.operands[1].shape[0] = 3;
});
rejection!(unary_integer_dtype, EINVAL, |p, ro| {
    unary(p);
    p.dtype = uapi::DTYPE_I8;
});
rejection!(unary_second_param_set, EINVAL, |p, ro| {
    unary(p);
    p.params[1] = 1;
});
rejection!(binary_function_zero, EINVAL, |p, ro| {
    binary(p);
    p.params[0] = 0;
});
rejection!(binary_function_unknown, EINVAL, |p, ro| {
    binary(p);
    p.params[0] = uapi::BINARY_MAX_FN + 1;
});
rejection!(binary_shapes_differ, EINVAL, |p, ro| {
    binary(p);
    p.operands[1].shape[0] = 3;
});
rejection!(binary_integer_dtype, EINVAL, |p, ro| {
    binary(p);
    p.dtype = uapi::DTYPE_I8;
});
rejection!(binary_one_input, EINVAL, |p, ro| {
    binary(p);
    p.n_inputs = 1;
});
rejection!(reduce_kind_zero, EINVAL, |p, ro| {
    reduce(p);
    p.params[0] = 0;
});
rejection!(reduce_kind_unknown, EINVAL, |p, ro| {
    reduce(p);
    p.params[0] = uapi::REDUCE_MAX_KIND + 1;
});
rejection!(reduce_no_axes, EINVAL, |p, ro| {
    reduce(p);
    p.params[1] = 0;
});
rejection!(reduce_axis_past_ndim, EINVAL, |p, ro| {
    reduce(p);
    p.params[1] = 0b100;
});
rejection!(reduce_output_shape_wrong, EINVAL, |p, ro| {
    reduce(p);
    p.operands[1].shape = [1, 2, 0, 0];
});
rejection!(reduce_integer_dtype, EINVAL, |p, ro| {
    reduce(p);
    p.dtype = uapi::DTYPE_I8;
});
rejection!(reduce_third_param_set, EINVAL, |p, ro| {
    reduce(p);
    p.params[2] = 1;
});
rejection!(reduce_output_overlaps_its_input, EINVAL, |p, ro| {
    reduce(p);
    p.operands[1].offset = 0;
});
rejection!(gather_axis_past_ndim, EINVAL, |p, ro| {
    gather(p);
    p.params[0] = 2;
});
rejection!(gather_output_shape_wrong, EINVAL, |p, ro| {
    gather(p);
    p.operands[2].shape = [2, 1, 0, 0];
});
rejection!(gather_from_an_empty_axis, EINVAL, |p, ro| {
    gather(p);
    p.operands[0].shape = [0, 2, 0, 0];
    p.operands[2].shape = [2, 2, 0, 0];
});
rejection!(gather_output_above_four_dims, EINVAL, |p, ro| {
    gather(p);
    p.operands[1].ndim = 4;
    p.operands[1].shape = [1, 1, 1, 2];
});
rejection!(gather_indices_misaligned, EINVAL, |p, ro| {
    gather(p);
    p.operands[1].offset = 20;
});
rejection!(gather_indices_past_the_buffer, ERANGE, |p, ro| {
    gather(p);
    p.operands[1].offset = 4096 - 8;
});
rejection!(gather_second_param_set, EINVAL, |p, ro| {
    gather(p);
    p.params[1] = 1;
});
rejection!(softmax_axis_past_ndim, EINVAL, |p, ro| {
    softmax_axis(p);
    p.params[0] = 3;
});
