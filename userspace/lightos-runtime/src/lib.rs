//! `liblightos-runtime`: the userspace face of `/dev/lightos`.
//!
//! Every ioctl of the ABI is wrapped here behind a safe API with typed errors; the rest of the runtime,
//! the CLI and applications never call `ioctl` themselves.

mod buffer;
mod device;
mod error;
mod info;
mod sys;

pub use buffer::{Buffer, BufferFlags, MappedBuffer, Placement};
pub use device::{Device, DEFAULT_DEVICE_PATH};
pub use error::{Error, Result};
pub use info::DeviceInfo;
pub use lightos_uapi as uapi;
