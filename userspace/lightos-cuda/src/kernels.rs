//! The backend's own kernels (CUDA C, compiled by NVRTC when a device is opened) and their
//! launch shapes. All arithmetic is f32; every reduction runs in a fixed tree order, so a
//! kernel's result does not change from run to run.

/// Threads per block of every kernel (a power of two: the reductions halve it).
pub const BLOCK: u32 = 256;

/// Most blocks an element-wise launch uses; its threads stride over the rest.
pub const MAX_GRID: u32 = 65_535;

/// Names of the kernels in [`SOURCE`].
pub mod name {
    /// `out = a + b` or `a * b` (`op` 0 or 1).
    pub const BINARY: &str = "lightos_binary";
    /// In place: ReLU, GELU (tanh), `x / p`, `(x - p) * q` (`op` 0..=3).
    pub const UNARY: &str = "lightos_unary";
    /// Softmax of each row, in place; an all `-inf` row becomes zeros.
    pub const SOFTMAX: &str = "lightos_softmax_rows";
    /// Layer normalisation of each row, in place, with optional gamma and beta.
    pub const LAYERNORM: &str = "lightos_layernorm_rows";
    /// Attention scores: `x · scale`, and `-inf` above the diagonal when causal, in place.
    pub const SCALE_MASK: &str = "lightos_scale_mask";
    /// Every kernel, for loading the module.
    pub const ALL: [&str; 5] = [BINARY, UNARY, SOFTMAX, LAYERNORM, SCALE_MASK];
}

/// The `op` codes of [`name::UNARY`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum Unary {
    /// `max(x, 0)`.
    Relu = 0,
    /// `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`, the ABI's GELU.
    Gelu = 1,
    /// `x / p` (a quantization's scale step).
    Divide = 2,
    /// `(x − p)·q` (dequantization).
    SubMul = 3,
}

/// The CUDA C source of every kernel. No includes: NVRTC's built-ins (`expf`, `tanhf`,
/// `sqrtf`, `fmaxf`) suffice.
pub const SOURCE: &str = r#"
typedef unsigned long long u64;

__device__ float lightos_block_sum(float v, float* red) {
    red[threadIdx.x] = v;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) red[threadIdx.x] += red[threadIdx.x + s];
        __syncthreads();
    }
    float r = red[0];
    __syncthreads();
    return r;
}

__device__ float lightos_block_max(float v, float* red) {
    red[threadIdx.x] = v;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) red[threadIdx.x] = fmaxf(red[threadIdx.x], red[threadIdx.x + s]);
        __syncthreads();
    }
    float r = red[0];
    __syncthreads();
    return r;
}

extern "C" __global__ void lightos_binary(float* out, const float* a, const float* b, u64 n, int op) {
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n; i += (u64)gridDim.x * blockDim.x) {
        out[i] = op == 0 ? a[i] + b[i] : a[i] * b[i];
    }
}

extern "C" __global__ void lightos_unary(float* x, u64 n, int op, float p, float q) {
    const float c = 0.7978846f;
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n; i += (u64)gridDim.x * blockDim.x) {
        float v = x[i];
        switch (op) {
        case 0: v = fmaxf(v, 0.0f); break;
        case 1: v = 0.5f * v * (1.0f + tanhf(c * (v + 0.044715f * v * v * v))); break;
        case 2: v = v / p; break;
        default: v = (v - p) * q; break;
        }
        x[i] = v;
    }
}

extern "C" __global__ void lightos_scale_mask(float* x, u64 n, unsigned t, unsigned s, float scale, int causal) {
    for (u64 idx = blockIdx.x * (u64)blockDim.x + threadIdx.x; idx < n; idx += (u64)gridDim.x * blockDim.x) {
        u64 j = idx % t, i = (idx / t) % s;
        x[idx] = causal && j > i ? __int_as_float(0xff800000) : x[idx] * scale;
    }
}

