//! `ReduceSum`, `ReduceMean`, `ReduceMax` as `OP_REDUCE` and `Gather` as `OP_GATHER` (ABI 1.13).

use super::{fail, input};
use crate::{
    compile::{layout::View, Builder},
    ir::{DType, Node},
    onnx::ops::axes_from_input,
    Result,
};
use lightos_uapi as uapi;

/// A reduction over the node's axes (all of them when none are given, unless
/// `noop_with_empty_axes`, which makes it a copy). Neighbouring axes that are both reduced or both
/// kept merge, so any rank fits the ABI's four dimensions when the runs do.
pub(super) fn reduce(b: &mut Builder, n: &Node) -> Result<()> {
    let kind = match n.op.as_str() {
        "ReduceSum" => uapi::REDUCE_SUM,
        "ReduceMean" => uapi::REDUCE_MEAN,
        "ReduceMax" => uapi::REDUCE_MAX,
        other => return Err(fail(n, format!("{other} is not a reduction"))),
    };
    let x = b.loc(input(n, 0)?, &n.name)?;
    let rank = x.dims.len();
    let axes: Vec<i64> = if axes_from_input(&n.op, b.graph.opset) {
        match n.input(1) {
            Some(name) => b
                .graph
                .initializers
                .get(name)
                .and_then(|t| t.ints())
                .ok_or_else(|| fail(n, "axes that are not a constant"))?,
            None => Vec::new(),
        }
    } else {
        n.ints("axes").map(<[i64]>::to_vec).unwrap_or_default()
    };
    let mut reduced = vec![axes.is_empty() && n.int("noop_with_empty_axes", 0) == 0; rank];
    for &a in &axes {
        let at = if a < 0 { a + rank as i64 } else { a };
        let slot = usize::try_from(at)
            .ok()
            .and_then(|i| reduced.get_mut(i))
            .ok_or_else(|| fail(n, format!("axis {a} of a rank-{rank} input")))?;
        *slot = true;
    }
    let out = b.arena(&n.outputs[0], n)?;
    if !reduced.contains(&true) {
        return super::copy(b, n, &x, &out.reshaped(&x.dims));
    }
    // Runs of neighbouring axes with the same fate, as one axis each (size-1 axes join any run).
    let mut dims: Vec<u64> = Vec::new();
    let mut fate: Vec<bool> = Vec::new();
    for (&d, &r) in x.dims.iter().zip(&reduced) {
        if d == 1 {
            continue;
        }
        match fate.last() {
            Some(&f) if f == r => *dims.last_mut().unwrap_or(&mut 0) *= d,
            _ => {
                dims.push(d);
                fate.push(r);
            }
        }
    }
    if dims.is_empty() {
        // Every axis is 1: the reduction of one element.
        dims.push(1);
        fate.push(true);
    }
    if dims.len() > uapi::MAX_DIMS {
        return Err(fail(
            n,
            format!(
                "{} alternating runs of reduced and kept axes: the ABI takes {}",
                dims.len(),
                uapi::MAX_DIMS
            ),
        ));
    }
    let mask = fate
        .iter()
        .enumerate()
        .fold(0u64, |m, (i, &r)| m | u64::from(r) << i);
    let out_dims: Vec<u64> = dims
        .iter()
        .zip(&fate)
        .map(|(&d, &r)| if r { 1 } else { d })
        .collect();
    b.emit(
        n,
        uapi::OP_REDUCE,
        &[x.reshaped(&dims), out.reshaped(&out_dims)],
        [kind, mask, 0, 0],
    )
}

/// `Gather` along `axis`: data's dims before it, the indices', data's after it (scalar indices
/// as one of size 1, which the output's bytes do not see).
pub(super) fn gather(b: &mut Builder, n: &Node) -> Result<()> {
    let data = b.loc(input(n, 0)?, &n.name)?;
    let idx = b.indices(input(n, 1)?, &n.name)?;
    let rank = data.dims.len() as i64;
    let axis = n.int("axis", 0);
    let axis = if axis < 0 { axis + rank } else { axis };
    let axis = usize::try_from(axis)
        .ok()
        .filter(|&a| a < data.dims.len())
        .ok_or_else(|| fail(n, format!("axis {axis} of a rank-{rank} input")))?;
    let idx = if idx.dims.is_empty() {
        idx.reshaped(&[1])
    } else {
        idx
    };
    // Leading size-1 dimensions before the axis (a batch of one) are dropped from data and
    // output alike, so a 4-D gather's 5-D output still fits.
    let ones = data.dims[..axis].iter().take_while(|&&d| d == 1).count();
    let (data, axis) = (data.reshaped(&data.dims[ones..]), axis - ones);
    let out = b.arena(&n.outputs[0], n)?;
    let mut dims = data.dims[..axis].to_vec();
    dims.extend(&idx.dims);
    dims.extend(&data.dims[axis + 1..]);
    b.emit(
        n,
        uapi::OP_GATHER,
        &[data, idx, out.reshaped(&dims)],
        [axis as u64, 0, 0, 0],
    )
}

impl Builder<'_> {
    /// Where index value `name` (an i64 graph input, or an i64 or i32 constant placed as i64)
    /// lives.
    pub(crate) fn indices(&mut self, name: &str, node: &str) -> Result<View> {
        if let Some(v) = self.locs.get(name) {
            return Ok(v.clone());
        }
        let Some(t) = self.graph.initializers.get(name) else {
            return Err(crate::GraphError::UnknownValue {
                node: node.into(),
                value: name.into(),
            });
        };
        let values = t
            .ints()
            .filter(|_| matches!(t.dtype, DType::I64 | DType::I32));
        let values = values.ok_or_else(|| crate::GraphError::Tensor {
            tensor: name.into(),
            reason: format!("{}: indices are i64 or i32", t.dtype.name()),
        })?;
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let dims = t.dims.clone();
        let v = self.place(name, &dims, &bytes)?;
        self.locs.insert(name.into(), v.clone());
        Ok(v)
    }
}
