//! Compute primitives: typed ops, dtypes and statuses, and a builder for the kernel's descriptor.

use crate::Buffer;
use lightos_uapi as uapi;

/// A compute primitive's operation (`LIGHTOS_OP_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum Op {
    /// `a[M,K] · b[K,N]`.
    Matmul = uapi::OP_MATMUL,
    /// 2-D convolution, NCHW.
    Conv2d = uapi::OP_CONV2D,
    /// Softmax over the last dimension, or another (ABI 1.13: `params[0]` = axis + 1).
    Softmax = uapi::OP_SOFTMAX,
    /// Layer normalisation over the last dimension.
    LayerNorm = uapi::OP_LAYERNORM,
    /// Scaled dot-product attention.
    Attention = uapi::OP_ATTENTION,
    /// GELU (tanh approximation).
    Gelu = uapi::OP_GELU,
    /// ReLU.
    Relu = uapi::OP_RELU,
    /// Element-wise sum.
    Add = uapi::OP_ADD,
    /// Element-wise product.
    Mul = uapi::OP_MUL,
    /// Float to i8/fp8.
    Quantize = uapi::OP_QUANTIZE,
    /// i8/fp8 to float.
    Dequantize = uapi::OP_DEQUANTIZE,
    /// Copy.
    Copy = uapi::OP_COPY,
    /// Values to spike events, produced into a kernel spike queue.
    SpikeEncode = uapi::OP_SPIKE_ENCODE,
    /// 2-D max or average pooling, NCHW (ABI 1.11; [`PoolParams`]).
    Pool2d = uapi::OP_POOL2D,
    /// Local response normalization across channels (ABI 1.12; [`LrnParams`]).
    Lrn = uapi::OP_LRN,
    /// An element-wise function of one tensor (ABI 1.13; [`UnaryFn`]).
    Unary = uapi::OP_UNARY,
    /// An element-wise function of two tensors of one shape (ABI 1.13; [`BinaryFn`]).
    Binary = uapi::OP_BINARY,
    /// A sum, mean or maximum over axes (ABI 1.13; [`ReduceKind`]).
    Reduce = uapi::OP_REDUCE,
    /// Rows picked by i64 indices along an axis (ABI 1.13).
    Gather = uapi::OP_GATHER,
}

impl Op {
    /// Every op, in ABI order.
    pub const ALL: [Op; uapi::OP_COUNT] = [
        Op::Matmul,
        Op::Conv2d,
        Op::Softmax,
        Op::LayerNorm,
        Op::Attention,
        Op::Gelu,
        Op::Relu,
        Op::Add,
        Op::Mul,
        Op::Quantize,
        Op::Dequantize,
        Op::Copy,
        Op::SpikeEncode,
        Op::Pool2d,
        Op::Lrn,
        Op::Unary,
        Op::Binary,
        Op::Reduce,
        Op::Gather,
    ];

    /// The op with ABI number `raw`.
    pub fn from_raw(raw: u16) -> Option<Op> {
        Op::ALL.get(usize::from(raw).checked_sub(1)?).copied()
    }

    /// Its bit in an executor's op mask.
    pub fn bit(self) -> u64 {
        1 << (self as u16)
    }
}

/// The lowercase names (`matmul`, `conv2d`, …) of the ops in an executor's op mask, in ABI order.
pub fn op_names(mask: u64) -> Vec<String> {
    Op::ALL
        .iter()
        .filter(|op| mask & op.bit() != 0)
        .map(|op| format!("{op:?}").to_lowercase())
        .collect()
}

/// The lowercase names (`f32`, `bf16`, …) of the dtypes in a dtype mask, in ABI order.
pub fn dtype_names(mask: u32) -> Vec<String> {
    DType::ALL
        .iter()
        .filter(|d| mask & d.bit() != 0)
        .map(|d| format!("{d:?}").to_lowercase())
        .collect()
}

/// The extended parameters of an [`Op::Conv2d`] (ABI 1.11; ONNX Conv semantics): weights are
/// `[O, C/groups, KH, KW]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvParams {
    /// Vertical and horizontal stride.
    pub stride: [u16; 2],
    /// Vertical and horizontal dilation.
    pub dilation: [u16; 2],
    /// Padding: top, left, bottom, right.
    pub pads: [u16; 4],
    /// Groups.
    pub groups: u16,
    /// Apply ReLU after the bias.
    pub relu: bool,
}