extern "C" __global__ void lightos_softmax_rows(float* x, u64 rows, unsigned d) {
    __shared__ float red[256];
    u64 row = blockIdx.x;
    if (row >= rows) return;
    float* r = x + row * d;
    float m = __int_as_float(0xff800000);
    for (unsigned i = threadIdx.x; i < d; i += blockDim.x) m = fmaxf(m, r[i]);
    m = lightos_block_max(m, red);
    if (m == __int_as_float(0xff800000)) {
        for (unsigned i = threadIdx.x; i < d; i += blockDim.x) r[i] = 0.0f;
        return;
    }
    float s = 0.0f;
    for (unsigned i = threadIdx.x; i < d; i += blockDim.x) {
        float e = expf(r[i] - m);
        r[i] = e;
        s += e;
    }
    s = lightos_block_sum(s, red);
    float inv = 1.0f / s;
    for (unsigned i = threadIdx.x; i < d; i += blockDim.x) r[i] *= inv;
}

extern "C" __global__ void lightos_layernorm_rows(float* x, u64 rows, unsigned d, float eps,
                                                  const float* gamma, const float* beta, int affine) {
    __shared__ float red[256];
    u64 row = blockIdx.x;
    if (row >= rows) return;
    float* r = x + row * d;
    float s = 0.0f;
    for (unsigned i = threadIdx.x; i < d; i += blockDim.x) s += r[i];
    float mean = lightos_block_sum(s, red) / (float)d;
    float v = 0.0f;
    for (unsigned i = threadIdx.x; i < d; i += blockDim.x) v += (r[i] - mean) * (r[i] - mean);
    float var = lightos_block_sum(v, red) / (float)d;
    float inv = 1.0f / sqrtf(var + eps);
    for (unsigned i = threadIdx.x; i < d; i += blockDim.x) {
        float y = (r[i] - mean) * inv;
        r[i] = affine ? y * gamma[i] + beta[i] : y;
    }
}
"#;

/// Blocks for an element-wise launch over `n` values (at least one, at most [`MAX_GRID`]).
pub fn elementwise_grid(n: usize) -> u32 {
    n.div_ceil(BLOCK as usize).clamp(1, MAX_GRID as usize) as u32
}

/// Blocks for a per-row launch (one block a row), or `None` past the grid's limit.
pub fn row_grid(rows: usize) -> Option<u32> {
    u32::try_from(rows)
        .ok()
        .filter(|&r| r >= 1 && r <= i32::MAX as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn launch_shapes_cover_every_element_within_the_grid_limits() {
        assert_eq!(elementwise_grid(0), 1);
        assert_eq!(elementwise_grid(1), 1);
        assert_eq!(elementwise_grid(256), 1);
        assert_eq!(elementwise_grid(257), 2);
        assert_eq!(elementwise_grid(1 << 40), MAX_GRID);
        assert_eq!(row_grid(0), None);
        assert_eq!(row_grid(7), Some(7));
        assert_eq!(row_grid(1 << 31), None);
    }

    #[test]
    fn every_kernel_name_is_defined_in_the_source() {
        for k in name::ALL {
            assert!(SOURCE.contains(&format!("__global__ void {k}(")), "{k}");
        }
        // The reductions' shared arrays match the block size.
        assert!(SOURCE.contains(&format!("red[{BLOCK}]")));
    }

    /// Compiles the source with NVRTC where `libnvrtc` loads (it needs no GPU); skips elsewhere.
    #[test]
    fn the_kernels_compile_with_nvrtc_where_it_is_installed() {
        if !crate::probe::Library::Nvrtc.present() {
            eprintln!("skipped: libnvrtc not found (no CUDA toolkit)");
            return;
        }
        let ptx = cudarc::nvrtc::compile_ptx(SOURCE).expect("the kernels compile");
        let text = ptx.to_src();
        for k in name::ALL {
            assert!(text.contains(k), "{k} missing from the PTX");
        }
    }
}
