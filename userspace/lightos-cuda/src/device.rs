//! One CUDA device opened for the backend: its context, a compute stream with a cuBLAS handle
//! and the NVRTC-compiled kernels, and a copy stream; device memory in and out, GEMM and kernel
//! launches. Copies queue on the copy stream and compute on the compute stream; cudarc's event
//! tracking (on by default with two streams) orders every use of a buffer after its upload and a
//! download after the computation that wrote it, so copies overlap unrelated compute
//! ([`crate::pipeline`]). [`CudaDevice::download`] waits for what it reads.

use crate::engine::Engine;
use crate::gemm::{self, ColumnMajorCall, GemmType};
use crate::kernels::{self, name, Unary, BLOCK};
use crate::probe;
use crate::{CudaError, Result};
use cudarc::cublas::CudaBlas;
use cudarc::driver::{
    CudaContext, CudaFunction, CudaSlice, CudaStream, DeviceRepr, LaunchConfig, PushKernelArg,
    ValidAsZeroBits,
};
use std::sync::Arc;

/// What the driver says of a device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GpuInfo {
    /// Its ordinal.
    pub ordinal: usize,
    /// Its name ("NVIDIA H100 80GB HBM3").
    pub name: String,
    /// Its memory in bytes.
    pub memory: usize,
    /// Compute capability (major, minor).
    pub capability: (i32, i32),
}

struct Kernels {
    binary: CudaFunction,
    unary: CudaFunction,
    softmax: CudaFunction,
    layernorm: CudaFunction,
    scale_mask: CudaFunction,
}

/// An opened CUDA device.
pub struct CudaDevice {
    info: GpuInfo,
    stream: Arc<CudaStream>,
    copy: Arc<CudaStream>,
    blas: CudaBlas,
    kernels: Kernels,
}

impl CudaDevice {
    /// Opens device `ordinal`: [`CudaError::Unavailable`] without the driver or a library,
    /// [`CudaError::NoDevice`] past the driver's count, else compiles and loads the kernels.
    pub fn open(ordinal: usize) -> Result<Self> {
        probe::check_libraries()?;
        let count = probe::device_count()?;
        if ordinal >= count {
            return Err(CudaError::NoDevice { ordinal, count });
        }
        let ctx = CudaContext::new(ordinal)?;
        let info = GpuInfo {
            ordinal,
            name: ctx.name()?,
            memory: ctx.total_mem()?,
            capability: ctx.compute_capability()?,
        };
        let stream = ctx.new_stream()?;
        let copy = ctx.new_stream()?;
        let blas = CudaBlas::new(stream.clone())?;
        let module = ctx.load_module(cudarc::nvrtc::compile_ptx(kernels::SOURCE)?)?;
        let kernels = Kernels {
            binary: module.load_function(name::BINARY)?,
            unary: module.load_function(name::UNARY)?,
            softmax: module.load_function(name::SOFTMAX)?,
            layernorm: module.load_function(name::LAYERNORM)?,
            scale_mask: module.load_function(name::SCALE_MASK)?,
        };
        Ok(CudaDevice {
            info,
            stream,
            copy,
            blas,
            kernels,
        })
    }

    /// The device's name, memory and capability.
    pub fn info(&self) -> &GpuInfo {
        &self.info
    }

    /// The stream GEMMs and kernels queue on.
    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    /// Copies `host` to new device memory on the copy stream (`host` may be reused on return).
    pub fn upload<T: DeviceRepr>(&self, host: &[T]) -> Result<CudaSlice<T>> {
        Ok(self.copy.clone_htod(host)?)
    }

    /// New zeroed device memory of `len` elements.
    pub fn zeros<T: DeviceRepr + ValidAsZeroBits>(&self, len: usize) -> Result<CudaSlice<T>> {
        Ok(self.copy.alloc_zeros(len)?)
    }

    /// Copies device memory back on the copy stream, after the work that wrote it.
    pub fn download<T: DeviceRepr + Clone + Default>(&self, dev: &CudaSlice<T>) -> Result<Vec<T>> {
        Ok(self.copy.clone_dtoh(dev)?)
    }

    /// Waits for everything queued on both streams.
    pub fn synchronize(&self) -> Result<()> {
        self.stream.synchronize()?;
        Ok(self.copy.synchronize()?)
    }