impl ConvParams {
    /// Stride `stride`, padding `pad` on every side, one group, no dilation or ReLU.
    pub fn new(stride: u16, pad: u16) -> Self {
        Self {
            stride: [stride; 2],
            dilation: [1; 2],
            pads: [pad; 4],
            groups: 1,
            relu: false,
        }
    }

    /// `params[0..3]` of the primitive.
    pub fn encode(&self) -> [u64; 3] {
        let relu = if self.relu {
            uapi::CONV2D_EPILOGUE_RELU
        } else {
            0
        };
        [
            uapi::param_word([
                self.stride[0],
                self.stride[1],
                self.dilation[0],
                self.dilation[1],
            ]),
            uapi::param_word(self.pads),
            u64::from(self.groups) | relu | uapi::CONV2D_EXTENDED,
        ]
    }
}

/// What an [`Op::Pool2d`] window computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolMode {
    /// The maximum.
    Max,
    /// The mean of the elements inside the input.
    Avg,
    /// The mean over the whole window, padding counted as zeros.
    AvgIncludePad,
}

/// The parameters of an [`Op::Pool2d`] (ONNX MaxPool/AveragePool semantics).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolParams {
    /// Kernel height and width.
    pub kernel: [u16; 2],
    /// Vertical and horizontal stride.
    pub stride: [u16; 2],
    /// Padding: top, left, bottom, right.
    pub pads: [u16; 4],
    /// Vertical and horizontal dilation.
    pub dilation: [u16; 2],
    /// Max or average.
    pub mode: PoolMode,
    /// Round the output size up (`ceil_mode`).
    pub ceil: bool,
}

impl PoolParams {
    /// A `k`×`k` window moving by `stride`, no padding or dilation.
    pub fn new(mode: PoolMode, k: u16, stride: u16) -> Self {
        Self {
            kernel: [k; 2],
            stride: [stride; 2],
            pads: [0; 4],
            dilation: [1; 2],
            mode,
            ceil: false,
        }
    }

    /// `params[0..3]` of the primitive.
    pub fn encode(&self) -> [u64; 3] {
        let mode = match self.mode {
            PoolMode::Max => uapi::POOL_MAX,
            PoolMode::Avg => uapi::POOL_AVG,
            PoolMode::AvgIncludePad => uapi::POOL_AVG_INCLUDE_PAD,
        };
        let ceil = if self.ceil { uapi::POOL_CEIL } else { 0 };
        [
            uapi::param_word([
                self.kernel[0],
                self.kernel[1],
                self.stride[0],
                self.stride[1],
            ]),
            uapi::param_word(self.pads),
            uapi::param_word([self.dilation[0], self.dilation[1], 0, 0]) | mode << 32 | ceil,
        ]
    }
}

/// The function of an [`Op::Unary`] (`params[0]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum UnaryFn {
    /// `e^x`.
    Exp = uapi::UNARY_EXP,
    /// `tanh x`.
    Tanh = uapi::UNARY_TANH,
    /// `1 / (1 + e^−x)`.
    Sigmoid = uapi::UNARY_SIGMOID,
    /// `√x`.
    Sqrt = uapi::UNARY_SQRT,
    /// The error function.
    Erf = uapi::UNARY_ERF,
    /// `1 / x`.
    Reciprocal = uapi::UNARY_RECIPROCAL,
    /// `−x`.
    Neg = uapi::UNARY_NEG,
}

/// The function of an [`Op::Binary`] (`params[0]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum BinaryFn {
    /// `a − b`.
    Sub = uapi::BINARY_SUB,
    /// `a / b`.
    Div = uapi::BINARY_DIV,
    /// The larger (NaN if either is).
    Max = uapi::BINARY_MAX,
    /// The smaller (NaN if either is).
    Min = uapi::BINARY_MIN,
    /// `a` to the power `b`.
    Pow = uapi::BINARY_POW,
}

/// What an [`Op::Reduce`] computes (`params[0]`; `params[1]` is the axes' bit mask).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum ReduceKind {
    /// The sum.
    Sum = uapi::REDUCE_SUM,
    /// The mean.
    Mean = uapi::REDUCE_MEAN,
    /// The maximum.
    Max = uapi::REDUCE_MAX,
}

