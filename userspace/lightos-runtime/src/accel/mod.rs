//! The device API applications write against: enumerate compute devices, pick one (or let the
//! kernel choose), create tensors whose memory is a kernel buffer, launch ops and wait on events.
//! The same code runs on cpu0 (`lightosd`), photonic0 or any other backend: only the name passed
//! to [`Accelerator::select`] changes.
//!
//! ```no_run
//! use lightos_runtime::accel::Accelerator;
//! let mut acc = Accelerator::open()?;
//! acc.select("photonic0")?; // or "cpu0"
//! let a = acc.tensor_from_f32(&[2, 3], &[1., 2., 3., 4., 5., 6.])?;
//! let b = acc.tensor_from_f32(&[3, 1], &[1., 1., 1.])?;
//! let c = acc.zeros(&[2, 1], lightos_runtime::DType::F32)?;
//! acc.matmul(&a, &b, &c)?.wait()?;
//! println!("{:?}", c.to_f32()?);
//! # Ok::<(), lightos_runtime::accel::AccelError>(())
//! ```

mod device;
mod launch;
mod quant;
mod tensor;

pub use device::{DeviceKind, DeviceProps};
pub use launch::Event;
pub use quant::{BQuant, Quant};
pub use tensor::Tensor;

use crate::{Context, DType, JobStatus, Op, Queue};
use std::time::Duration;

/// Why a device API call failed.
#[derive(Debug, thiserror::Error)]
pub enum AccelError {
    /// The kernel refused a call.
    #[error(transparent)]
    Device(#[from] crate::Error),
    /// Operands that do not fit the op, caught before submission.
    #[error("{op:?}: {why}")]
    Shape {
        /// The op.
        op: Op,
        /// What is wrong.
        why: String,
    },
    /// No device of that name.
    #[error("no device named '{0}' (see `lightos devices`)")]
    NoDevice(String),
    /// The job ended without a result: a failed or killed backend (`DeviceLost`), an injected
    /// fault, a thermal abort, a timeout. The caller may select another device and launch again.
    #[error("{op:?} on {device} ended {status:?}")]
    Job {
        /// The op.
        op: Op,
        /// Where it ran.
        device: String,
        /// How it ended.
        status: JobStatus,
    },
}

/// Result of the device API.
pub type Result<T> = std::result::Result<T, AccelError>;

/// A kernel context with a chosen device and a queue to launch on.
#[derive(Debug)]
pub struct Accelerator {
    dev: Context,
    queue: Queue,
    selected: Option<DeviceProps>,
}

impl Accelerator {
    /// Opens `/dev/lightos` (a new context); the kernel chooses devices until [`Self::select`].
    pub fn open() -> Result<Accelerator> {
        Self::with(Context::open()?)
    }

    /// Uses an open context.
    pub fn with(dev: Context) -> Result<Accelerator> {
        let queue = dev.create_queue(0, Duration::from_secs(120))?;
        Ok(Accelerator {
            dev,
            queue,
            selected: None,
        })
    }

    /// The context.
    pub fn context(&self) -> &Context {
        &self.dev
    }

    /// Every device the kernel knows, with its properties and current temperature where known.
    pub fn devices(&self) -> Result<Vec<DeviceProps>> {
        device::enumerate(&self.dev)
    }

    /// Routes every op `name` runs to it from now on; ops it does not run go wherever the kernel
    /// finds a backend (photonic0 runs MATMUL; an MLP's bias ADD then runs on cpu0).
    pub fn select(&mut self, name: &str) -> Result<DeviceProps> {
        let d = self
            .devices()?
            .into_iter()
            .find(|d| d.name == name)
            .ok_or_else(|| AccelError::NoDevice(name.to_string()))?;
        self.dev.clear_routes()?;
        for op in Op::ALL.into_iter().filter(|op| d.ops & op.bit() != 0) {
            self.dev
                .add_route(Some(op), None, 0..=u64::MAX, d.backend_id)?;
        }
        self.selected = Some(d.clone());
        Ok(d)
    }

    /// Lets the kernel choose the device for every op again.
    pub fn select_auto(&mut self) -> Result<()> {
        self.dev.clear_routes()?;
        self.selected = None;
        Ok(())
    }

    /// The selected device, if any.
    pub fn selected(&self) -> Option<&DeviceProps> {
        self.selected.as_ref()
    }

    /// A zero-filled tensor of `shape` in a new kernel buffer, mapped here.
    pub fn zeros(&self, shape: &[u64], dtype: DType) -> Result<Tensor> {
        Tensor::zeros(&self.dev, shape, dtype)
    }

    /// An f32 tensor holding `values` (row-major).
    pub fn tensor_from_f32(&self, shape: &[u64], values: &[f32]) -> Result<Tensor> {
        let mut t = self.zeros(shape, DType::F32)?;
        t.write_f32(values)?;
        Ok(t)
    }
}
