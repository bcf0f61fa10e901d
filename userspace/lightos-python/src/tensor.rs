//! `lightos.Tensor` and `lightos.Buffer`: typed windows on memory a job reads and writes. With
//! `/dev/lightos` the memory is a kernel buffer object mapped into this process (zero-copy: the
//! bytes NumPy sees through `__array_interface__` or DLPack are the pages the backend uses);
//! without it, anonymous memory of this process. A mapping outlives the buffer's handle and its
//! `Context`: the kernel keeps mapped pages alive (docs/ABI.md), so a NumPy view stays valid.

use crate::error::invalid;
use dlpark::{
    ffi::{DLDataType, DLDataTypeCode, DLDevice, DLManagedTensor, DLManagedTensorVersioned},
    metadata::Dynamic,
    python::{export_dlpack, DlpackExporter, ExportRequest},
    DlpackFlags, Managed, ManagedTensorBase,
};
use lightos_runtime::MappedBuffer;
use lightos_uapi as uapi;
use memmap2::MmapMut;
use pyo3::{
    exceptions::PyBufferError,
    prelude::*,
    types::{PyDict, PyTuple},
};
use std::sync::{Arc, Mutex, Weak};

/// An element type a tensor holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ElemType {
    F32,
    F16,
    Bf16,
    I8,
    U8,
    I32,
    I64,
}

impl ElemType {
    const ALL: [ElemType; 7] = [
        ElemType::F32,
        ElemType::F16,
        ElemType::Bf16,
        ElemType::I8,
        ElemType::U8,
        ElemType::I32,
        ElemType::I64,
    ];

    /// NumPy's name for it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            ElemType::F32 => "float32",
            ElemType::F16 => "float16",
            ElemType::Bf16 => "bfloat16",
            ElemType::I8 => "int8",
            ElemType::U8 => "uint8",
            ElemType::I32 => "int32",
            ElemType::I64 => "int64",
        }
    }

    /// Bytes per element.
    pub(crate) fn size(self) -> usize {
        match self {
            ElemType::I8 | ElemType::U8 => 1,
            ElemType::F16 | ElemType::Bf16 => 2,
            ElemType::F32 | ElemType::I32 => 4,
            ElemType::I64 => 8,
        }
    }

    /// The dtype a primitive on it has (`DTYPE_*`); integers other than int8 have none.
    pub(crate) fn abi(self) -> Option<u8> {
        match self {
            ElemType::F32 => Some(uapi::DTYPE_F32),
            ElemType::F16 => Some(uapi::DTYPE_F16),
            ElemType::Bf16 => Some(uapi::DTYPE_BF16),
            ElemType::I8 => Some(uapi::DTYPE_I8),
            _ => None,
        }
    }

    /// The array interface's type string; NumPy has no bfloat16.
    fn typestr(self) -> Option<&'static str> {
        match self {
            ElemType::F32 => Some("<f4"),
            ElemType::F16 => Some("<f2"),
            ElemType::Bf16 => None,
            ElemType::I8 => Some("|i1"),
            ElemType::U8 => Some("|u1"),
            ElemType::I32 => Some("<i4"),
            ElemType::I64 => Some("<i8"),
        }
    }

    /// Its DLPack data type.
    fn dl(self) -> DLDataType {
        let (code, bits) = match self {
            ElemType::F32 => (DLDataTypeCode::FLOAT, 32),
            ElemType::F16 => (DLDataTypeCode::FLOAT, 16),
            ElemType::Bf16 => (DLDataTypeCode::BFLOAT, 16),
            ElemType::I8 => (DLDataTypeCode::INT, 8),
            ElemType::U8 => (DLDataTypeCode::UINT, 8),
            ElemType::I32 => (DLDataTypeCode::INT, 32),
            ElemType::I64 => (DLDataTypeCode::INT, 64),
        };
        DLDataType::new(code, bits, 1)
    }

    /// The element type of a DLPack data type, if it is one of these.
    pub(crate) fn from_dl(t: DLDataType) -> Option<ElemType> {
        ElemType::ALL.into_iter().find(|e| e.dl() == t)
    }

    /// Parses what NumPy accepts as a dtype (`"float32"`, `np.float16`, `np.dtype("int8")`).
    pub(crate) fn parse(dtype: &Bound<'_, PyAny>) -> PyResult<ElemType> {
        let name: String = match dtype.extract::<String>() {
            Ok(s) if s == "bfloat16" => s,
            _ => {
                let np = dtype.py().import("numpy")?;
                np.getattr("dtype")?
                    .call1((dtype,))
                    .and_then(|d| d.getattr("name"))
                    .and_then(|n| n.extract())
                    .map_err(|_| invalid(format!("{dtype} is not a dtype"), SUPPORTED))?
            }
        };
        ElemType::ALL
            .into_iter()
            .find(|e| e.name() == name)
            .ok_or_else(|| invalid(format!("dtype {name} is not supported"), SUPPORTED))
    }
}