/// The parameters of an [`Op::Lrn`] (ONNX LRN semantics).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LrnParams {
    /// Channels in each window.
    pub size: u16,
    /// Scale of the sum of squares (divided by `size`).
    pub alpha: f32,
    /// Exponent.
    pub beta: f32,
    /// Added to the scaled sum.
    pub bias: f32,
}

impl LrnParams {
    /// `params[0..3]` of the primitive.
    pub fn encode(&self) -> [u64; 3] {
        [
            u64::from(self.size),
            u64::from(self.alpha.to_bits()) | u64::from(self.beta.to_bits()) << 32,
            u64::from(self.bias.to_bits()),
        ]
    }
}

/// An element type (`LIGHTOS_DTYPE_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum DType {
    /// binary32.
    F32 = uapi::DTYPE_F32,
    /// binary16.
    F16 = uapi::DTYPE_F16,
    /// bfloat16.
    Bf16 = uapi::DTYPE_BF16,
    /// Signed 8-bit integer.
    I8 = uapi::DTYPE_I8,
    /// OCP FP8 E4M3.
    Fp8E4m3 = uapi::DTYPE_FP8_E4M3,
    /// A 16-byte spike event (only `SPIKE_ENCODE`'s output).
    SpikeEvent = uapi::DTYPE_SPIKE_EVENT,
}

impl DType {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::F32 => 4,
            DType::F16 | DType::Bf16 => 2,
            DType::I8 | DType::Fp8E4m3 => 1,
            DType::SpikeEvent => 16,
        }
    }

    /// Its bit in an executor's dtype mask.
    pub fn bit(self) -> u32 {
        1 << (self as u8)
    }
}

/// How a job ended (`LIGHTOS_STATUS_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobStatus {
    /// Completed.
    Ok,
    /// The backend found it invalid.
    Invalid,
    /// Not completed within the queue's timeout.
    Timeout,
    /// Aborted before it ran.
    Aborted,
    /// Aborted by thermal protection.
    ThermalAbort,
    /// Its backend went away.
    DeviceLost,
    /// The device misbehaved and was reset.
    DeviceError,
    /// A job it depended on did not end OK: it did not run.
    DependencyFailed,
    /// Still running (completion page only).
    Pending,
    /// Too old: it left the completion ring.
    Unknown,
}

impl JobStatus {
    /// The status with ABI value `raw`.
    pub fn from_raw(raw: u32) -> JobStatus {
        match raw {
            uapi::STATUS_OK => JobStatus::Ok,
            uapi::STATUS_INVALID => JobStatus::Invalid,
            uapi::STATUS_TIMEOUT => JobStatus::Timeout,
            uapi::STATUS_ABORTED => JobStatus::Aborted,
            uapi::STATUS_THERMAL_ABORT => JobStatus::ThermalAbort,
            uapi::STATUS_DEVICE_LOST => JobStatus::DeviceLost,
            uapi::STATUS_DEVICE_ERROR => JobStatus::DeviceError,
            uapi::STATUS_DEPENDENCY_FAILED => JobStatus::DependencyFailed,
            uapi::STATUS_PENDING => JobStatus::Pending,
            _ => JobStatus::Unknown,
        }
    }

    /// Its ABI value.
    pub fn to_raw(self) -> u32 {
        match self {
            JobStatus::Ok => uapi::STATUS_OK,
            JobStatus::Invalid => uapi::STATUS_INVALID,
            JobStatus::Timeout => uapi::STATUS_TIMEOUT,
            JobStatus::Aborted => uapi::STATUS_ABORTED,
            JobStatus::ThermalAbort => uapi::STATUS_THERMAL_ABORT,
            JobStatus::DeviceLost => uapi::STATUS_DEVICE_LOST,
            JobStatus::DeviceError => uapi::STATUS_DEVICE_ERROR,
            JobStatus::DependencyFailed => uapi::STATUS_DEPENDENCY_FAILED,
            JobStatus::Pending => uapi::STATUS_PENDING,
            JobStatus::Unknown => uapi::STATUS_UNKNOWN,
        }
    }
}

