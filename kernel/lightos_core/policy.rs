// SPDX-License-Identifier: GPL-2.0

//! Policy, the second stage of the interception chain: which backend runs a primitive.
//!
//! Each context has an ordered list of routing rules (`ROUTE_SET`) and a deterministic mode. The
//! first rule whose op, dtype and byte range match decides: its backend (or, for `BACKEND_ANY`, the
//! first that fits) must run the primitive, else the submission fails. Without a matching rule the
//! first registered backend that fits is chosen. A primitive is deterministic when it has
//! `PRIM_DETERMINISTIC` or its context is in deterministic mode; it is then only routed to a backend
//! that declares the op bit-reproducible.
//!
//! Errors: `ENODEV` when no backend runs the op and dtypes (or the rule's backend is not
//! registered); `EOPNOTSUPP` when backends run it but none (or not the rule's) deterministically.

use crate::{
    backend::{self, Backend},
    errno,
    ioctl_arg::IoctlArg,
    uapi,
};
use kernel::{new_mutex, prelude::*, sync::Arc, sync::Mutex};

/// One routing rule.
#[derive(Clone, Copy)]
struct Rule {
    backend_id: u32,
    op: u16,
    dtype: u8,
    min_bytes: u64,
    max_bytes: u64,
}

impl Rule {
    fn matches(&self, p: &uapi::Primitive, bytes: u64) -> bool {
        (self.op == 0 || self.op == p.op)
            && (self.dtype == 0 || self.dtype == p.dtype)
            && bytes >= self.min_bytes
            && (self.max_bytes == 0 || bytes <= self.max_bytes)
    }
}

/// The rules and mode of a context.
struct Table {
    rules: KVec<Rule>,
    deterministic: bool,
}

/// A context's routing policy.
#[pin_data]
pub(crate) struct Routes {
    #[pin]
    table: Mutex<Table>,
}

impl Routes {
    /// No rules, deterministic mode off.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            table <- new_mutex!(Table { rules: KVec::new(), deterministic: false }),
        })
    }

    /// How many rules there are.
    pub(crate) fn rule_count(&self) -> usize {
        self.table.lock().rules.len()
    }

    /// Picks the backend for `p` (whose operands span `bytes`) and its resolved `out_dtype`.
    pub(crate) fn route(&self, p: &uapi::Primitive, out_dtype: u8, bytes: u64) -> Result<Arc<dyn Backend>> {
        let (rule, det) = {
            let t = self.table.lock();
            let rule = t.rules.iter().find(|r| r.matches(p, bytes)).copied();
            (rule, t.deterministic || p.flags & uapi::PRIM_DETERMINISTIC != 0)
        };
        let wanted = rule.map_or(uapi::BACKEND_ANY, |r| r.backend_id);
        backend::with_backends(|list| {
            let mut runs_it = false;
            for b in list.iter().filter(|b| wanted == uapi::BACKEND_ANY || b.id() == wanted) {
                if backend::supports(&**b, p.op, p.dtype, out_dtype) {
                    runs_it = true;
                    if !det || backend::deterministic(&**b, p.op) {
                        return Ok(b.clone());
                    }
                }
            }
            Err(if runs_it { errno::eopnotsupp() } else { ENODEV })
        })
    }

    /// Handles `ROUTE_SET`: clears, sets the mode and/or appends a rule. `EINVAL` for unknown flags,
    /// non-zero pad/reserved, an unknown op or dtype, `min_bytes > max_bytes`, a mode other than 0/1
    /// (or a mode without `ROUTE_SET_MODE`); `ENOSPC` beyond [`uapi::MAX_ROUTES`] rules.
    pub(crate) fn set(&self, arg: IoctlArg) -> Result<isize> {
        let mut req: uapi::RouteSet = arg.read()?;
        if req.flags & !uapi::ROUTE_FLAGS_ALL != 0
            || req.pad != 0
            || req.pad2 != 0
            || req.reserved.iter().any(|&r| r != 0)
            || usize::from(req.op) > uapi::OP_COUNT
            || req.dtype > uapi::DTYPE_MAX
            || (req.max_bytes != 0 && req.min_bytes > req.max_bytes)
            || req.deterministic > 1
            || (req.deterministic != 0 && req.flags & uapi::ROUTE_SET_MODE == 0)
        {
            return Err(EINVAL);
        }
        let has_rule = req.backend_id != 0
            || req.op != 0
            || req.dtype != 0
            || req.min_bytes != 0
            || req.max_bytes != 0
            || req.flags & (uapi::ROUTE_CLEAR | uapi::ROUTE_SET_MODE) == 0;
        let mut t = self.table.lock();
        if has_rule && (req.flags & uapi::ROUTE_CLEAR == 0) && t.rules.len() >= uapi::MAX_ROUTES as usize {
            return Err(ENOSPC);
        }
        if req.flags & uapi::ROUTE_CLEAR != 0 {
            t.rules.clear();
        }
        if req.flags & uapi::ROUTE_SET_MODE != 0 {
            t.deterministic = req.deterministic == 1;
        }
        if has_rule {
            let rule = Rule {
                backend_id: req.backend_id,
                op: req.op,
                dtype: req.dtype,
                min_bytes: req.min_bytes,
                max_bytes: req.max_bytes,
            };
            t.rules.push(rule, GFP_KERNEL)?;
        }
        req.rules = t.rules.len() as u32;
        drop(t);
        arg.write(&req)?;
        Ok(0)
    }
}