    /// `c = a·b`, row-major and batched as `call` says, element types as `ty`.
    pub fn gemm(
        &self,
        ty: GemmType,
        call: &ColumnMajorCall,
        a: &CudaSlice<u8>,
        b: &CudaSlice<u8>,
        c: &mut CudaSlice<u8>,
    ) -> Result<()> {
        gemm::run(&self.blas, &self.stream, ty, call, a, b, c)
    }

    /// Attention scores `[batch × s × t]` in place: times `scale`, `-inf` above the diagonal
    /// when `causal`.
    pub fn scale_mask(
        &self,
        x: &mut CudaSlice<f32>,
        s: usize,
        t: usize,
        scale: f32,
        causal: bool,
    ) -> Result<()> {
        let (s32, t32) = (
            u32::try_from(s).map_err(|_| CudaError::TooLarge("query count"))?,
            u32::try_from(t).map_err(|_| CudaError::TooLarge("key count"))?,
        );
        if s == 0 || t == 0 || !x.len().is_multiple_of(s * t) {
            return Err(CudaError::TooLarge(
                "scores not a whole number of s×t blocks",
            ));
        }
        let (n64, flag, cfg) = (x.len() as u64, i32::from(causal), elementwise(x.len()));
        let mut launch = self.stream.launch_builder(&self.kernels.scale_mask);
        launch
            .arg(x)
            .arg(&n64)
            .arg(&t32)
            .arg(&s32)
            .arg(&scale)
            .arg(&flag);
        // SAFETY: signature (float*, u64, unsigned, unsigned, float, int), as pushed; indices
        // below n, which `x` holds.
        unsafe { launch.launch(cfg) }?;
        Ok(())
    }

    /// `out = a + b` (`add`) or `a * b`, element-wise over `out.len()` values.
    pub fn binary(
        &self,
        add: bool,
        a: &CudaSlice<f32>,
        b: &CudaSlice<f32>,
        out: &mut CudaSlice<f32>,
    ) -> Result<()> {
        let n = out.len();
        if a.len() < n || b.len() < n {
            return Err(CudaError::TooLarge(
                "element-wise operands shorter than the output",
            ));
        }
        let (n64, op) = (n as u64, i32::from(!add));
        let mut launch = self.stream.launch_builder(&self.kernels.binary);
        launch.arg(out).arg(a).arg(b).arg(&n64).arg(&op);
        // SAFETY: the kernel's signature is (float*, const float*, const float*, u64, int), as
        // pushed; it touches indices below n, which every slice holds.
        unsafe { launch.launch(elementwise(n)) }?;
        Ok(())
    }

    /// `op` on every value of `x`, in place; `p` and `q` are its parameters ([`Unary`]).
    pub fn unary(&self, op: Unary, x: &mut CudaSlice<f32>, p: f32, q: f32) -> Result<()> {
        let (n64, code) = (x.len() as u64, op as i32);
        let cfg = elementwise(x.len());
        let mut launch = self.stream.launch_builder(&self.kernels.unary);
        launch.arg(x).arg(&n64).arg(&code).arg(&p).arg(&q);
        // SAFETY: signature (float*, u64, int, float, float), as pushed; indices below n.
        unsafe { launch.launch(cfg) }?;
        Ok(())
    }

    /// Softmax of each `d`-long row of `x`, in place.
    pub fn softmax_rows(&self, x: &mut CudaSlice<f32>, d: usize) -> Result<()> {
        let (rows, d32, cfg) = per_row(x.len(), d)?;
        let mut launch = self.stream.launch_builder(&self.kernels.softmax);
        launch.arg(x).arg(&rows).arg(&d32);
        // SAFETY: signature (float*, u64, unsigned), as pushed; block `r` reads and writes row
        // `r` of `rows` whole rows of `d`, all inside `x`.
        unsafe { launch.launch(cfg) }?;
        Ok(())
    }