const SUPPORTED: &str =
    "use float32, float16, bfloat16, int8, uint8, int32 or int64 (ops run on the float ones)";

/// The pages behind a buffer.
enum Pages {
    /// A kernel buffer object, mapped.
    Kernel(MappedBuffer),
    /// Anonymous memory of this process (no `/dev/lightos`).
    Local(MmapMut),
}

/// Memory tensors view: mapped pages, and the kernel's handle while the buffer object has one.
pub(crate) struct Memory {
    pages: Pages,
    /// The buffer object (None in process, or once its context closed).
    pub(crate) handle: Mutex<Option<lightos_runtime::Buffer>>,
    /// The context that made it ([`crate::context::Context`]'s id).
    pub(crate) owner: u64,
}

/// Every live memory, to find the buffer a foreign array's pointer lies in (`from_dlpack`).
static LIVE: Mutex<Vec<Weak<Memory>>> = Mutex::new(Vec::new());

impl Memory {
    /// Memory of a kernel buffer object, mapped.
    pub(crate) fn kernel(
        buffer: lightos_runtime::Buffer,
        owner: u64,
    ) -> lightos_runtime::Result<Arc<Self>> {
        let map = buffer.map()?;
        Ok(Self::register(Memory {
            pages: Pages::Kernel(map),
            handle: Mutex::new(Some(buffer)),
            owner,
        }))
    }

    /// `len` bytes of zeroed anonymous memory.
    pub(crate) fn local(len: usize, owner: u64) -> std::io::Result<Arc<Self>> {
        let map = MmapMut::map_anon(len.max(1))?;
        Ok(Self::register(Memory {
            pages: Pages::Local(map),
            handle: Mutex::new(None),
            owner,
        }))
    }

    fn register(m: Memory) -> Arc<Self> {
        let m = Arc::new(m);
        if let Ok(mut live) = LIVE.lock() {
            live.retain(|w| w.strong_count() > 0);
            live.push(Arc::downgrade(&m));
        }
        m
    }

    /// The live memory whose pages hold `[addr, addr + len)`, and the offset of `addr` in it.
    pub(crate) fn containing(addr: usize, len: usize) -> Option<(Arc<Memory>, usize)> {
        let live = LIVE.lock().ok()?;
        live.iter().filter_map(Weak::upgrade).find_map(|m| {
            let start = m.addr();
            (addr >= start && addr.checked_add(len)? <= start + m.len()).then(|| (m, addr - start))
        })
    }

    fn bytes(&self) -> &[u8] {
        match &self.pages {
            Pages::Kernel(m) => m,
            Pages::Local(m) => m,
        }
    }

    /// The address of its first byte in this process.
    pub(crate) fn addr(&self) -> usize {
        self.bytes().as_ptr() as usize
    }

    /// Its size in bytes.
    pub(crate) fn len(&self) -> usize {
        self.bytes().len()
    }

    /// Its bytes, to read.
    ///
    /// # Safety
    /// The memory is shared with NumPy views and jobs; the caller reads it while nothing in this
    /// process writes it (the context's lock is held; NumPy users race at their own risk, as with
    /// any shared array).
    pub(crate) unsafe fn read(&self) -> &[u8] {
        self.bytes()
    }