impl DType {
    /// Every dtype of the ABI, in ABI order.
    pub const ALL: [DType; 6] = [
        DType::F32,
        DType::F16,
        DType::Bf16,
        DType::I8,
        DType::Fp8E4m3,
        DType::SpikeEvent,
    ];

    /// The dtype with ABI value `raw`, if it is one.
    pub fn from_raw(raw: u8) -> Option<DType> {
        DType::ALL.into_iter().find(|d| *d as u8 == raw)
    }
}

/// A compute primitive as the kernel takes it: built with [`PrimitiveBuilder`], submitted with
/// [`crate::Queue::submit`], handed to executors in [`crate::FetchedJob`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(transparent)]
pub struct Primitive(uapi::Primitive);

impl Primitive {
    /// Its op (`None` for a number this runtime does not know).
    pub fn op(&self) -> Option<Op> {
        Op::from_raw(self.0.op)
    }

    /// Its inputs' dtype.
    pub fn dtype(&self) -> Option<DType> {
        DType::from_raw(self.0.dtype)
    }

    /// Its output's dtype (the inputs' unless set).
    pub fn output_dtype(&self) -> Option<DType> {
        DType::from_raw(self.0.output_dtype())
    }

    /// How many inputs it has.
    pub fn n_inputs(&self) -> usize {
        usize::from(self.0.n_inputs)
    }

    /// Its seed (stochastic rounding, rate coding).
    pub fn seed(&self) -> u64 {
        self.0.seed
    }

    /// Sets its seed.
    pub fn set_seed(&mut self, seed: u64) {
        self.0.seed = seed;
    }

    /// Whether every operand holds no elements (the null primitive): running it touches no
    /// memory. A primitive with some empty and some non-empty operands (a MATMUL with K = 0 still
    /// zeroes its output) is not null.
    pub fn is_null(&self) -> bool {
        let n = self.n_inputs() + 1;
        self.0.operands[..n.min(uapi::MAX_OPERANDS)]
            .iter()
            .all(|t| t.shape[..(t.ndim as usize).min(uapi::MAX_DIMS)].contains(&0))
    }

    /// The primitive with ABI descriptor `raw`, as written by code that speaks the ABI itself.
    pub fn from_abi(raw: uapi::Primitive) -> Primitive {
        Primitive(raw)
    }

    /// Its ABI descriptor (`struct lightos_primitive`), for code that speaks the ABI itself: a
    /// backend computing on it, a test of the kernel's validation.
    pub fn abi(&self) -> &uapi::Primitive {
        &self.0
    }

    /// Its ABI descriptor, writable (see [`Primitive::abi`]).
    pub fn abi_mut(&mut self) -> &mut uapi::Primitive {
        &mut self.0
    }
}

/// A contiguous row-major view of `shape` elements at byte `offset` of `buffer`.
pub(crate) fn tensor(buffer: &Buffer, offset: u64, shape: &[u64]) -> uapi::Tensor {
    let mut t = uapi::Tensor {
        buffer: buffer.handle(),
        ndim: shape.len().min(uapi::MAX_DIMS) as u32,
        offset,
        ..Default::default()
    };
    for (d, s) in t.shape.iter_mut().zip(shape) {
        *d = *s;
    }
    t
}

/// Builds a [`Primitive`]: inputs in order, then the output.
#[derive(Clone, Copy, Debug)]
pub struct PrimitiveBuilder {
    prim: uapi::Primitive,
    inputs: usize,
}

impl PrimitiveBuilder {
    /// A primitive of `op` on `dtype` inputs (the output has the same dtype unless set).
    pub fn new(op: Op, dtype: DType) -> Self {
        Self {
            prim: uapi::Primitive {
                op: op as u16,
                dtype: dtype as u8,
                ..Default::default()
            },
            inputs: 0,
        }
    }

    /// Adds an input: `shape` elements, contiguous, at byte `offset` of `buffer`.
    pub fn input(mut self, buffer: &Buffer, offset: u64, shape: &[u64]) -> Self {
        if self.inputs < uapi::MAX_OPERANDS - 1 {
            self.prim.operands[self.inputs] = tensor(buffer, offset, shape);
            self.inputs += 1;
        }
        self
    }

