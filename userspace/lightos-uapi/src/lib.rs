//! `lightos-uapi`: the `/dev/lightos` ABI as dependency-free `#[repr(C)]` Rust.
//!
//! The definitions live in `include/uapi/lightos.rs`, beside the C header `include/uapi/lightos.h`
//! (a host test proves the two equal); the kernel module includes the same file verbatim, and this
//! crate re-exports it for userspace. `docs/ABI.md` has the rules.
#![no_std]

#[path = "../../../include/uapi/lightos.rs"]
mod abi;
pub use abi::*;