    /// Layer normalisation of each `d`-long row of `x`, in place, then `·gamma + beta` when
    /// given (each `d` long).
    pub fn layernorm_rows(
        &self,
        x: &mut CudaSlice<f32>,
        d: usize,
        eps: f32,
        affine: Option<(&CudaSlice<f32>, &CudaSlice<f32>)>,
    ) -> Result<()> {
        let (rows, d32, cfg) = per_row(x.len(), d)?;
        let placeholder;
        let (gamma, beta, flag) = match affine {
            Some((g, b)) if g.len() >= d && b.len() >= d => (g, b, 1i32),
            Some(_) => return Err(CudaError::TooLarge("gamma or beta shorter than a row")),
            None => {
                placeholder = self.zeros::<f32>(1)?;
                (&placeholder, &placeholder, 0i32)
            }
        };
        let mut launch = self.stream.launch_builder(&self.kernels.layernorm);
        launch
            .arg(x)
            .arg(&rows)
            .arg(&d32)
            .arg(&eps)
            .arg(gamma)
            .arg(beta)
            .arg(&flag);
        // SAFETY: signature (float*, u64, unsigned, float, const float*, const float*, int), as
        // pushed; rows as in `softmax_rows`; gamma and beta are read only when `flag` is 1, when
        // both hold `d` values.
        unsafe { launch.launch(cfg) }?;
        Ok(())
    }
}

/// The GPU as [`crate::exec`]'s engine.
impl Engine for CudaDevice {
    type F32 = CudaSlice<f32>;
    type Bytes = CudaSlice<u8>;
    fn upload_f32(&self, host: &[f32]) -> Result<Self::F32> {
        self.upload(host)
    }
    fn upload_bytes(&self, host: &[u8]) -> Result<Self::Bytes> {
        self.upload(host)
    }
    fn zeros_f32(&self, len: usize) -> Result<Self::F32> {
        self.zeros(len)
    }
    fn zeros_bytes(&self, len: usize) -> Result<Self::Bytes> {
        self.zeros(len)
    }
    fn download_f32(&self, dev: &Self::F32) -> Result<Vec<f32>> {
        self.download(dev)
    }
    fn download_bytes(&self, dev: &Self::Bytes) -> Result<Vec<u8>> {
        self.download(dev)
    }
    fn gemm(
        &self,
        ty: GemmType,
        call: &ColumnMajorCall,
        a: &Self::Bytes,
        b: &Self::Bytes,
        c: &mut Self::Bytes,
    ) -> Result<()> {
        CudaDevice::gemm(self, ty, call, a, b, c)
    }
    fn gemm_f32(
        &self,
        call: &ColumnMajorCall,
        a: &Self::F32,
        b: &Self::F32,
        c: &mut Self::F32,
    ) -> Result<()> {
        gemm::run(&self.blas, &self.stream, GemmType::F32, call, a, b, c)
    }
    fn scale_mask(
        &self,
        x: &mut Self::F32,
        s: usize,
        t: usize,
        scale: f32,
        causal: bool,
    ) -> Result<()> {
        CudaDevice::scale_mask(self, x, s, t, scale, causal)
    }
    fn binary(&self, add: bool, a: &Self::F32, b: &Self::F32, out: &mut Self::F32) -> Result<()> {
        CudaDevice::binary(self, add, a, b, out)
    }
    fn unary(&self, op: Unary, x: &mut Self::F32, p: f32, q: f32) -> Result<()> {
        CudaDevice::unary(self, op, x, p, q)
    }
    fn softmax_rows(&self, x: &mut Self::F32, d: usize) -> Result<()> {
        CudaDevice::softmax_rows(self, x, d)
    }
    fn layernorm_rows(
        &self,
        x: &mut Self::F32,
        d: usize,
        eps: f32,
        affine: Option<(&Self::F32, &Self::F32)>,
    ) -> Result<()> {
        CudaDevice::layernorm_rows(self, x, d, eps, affine)
    }
}

fn elementwise(n: usize) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (kernels::elementwise_grid(n), 1, 1),
        block_dim: (BLOCK, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// Rows, row length and launch shape for a per-row kernel over `len` values.
fn per_row(len: usize, d: usize) -> Result<(u64, u32, LaunchConfig)> {
    let d32 = u32::try_from(d).map_err(|_| CudaError::TooLarge("row length"))?;
    if d == 0 || !len.is_multiple_of(d) {
        return Err(CudaError::TooLarge("values not a whole number of rows"));
    }
    let grid = kernels::row_grid(len / d).ok_or(CudaError::TooLarge("row count"))?;
    let cfg = LaunchConfig {
        grid_dim: (grid, 1, 1),
        block_dim: (BLOCK, 1, 1),
        shared_mem_bytes: 0,
    };
    Ok(((len / d) as u64, d32, cfg))
}