    /// Sets the output dtype (quantize, dequantize, quantized matmul).
    pub fn out_dtype(mut self, dtype: DType) -> Self {
        self.prim.out_dtype = dtype as u8;
        self
    }

    /// Sets the parameters of an [`Op::Conv2d`] in the extended form (ABI 1.11).
    pub fn conv(self, c: &ConvParams) -> Self {
        let [a, b, d] = c.encode();
        self.param(0, a).param(1, b).param(2, d)
    }

    /// Sets the parameters of an [`Op::Pool2d`].
    pub fn pool(self, p: &PoolParams) -> Self {
        let [a, b, c] = p.encode();
        self.param(0, a).param(1, b).param(2, c)
    }

    /// Sets the parameters of an [`Op::Lrn`].
    pub fn lrn(self, p: &LrnParams) -> Self {
        let [a, b, c] = p.encode();
        self.param(0, a).param(1, b).param(2, c)
    }

    /// Sets the function of an [`Op::Unary`].
    pub fn unary(self, f: UnaryFn) -> Self {
        self.param(0, f as u64)
    }

    /// Sets the function of an [`Op::Binary`].
    pub fn binary(self, f: BinaryFn) -> Self {
        self.param(0, f as u64)
    }

    /// Sets what an [`Op::Reduce`] computes and over which axes (axis numbers, outermost 0).
    pub fn reduce(self, kind: ReduceKind, axes: &[usize]) -> Self {
        let mask = axes
            .iter()
            .fold(0u64, |m, &a| m | 1u64.checked_shl(a as u32).unwrap_or(0));
        self.param(0, kind as u64).param(1, mask)
    }

    /// Sets the axis of an [`Op::Gather`], or of an [`Op::Softmax`] (ABI 1.13).
    pub fn axis(self, axis: usize) -> Self {
        let softmax = self.prim.op == uapi::OP_SOFTMAX;
        self.param(0, axis as u64 + u64::from(softmax))
    }

    /// Sets an op parameter.
    pub fn param(mut self, index: usize, value: u64) -> Self {
        if let Some(p) = self.prim.params.get_mut(index) {
            *p = value;
        }
        self
    }

    /// Adds `PRIM_*` flags.
    pub fn flags(mut self, flags: u32) -> Self {
        self.prim.flags |= flags;
        self
    }

    /// Requires a bit-reproducible result.
    pub fn deterministic(self) -> Self {
        self.flags(uapi::PRIM_DETERMINISTIC)
    }

    /// Finishes with descriptors: the inputs in order (at most 3; any set before are replaced),
    /// then the output.
    pub(crate) fn output_descriptor(
        mut self,
        inputs: impl IntoIterator<Item = uapi::Tensor>,
        output: uapi::Tensor,
    ) -> Primitive {
        self.inputs = 0;
        for t in inputs.into_iter().take(uapi::MAX_OPERANDS - 1) {
            self.prim.operands[self.inputs] = t;
            self.inputs += 1;
        }
        self.prim.n_inputs = self.inputs as u8;
        self.prim.operands[self.inputs] = output;
        Primitive(self.prim)
    }

    /// Finishes with the output: `shape` elements at byte `offset` of `buffer`.
    pub fn output(mut self, buffer: &Buffer, offset: u64, shape: &[u64]) -> Primitive {
        self.prim.n_inputs = self.inputs as u8;
        self.prim.operands[self.inputs] = tensor(buffer, offset, shape);
        Primitive(self.prim)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_params_pack_into_the_abi_fields() {
        let p = PoolParams {
            kernel: [3, 5],
            stride: [2, 1],
            pads: [0, 1, 2, 3],
            dilation: [1, 2],
            mode: PoolMode::AvgIncludePad,
            ceil: true,
        };
        let [a, b, c] = p.encode();
        assert_eq!(a, 3 | 5 << 16 | 2 << 32 | 1 << 48);
        assert_eq!(b, 1 << 16 | 2 << 32 | 3 << 48);
        assert_eq!(
            c,
            1 | 2 << 16 | uapi::POOL_AVG_INCLUDE_PAD << 32 | uapi::POOL_CEIL
        );
        assert_eq!(Op::from_raw(uapi::OP_POOL2D), Some(Op::Pool2d));
    }
}