    /// Its bytes, to write.
    ///
    /// # Safety
    /// As [`Memory::read`]; besides, no other slice of this memory is alive while the returned one
    /// is (the in-process runner copies an input that shares it first).
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn write(&self) -> &mut [u8] {
        // SAFETY: the pages are writable (a read-write mapping or anonymous memory) and stay mapped
        // while `self` lives; exclusivity is the caller's promise.
        unsafe { std::slice::from_raw_parts_mut(self.addr() as *mut u8, self.len()) }
    }
}

/// A typed window on a buffer: element type, shape (C order) and byte offset.
#[pyclass(module = "lightos", frozen, subclass)]
pub(crate) struct Tensor {
    pub(crate) mem: Arc<Memory>,
    pub(crate) offset: usize,
    pub(crate) shape: Vec<u64>,
    pub(crate) dtype: ElemType,
}

impl Tensor {
    /// A window of `shape` and `dtype` at byte `offset` of `mem`, checked to fit.
    pub(crate) fn new(
        mem: Arc<Memory>,
        offset: usize,
        shape: Vec<u64>,
        dtype: ElemType,
    ) -> PyResult<Self> {
        let t = Tensor {
            mem,
            offset,
            shape,
            dtype,
        };
        let end = t.nbytes().and_then(|n| n.checked_add(offset));
        if end.is_none_or(|e| e > t.mem.len()) {
            return Err(invalid(
                format!(
                    "a {} tensor of shape {:?} at byte {offset} does not fit in a buffer of {} bytes",
                    dtype.name(),
                    t.shape,
                    t.mem.len()
                ),
                "allocate a larger buffer, or view a smaller part of it",
            ));
        }
        if !offset.is_multiple_of(dtype.size()) {
            return Err(invalid(
                format!(
                    "byte offset {offset} is not a multiple of {}'s size",
                    dtype.name()
                ),
                "align the offset to the element size",
            ));
        }
        Ok(t)
    }

    /// Its size in bytes (None on overflow).
    pub(crate) fn nbytes(&self) -> Option<usize> {
        self.shape.iter().try_fold(self.dtype.size(), |n, &d| {
            n.checked_mul(usize::try_from(d).ok()?)
        })
    }

    fn managed<M: ManagedTensorBase>(&self) -> PyResult<Managed<M>> {
        let shape: Vec<i64> = self.shape.iter().map(|&d| d as i64).collect();
        let prepared = Dynamic::compact(shape)
            .prepare_as::<M>()
            .map_err(|e| PyBufferError::new_err(e.to_string()))?;
        let mut t = prepared.initialize(Arc::clone(&self.mem));
        t.set_data((self.mem.addr() + self.offset) as *mut std::ffi::c_void);
        t.set_dtype(self.dtype.dl());
        t.set_device(DLDevice::CPU);
        // SAFETY: the data pointer lies in `self.mem`'s pages with the shape's compact extent
        // inside them (checked by `Tensor::new`); the managed tensor holds an `Arc` of the memory
        // as its context, so the pages stay mapped until its deleter runs.
        Ok(unsafe { t.finish() })
    }
}

impl DlpackExporter for Tensor {
    fn device(&self) -> DLDevice {
        DLDevice::CPU
    }

    fn flags(&self) -> DlpackFlags {
        DlpackFlags::empty()
    }

    fn prepare_export(&self, _py: Python<'_>, _request: &ExportRequest<'_>) -> PyResult<()> {
        // Host memory: a job that writes it has completed before `Context.run` returned.
        Ok(())
    }

    fn export_legacy(&self, _py: Python<'_>) -> PyResult<Managed<DLManagedTensor>> {
        self.managed()
    }

    fn export_versioned(&self, _py: Python<'_>) -> PyResult<Managed<DLManagedTensorVersioned>> {
        self.managed()
    }
}

