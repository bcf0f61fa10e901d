//! `lightos-uapi`: the `/dev/lightos` ABI as dependency-free `#[repr(C)]` Rust.
//!
//! The definitions live in `abi.rs`, which the kernel module includes verbatim; this crate re-exports
//! them for userspace. See `include/uapi/lightos.h` for the C view and `docs/ABI.md` for the rules.
#![no_std]

mod abi;
pub use abi::*;
