// SPDX-License-Identifier: GPL-2.0

//! Buffer objects ([`object`]), their ioctls ([`ioctl`]) and sharing them with other contexts and
//! processes as dma-bufs ([`export`]). Mapping them is [`crate::mmap`].

pub(crate) mod export;
pub(crate) mod ioctl;
pub(crate) mod object;
