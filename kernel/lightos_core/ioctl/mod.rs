// SPDX-License-Identifier: GPL-2.0

//! The ioctls of `/dev/lightos`: one table of number → argument struct → handler ([`table`]), and
//! the one place their arguments are checked and copied in and out of user memory ([`arg`]).

pub(crate) mod arg;
pub(crate) mod table;