#[pymethods]
impl Tensor {
    /// The shape, a tuple of ints.
    #[getter]
    fn shape<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, &self.shape)
    }

    /// The element type's name (`"float32"`, …).
    #[getter]
    fn dtype(&self) -> &'static str {
        self.dtype.name()
    }

    /// Its size in bytes.
    #[getter(nbytes)]
    fn py_nbytes(&self) -> usize {
        self.nbytes().unwrap_or(0)
    }

    /// The address of its first element in this process (what a NumPy view's `ctypes.data` is).
    #[getter]
    fn address(&self) -> usize {
        self.mem.addr() + self.offset
    }

    /// Its byte offset in its buffer.
    #[getter]
    fn offset(&self) -> usize {
        self.offset
    }

    /// NumPy's array interface (version 3): `numpy.asarray(t)` is a writable view of these very
    /// bytes, which keeps the tensor (and its mapping) alive. bfloat16 has no NumPy type: use DLPack.
    #[getter]
    fn __array_interface__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let typestr = self.dtype.typestr().ok_or_else(|| {
            invalid(
                "NumPy has no bfloat16",
                "view the bytes as another dtype (t.view(shape, 'uint16')), or import it with DLPack",
            )
        })?;
        let d = PyDict::new(py);
        d.set_item("version", 3)?;
        d.set_item("shape", PyTuple::new(py, &self.shape)?)?;
        d.set_item("typestr", typestr)?;
        d.set_item("data", (self.address(), false))?;
        d.set_item("strides", py.None())?;
        Ok(d)
    }

    /// The DLPack protocol (versioned capsules when `max_version` is at least (1, 0), as NumPy 2
    /// and PyTorch ask): zero-copy on the CPU device; `copy=True` and other devices are refused
    /// with BufferError.
    #[pyo3(signature = (*, stream = None, max_version = None, dl_device = None, copy = None))]
    fn __dlpack__(
        &self,
        py: Python<'_>,
        stream: Option<Bound<'_, PyAny>>,
        max_version: Option<(u32, u32)>,
        dl_device: Option<(u32, i32)>,
        copy: Option<bool>,
    ) -> PyResult<Py<PyAny>> {
        let request = ExportRequest::parse(stream.as_ref(), max_version, dl_device, copy)?;
        export_dlpack(self, py, request)
    }

    /// `(kDLCPU, 0)`: the pages are host memory.
    fn __dlpack_device__(&self) -> (u32, i32) {
        (DLDevice::CPU.device_type.0, DLDevice::CPU.device_id)
    }

    /// A view of `shape` and `dtype` (this tensor's when None) at byte `offset` of the same
    /// buffer; raises LightOSError when it does not fit.
    #[pyo3(signature = (shape, dtype = None, offset = 0))]
    fn view(
        &self,
        shape: Vec<u64>,
        dtype: Option<&Bound<'_, PyAny>>,
        offset: usize,
    ) -> PyResult<Tensor> {
        let dtype = dtype
            .map(ElemType::parse)
            .transpose()?
            .unwrap_or(self.dtype);
        Tensor::new(Arc::clone(&self.mem), offset, shape, dtype)
    }

    /// `numpy.asarray(self)`: a view, not a copy.
    fn numpy<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        slf.py().import("numpy")?.getattr("asarray")?.call1((slf,))
    }

    fn __repr__(&self) -> String {
        format!(
            "Tensor(shape={:?}, dtype={}, address={:#x})",
            self.shape,
            self.dtype.name(),
            self.address()
        )
    }
}

/// A buffer: the memory a `Context` allocated, viewed as one tensor. Its `handle` is the kernel's
/// (None in process or after its context closed).
#[pyclass(module = "lightos", frozen, extends = Tensor)]
pub(crate) struct Buffer {}

impl Buffer {
    /// A buffer over all of `mem`, viewed as `shape` of `dtype`.
    pub(crate) fn create(
        py: Python<'_>,
        mem: Arc<Memory>,
        shape: Vec<u64>,
        dtype: ElemType,
    ) -> PyResult<Bound<'_, Buffer>> {
        let t = Tensor::new(mem, 0, shape, dtype)?;
        Bound::new(py, PyClassInitializer::from(t).add_subclass(Buffer {}))
    }
}

#[pymethods]
impl Buffer {
    /// The buffer object's handle in its context, or None (in process, or its context closed).
    #[getter]
    fn handle(slf: PyRef<'_, Self>) -> Option<u32> {
        let mem = &slf.as_super().mem;
        mem.handle.lock().ok()?.as_ref().map(|b| b.handle())
    }

    /// Its whole size in bytes (whole pages).
    #[getter]
    fn size(slf: PyRef<'_, Self>) -> usize {
        slf.as_super().mem.len()
    }
}
