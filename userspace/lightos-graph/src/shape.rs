//! Shape inference: the dtype and shape of every value, node by node in topological order, with
//! symbolic dimensions carried through where an op allows it. Small integer tensors computed from
//! shapes (`Shape` → `Gather` → `Unsqueeze` → `Concat` → `Reshape`) are evaluated on the way, so
//! a `Reshape` whose target shape is computed still gets a shape.

use crate::{
    ir::{known, shape_text, DType, Dim, Graph, Node, Shape, ValueInfo},
    onnx::ops,
    GraphError, Result,
};
use std::collections::BTreeMap;

/// Infers the type and shape of every node output of `graph` into `graph.values`. Errors name the
/// node whose inputs do not fit its op.
pub fn infer(graph: &mut Graph) -> Result<()> {
    // Integer values known while inferring (initializers and what is computed from shapes).
    let mut ints: BTreeMap<String, Vec<i64>> = graph
        .initializers
        .iter()
        .filter(|(_, t)| t.elements() <= 64)
        .filter_map(|(n, t)| t.ints().map(|v| (n.clone(), v)))
        .collect();
    for i in 0..graph.nodes.len() {
        let node = graph.nodes[i].clone();
        let inputs: Vec<Option<ValueInfo>> = node
            .inputs
            .iter()
            .map(|n| if n.is_empty() { None } else { graph.value(n) })
            .collect();
        let ctx = Ctx {
            node: &node,
            inputs: &inputs,
            ints: &ints,
            opset: graph.opset,
        };
        let (outs, values) = ctx.infer()?;
        for (k, (dtype, shape)) in outs.into_iter().enumerate() {
            let Some(name) = node.outputs.get(k).filter(|n| !n.is_empty()) else {
                continue;
            };
            graph.values.insert(
                name.clone(),
                ValueInfo {
                    name: name.clone(),
                    dtype,
                    shape: Some(shape),
                },
            );
        }
        if let (Some(v), Some(name)) = (values, node.outputs.first()) {
            ints.insert(name.clone(), v);
        }
    }
    Ok(())
}

/// One node's inference.
struct Ctx<'a> {
    node: &'a Node,
    inputs: &'a [Option<ValueInfo>],
    ints: &'a BTreeMap<String, Vec<i64>>,
    opset: i64,
}

/// An output's dtype and shape.
type Out = (DType, Shape);

impl Ctx<'_> {
    fn err(&self, reason: impl Into<String>) -> GraphError {
        GraphError::Shape {
            node: self.node.name.clone(),
            op: self.node.op.clone(),
            reason: reason.into(),
        }
    }

    /// Input `i`'s dtype and shape (an error when absent or unknown).
    fn input(&self, i: usize) -> Result<(DType, &Shape)> {
        let v = self
            .inputs
            .get(i)
            .and_then(Option::as_ref)
            .ok_or_else(|| self.err(format!("input {i} is missing")))?;
        let shape = v
            .shape
            .as_ref()
            .ok_or_else(|| self.err(format!("input {i} ({}) has no known shape", v.name)))?;
        Ok((v.dtype, shape))
    }

    /// The integer values of input `i`, when known (an initializer or computed from shapes).
    fn const_ints(&self, i: usize) -> Option<&Vec<i64>> {
        self.node.input(i).and_then(|n| self.ints.get(n))
    }

    /// Axis `axis` of a rank-`rank` tensor, negative counting from the end.
    fn axis(&self, axis: i64, rank: usize) -> Result<usize> {
        let r = rank as i64;
        let a = if axis < 0 { axis + r } else { axis };
        if (0..r).contains(&a) {
            Ok(a as usize)
        } else {
            Err(self.err(format!("axis {axis} outside rank {rank}")))
        }
    }

    fn infer(&self) -> Result<(Vec<Out>, Option<Vec<i64>>)> {
        let n = self.node;
        let same = |i| -> Result<Vec<Out>> {
            let (d, s) = self.input(i)?;
            Ok(vec![(d, s.clone())])
        };
        let outs = match n.op.as_str() {
            "Relu" | "Sigmoid" | "Tanh" | "Exp" | "Sqrt" | "Erf" | "Reciprocal" | "Neg"
            | "Identity" | "LRN" | "Softmax" => same(0)?,
            "Dropout" => {
                let (d, s) = self.input(0)?;
                vec![(d, s.clone()), (DType::Bool, s.clone())]
            }
            "BatchNormalization" => {
                let (d, s) = self.input(0)?;
                let c = s
                    .get(1)
                    .cloned()
                    .ok_or_else(|| self.err("input 0 needs a channel axis"))?;
                for i in 1..5 {
                    let (_, p) = self.input(i)?;
                    if p.len() != 1 || !compatible(&p[0], &c) {
                        return Err(self.err(format!("input {i} is {}, not [{c}]", shape_text(p))));
                    }
                }
                vec![(d, s.clone())]
            }
            "LayerNormalization" => {
                let (d, s) = self.input(0)?;
                let axis = self.axis(n.int("axis", -1), s.len())?;
                let mut stats = s.clone();
                for dim in stats.iter_mut().skip(axis) {
                    *dim = Dim::Known(1);
                }
                vec![
                    (d, s.clone()),
                    (DType::F32, stats.clone()),
                    (DType::F32, stats),
                ]
            }
            "Add" | "Sub" | "Mul" | "Div" | "Pow" | "Max" | "Min" | "Sum" => {
                let (d, mut s) = {
                    let (d, s) = self.input(0)?;
                    (d, s.clone())
                };
                for i in 1..n.inputs.len() {
                    let (di, si) = self.input(i)?;
                    if di != d && n.op != "Pow" {
                        return Err(self.err(format!(
                            "input {i} is {}, input 0 {}",
                            di.name(),
                            d.name()
                        )));
                    }
                    s = self.broadcast(&s, si)?;
                }
                vec![(d, s)]
            }
            "Conv" => vec![self.conv()?],
            "MaxPool" | "AveragePool" => vec![self.pool()?],
            "GlobalAveragePool" | "GlobalMaxPool" => {
                let (d, s) = self.input(0)?;
                if s.len() < 3 {
                    return Err(self.err(format!("input {} needs spatial axes", shape_text(s))));
                }
                let mut o = s[..2].to_vec();
                o.extend(std::iter::repeat_n(Dim::Known(1), s.len() - 2));
                vec![(d, o)]
            }
            "Gemm" => {
                let (d, a) = self.input(0)?;
                let (_, b) = self.input(1)?;
                if a.len() != 2 || b.len() != 2 {
                    return Err(self.err(format!(
                        "A {} and B {} must be 2-D",
                        shape_text(a),
                        shape_text(b)
                    )));
                }
                let (m, ka) = if n.int("transA", 0) != 0 {
                    (&a[1], &a[0])
                } else {
                    (&a[0], &a[1])
                };
                let (kb, nn) = if n.int("transB", 0) != 0 {
                    (&b[1], &b[0])
                } else {
                    (&b[0], &b[1])
                };
                if !compatible(ka, kb) {
                    return Err(self.err(format!("inner dimensions {ka} and {kb} differ")));
                }
                let out = vec![m.clone(), nn.clone()];
                if let Some(Some(c)) = self.inputs.get(2) {
                    if let Some(cs) = &c.shape {
                        self.broadcast(&out, cs)?;
                    }
                }
                vec![(d, out)]
            }
            "MatMul" => vec![self.matmul()?],
            "Flatten" => {
                let (d, s) = self.input(0)?;
                let axis = if n.int("axis", 1) == s.len() as i64 {
                    s.len()
                } else {
                    self.axis(n.int("axis", 1), s.len())?
                };
                vec![(d, vec![product(&s[..axis]), product(&s[axis..])])]
            }
            "Reshape" => vec![self.reshape()?],
            "Transpose" => {
                let (d, s) = self.input(0)?;
                let perm: Vec<i64> = n
                    .ints("perm")
                    .map(<[i64]>::to_vec)
                    .unwrap_or_else(|| (0..s.len() as i64).rev().collect());
                let mut seen = vec![false; s.len()];
                let mut o = Vec::with_capacity(s.len());
                for &p in &perm {
                    let a = usize::try_from(p).ok().filter(|&a| a < s.len() && !seen[a]);
                    let a = a.ok_or_else(|| {
                        self.err(format!(
                            "perm {perm:?} is not a permutation of rank {}",
                            s.len()
                        ))
                    })?;
                    seen[a] = true;
                    o.push(s[a].clone());
                }
                if o.len() != s.len() {
                    return Err(self.err(format!(
                        "perm {perm:?} is not a permutation of rank {}",
                        s.len()
                    )));
                }
                vec![(d, o)]
            }
            "Concat" => {
                let (d, s0) = self.input(0)?;
                let axis = self.axis(n.int("axis", 0), s0.len())?;
                let mut o = s0.clone();
                for i in 1..n.inputs.len() {
                    let (di, si) = self.input(i)?;
                    if di != d || si.len() != s0.len() {
                        return Err(self.err(format!(
                            "input {i} is {} {}, input 0 {} {}",
                            di.name(),
                            shape_text(si),
                            d.name(),
                            shape_text(s0)
                        )));
                    }
                    for (k, (a, b)) in o.iter_mut().zip(si).enumerate() {
                        if k == axis {
                            *a = add(a, b);
                        } else if !compatible(a, b) {
                            return Err(self.err(format!(
                                "input {i} {} does not match {} off axis {axis}",
                                shape_text(si),
                                shape_text(s0)
                            )));
                        }
                    }
                }
                vec![(d, o)]
            }
            "Unsqueeze" | "Squeeze" => vec![self.squeeze()?],
            "ConstantOfShape" => {
                let dims = self
                    .const_ints(0)
                    .ok_or_else(|| self.err("its shape input is not a constant"))?;
                let dtype = match n.attrs.get("value") {
                    Some(crate::ir::Attr::Tensor(t)) => t.dtype,
                    _ => DType::F32,
                };
                let mut o = Vec::with_capacity(dims.len());
                for &v in dims {
                    o.push(Dim::Known(
                        u64::try_from(v)
                            .map_err(|_| self.err(format!("negative dimension {v}")))?,
                    ));
                }
                vec![(dtype, o)]
            }
            "Shape" => {
                let (_, s) = self.input(0)?;
                let r = s.len() as i64;
                let clamp = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
                let (start, end) = (clamp(n.int("start", 0)), clamp(n.int("end", r)));
                let part = &s[start..end.max(start)];
                let values = known(part).map(|v| v.into_iter().map(|x| x as i64).collect());
                return Ok((
                    vec![(DType::I64, vec![Dim::Known(part.len() as u64)])],
                    values,
                ));
            }
            "Gather" => {
                let (d, s) = self.input(0)?;
                let (di, idx) = self.input(1)?;
                if !matches!(di, DType::I64 | DType::I32) {
                    return Err(self.err(format!("indices are {}, not i32 or i64", di.name())));
                }
                let axis = self.axis(n.int("axis", 0), s.len())?;
                let mut o = s[..axis].to_vec();
                o.extend(idx.iter().cloned());
                o.extend(s[axis + 1..].iter().cloned());
                let values = match (self.const_ints(0), self.const_ints(1)) {
                    (Some(data), Some(ix)) if s.len() == 1 => {
                        let len = data.len() as i64;
                        ix.iter()
                            .map(|&i| {
                                data.get((if i < 0 { i + len } else { i }) as usize)
                                    .copied()
                            })
                            .collect()
                    }
                    _ => None,
                };
                return Ok((vec![(d, o)], values));
            }
            "Cast" => {
                let (_, s) = self.input(0)?;
                let to = n.int("to", 0) as i32;
                let dtype = DType::from_onnx(to).ok_or_else(|| {
                    self.err(format!("cast to element type {to} is not supported"))
                })?;
                let values = if matches!(dtype, DType::I64 | DType::I32) {
                    self.const_ints(0).cloned()
                } else {
                    None
                };
                return Ok((vec![(dtype, s.clone())], values));
            }
            "ReduceMean" | "ReduceSum" | "ReduceMax" => vec![self.reduce()?],
            other => return Err(self.err(format!("no shape rule for {other}"))),
        };
        // Integer arithmetic on shapes, for Reshape targets computed in the graph.
        let values = match n.op.as_str() {
            "Unsqueeze" | "Squeeze" | "Identity" => self.const_ints(0).cloned(),
            "Concat" => (0..n.inputs.len())
                .map(|i| self.const_ints(i).cloned())
                .collect::<Option<Vec<_>>>()
                .map(|v| v.concat()),
            _ => None,
        };
        Ok((outs, values))
    }

    /// NumPy broadcasting of two shapes.
    fn broadcast(&self, a: &[Dim], b: &[Dim]) -> Result<Shape> {
        let r = a.len().max(b.len());
        let one = Dim::Known(1);
        let mut o = Vec::with_capacity(r);
        for k in 0..r {
            let x = if k + a.len() >= r {
                &a[k + a.len() - r]
            } else {
                &one
            };
            let y = if k + b.len() >= r {
                &b[k + b.len() - r]
            } else {
                &one
            };
            o.push(match (x, y) {
                (Dim::Known(1), d) | (d, Dim::Known(1)) => d.clone(),
                (x, y) if x == y => x.clone(),
                (Dim::Sym(_), Dim::Known(_)) => y.clone(),
                (Dim::Known(_), Dim::Sym(_)) => x.clone(),
                _ => {
                    return Err(self.err(format!(
                        "shapes {} and {} do not broadcast",
                        shape_text(a),
                        shape_text(b)
                    )))
                }
            });
        }
        Ok(o)
    }

    /// Spatial padding, begin and end per axis, from `pads` or `auto_pad`.
    fn pads(
        &self,
        spatial: &[u64],
        kernel: &[u64],
        strides: &[u64],
        dilations: &[u64],
    ) -> Result<Vec<(u64, u64)>> {
        let k = spatial.len();
        match self.node.string("auto_pad").unwrap_or("NOTSET") {
            "VALID" => Ok(vec![(0, 0); k]),
            mode @ ("SAME_UPPER" | "SAME_LOWER") => Ok((0..k)
                .map(|i| {
                    let out = spatial[i].div_ceil(strides[i]);
                    let span = (kernel[i] - 1) * dilations[i] + 1;
                    let total = ((out - 1) * strides[i] + span).saturating_sub(spatial[i]);
                    let small = total / 2;
                    if mode == "SAME_UPPER" {
                        (small, total - small)
                    } else {
                        (total - small, small)
                    }
                })
                .collect()),
            _ => {
                let pads = self
                    .node
                    .ints("pads")
                    .map(<[i64]>::to_vec)
                    .unwrap_or_else(|| vec![0; 2 * k]);
                if pads.len() != 2 * k || pads.iter().any(|&p| p < 0) {
                    return Err(self.err(format!(
                        "pads {pads:?}: {} non-negative values expected",
                        2 * k
                    )));
                }
                Ok((0..k)
                    .map(|i| (pads[i] as u64, pads[i + k] as u64))
                    .collect())
            }
        }
    }

    /// A per-spatial-axis attribute (`strides`, `dilations`), 1 by default.
    fn per_axis(&self, name: &str, k: usize) -> Result<Vec<u64>> {
        match self.node.ints(name) {
            None => Ok(vec![1; k]),
            Some(v) if v.len() == k && v.iter().all(|&x| x >= 1) => {
                Ok(v.iter().map(|&x| x as u64).collect())
            }
            Some(v) => Err(self.err(format!("{name} {v:?}: {k} positive values expected"))),
        }
    }

    fn conv(&self) -> Result<Out> {
        let (d, x) = self.input(0)?;
        let (_, w) = self.input(1)?;
        if x.len() != 4 || w.len() != 4 {
            return Err(self.err(format!(
                "2-D convolution only: X {} W {}",
                shape_text(x),
                shape_text(w)
            )));
        }
        let group = self.node.int("group", 1);
        let (Some(sp), Some(wk)) = (known(&x[2..]), known(w)) else {
            return Err(self.err(format!(
                "spatial and weight dimensions must be known: X {} W {}",
                shape_text(x),
                shape_text(w)
            )));
        };
        if group < 1 || wk[0] % group as u64 != 0 {
            return Err(self.err(format!(
                "group {group} does not divide the {} output channels",
                wk[0]
            )));
        }
        if let Dim::Known(c) = x[1] {
            if c != wk[1] * group as u64 {
                return Err(self.err(format!(
                    "X has {c} channels; W {} with group {group} needs {}",
                    shape_text(w),
                    wk[1] * group as u64
                )));
            }
        }
        if let Some(ks) = self.node.ints("kernel_shape") {
            if ks.iter().map(|&k| k as u64).ne(wk[2..].iter().copied()) {
                return Err(self.err(format!(
                    "kernel_shape {ks:?} differs from W {}",
                    shape_text(w)
                )));
            }
        }
        if let Some(Some(b)) = self.inputs.get(2) {
            if b.shape.as_ref().and_then(|s| known(s)) != Some(vec![wk[0]]) {
                return Err(self.err(format!("bias must be [{}]", wk[0])));
            }
        }
        let strides = self.per_axis("strides", 2)?;
        let dil = self.per_axis("dilations", 2)?;
        let pads = self.pads(&sp, &wk[2..], &strides, &dil)?;
        let mut o = vec![x[0].clone(), Dim::Known(wk[0])];
        for i in 0..2 {
            let span = (wk[2 + i] - 1) * dil[i] + 1;
            let padded = sp[i] + pads[i].0 + pads[i].1;
            if padded < span {
                return Err(self.err(format!(
                    "kernel {span} is larger than the padded input {padded}"
                )));
            }
            o.push(Dim::Known((padded - span) / strides[i] + 1));
        }
        Ok((d, o))
    }

    fn pool(&self) -> Result<Out> {
        let (d, x) = self.input(0)?;
        let k = x
            .len()
            .checked_sub(2)
            .filter(|&k| k == 2)
            .ok_or_else(|| self.err(format!("2-D pooling only: X {}", shape_text(x))))?;
        let sp = known(&x[2..]).ok_or_else(|| self.err("spatial dimensions must be known"))?;
        let kernel = self
            .node
            .ints("kernel_shape")
            .ok_or_else(|| self.err("kernel_shape is required"))?;
        if kernel.len() != k || kernel.iter().any(|&v| v < 1) {
            return Err(self.err(format!(
                "kernel_shape {kernel:?}: {k} positive values expected"
            )));
        }
        let kernel: Vec<u64> = kernel.iter().map(|&v| v as u64).collect();
        let strides = self.per_axis("strides", k)?;
        let dil = self.per_axis("dilations", k)?;
        let pads = self.pads(&sp, &kernel, &strides, &dil)?;
        let ceil = self.node.int("ceil_mode", 0) != 0;
        let mut o = x[..2].to_vec();
        for i in 0..k {
            let span = (kernel[i] - 1) * dil[i] + 1;
            let padded = sp[i] + pads[i].0 + pads[i].1;
            if padded < span {
                return Err(self.err(format!(
                    "kernel {span} is larger than the padded input {padded}"
                )));
            }
            let mut out = if ceil {
                (padded - span).div_ceil(strides[i]) + 1
            } else {
                (padded - span) / strides[i] + 1
            };
            // ONNX: with ceil_mode the last window must start inside the input or its left padding.
            if ceil && (out - 1) * strides[i] >= sp[i] + pads[i].0 {
                out -= 1;
            }
            o.push(Dim::Known(out));
        }
        Ok((d, o))
    }

    fn matmul(&self) -> Result<Out> {
        let (d, a) = self.input(0)?;
        let (_, b) = self.input(1)?;
        if a.is_empty() || b.is_empty() {
            return Err(self.err("MatMul of a scalar"));
        }
        let a2: Shape = if a.len() == 1 {
            vec![Dim::Known(1), a[0].clone()]
        } else {
            a.clone()
        };
        let b2: Shape = if b.len() == 1 {
            vec![b[0].clone(), Dim::Known(1)]
        } else {
            b.clone()
        };
        let (ka, kb) = (&a2[a2.len() - 1], &b2[b2.len() - 2]);
        if !compatible(ka, kb) {
            return Err(self.err(format!(
                "inner dimensions of {} and {} differ",
                shape_text(a),
                shape_text(b)
            )));
        }
        let mut o = self.broadcast(&a2[..a2.len() - 2], &b2[..b2.len() - 2])?;
        if a.len() > 1 {
            o.push(a2[a2.len() - 2].clone());
        }
        if b.len() > 1 {
            o.push(b2[b2.len() - 1].clone());
        }
        Ok((d, o))
    }

    fn reshape(&self) -> Result<Out> {
        let (d, x) = self.input(0)?;
        let target = self.const_ints(1).ok_or_else(|| {
            self.err("its shape input is not a constant (or computed from shapes)")
        })?;
        let total = known(x).map(|v| v.iter().product::<u64>());
        let mut o = Vec::with_capacity(target.len());
        let mut infer_at = None;
        for (i, &t) in target.iter().enumerate() {
            o.push(match t {
                0 => x.get(i).cloned().ok_or_else(|| {
                    self.err(format!(
                        "shape[{i}] 0 copies a dimension {} lacks",
                        shape_text(x)
                    ))
                })?,
                -1 if infer_at.is_none() => {
                    infer_at = Some(i);
                    Dim::Known(1)
                }
                t if t > 0 => Dim::Known(t as u64),
                t => return Err(self.err(format!("shape {target:?}: {t} at {i}"))),
            });
        }
        match (total, known(&o)) {
            (Some(total), Some(dims)) => {
                let rest: u64 = dims.iter().product();
                if let Some(i) = infer_at {
                    if rest == 0 || total % rest != 0 {
                        return Err(self.err(format!(
                            "{} cannot be reshaped to {target:?}",
                            shape_text(x)
                        )));
                    }
                    o[i] = Dim::Known(total / rest);
                } else if rest != total {
                    return Err(self.err(format!(
                        "{} has {total} elements, shape {target:?} {rest}",
                        shape_text(x)
                    )));
                }
            }
            _ => {
                if let Some(i) = infer_at {
                    o[i] = Dim::Sym(format!("{}_reshaped", self.node.name));
                }
            }
        }
        Ok((d, o))
    }

    fn squeeze(&self) -> Result<Out> {
        let (d, x) = self.input(0)?;
        let axes: Option<Vec<i64>> = if ops::axes_from_input(&self.node.op, self.opset) {
            match self.node.input(1) {
                Some(_) => Some(
                    self.const_ints(1)
                        .ok_or_else(|| self.err("its axes input is not a constant"))?
                        .clone(),
                ),
                None => None,
            }
        } else {
            self.node.ints("axes").map(<[i64]>::to_vec)
        };
        if self.node.op == "Unsqueeze" {
            let axes = axes.ok_or_else(|| self.err("axes are required"))?;
            let rank = x.len() + axes.len();
            let mut at: Vec<usize> = axes
                .iter()
                .map(|&a| self.axis(a, rank))
                .collect::<Result<_>>()?;
            at.sort_unstable();
            let mut o = x.clone();
            for a in at {
                o.insert(a, Dim::Known(1));
            }
            Ok((d, o))
        } else {
            let drop: Vec<usize> = match axes {
                Some(axes) => axes
                    .iter()
                    .map(|&a| self.axis(a, x.len()))
                    .collect::<Result<_>>()?,
                None => (0..x.len()).filter(|&i| x[i] == Dim::Known(1)).collect(),
            };
            if let Some(&a) = drop.iter().find(|&&a| x[a] != Dim::Known(1)) {
                return Err(self.err(format!("axis {a} of {} is not 1", shape_text(x))));
            }
            Ok((
                d,
                x.iter()
                    .enumerate()
                    .filter(|(i, _)| !drop.contains(i))
                    .map(|(_, v)| v.clone())
                    .collect(),
            ))
        }
    }

    fn reduce(&self) -> Result<Out> {
        let (d, x) = self.input(0)?;
        let axes: Vec<i64> = if ops::axes_from_input(&self.node.op, self.opset) {
            self.node
                .input(1)
                .and_then(|_| self.const_ints(1).cloned())
                .unwrap_or_default()
        } else {
            self.node
                .ints("axes")
                .map(<[i64]>::to_vec)
                .unwrap_or_default()
        };
        let keep = self.node.int("keepdims", 1) != 0;
        let all = axes.is_empty() && self.node.int("noop_with_empty_axes", 0) == 0;
        let at: Vec<usize> = if all {
            (0..x.len()).collect()
        } else {
            axes.iter()
                .map(|&a| self.axis(a, x.len()))
                .collect::<Result<_>>()?
        };
        let mut o = Vec::with_capacity(x.len());
        for (i, dim) in x.iter().enumerate() {
            if !at.contains(&i) {
                o.push(dim.clone());
            } else if keep {
                o.push(Dim::Known(1));
            }
        }
        Ok((d, o))
    }
}

/// Whether two dimensions can be the same size (equal, or one is symbolic).
fn compatible(a: &Dim, b: &Dim) -> bool {
    match (a, b) {
        (Dim::Known(x), Dim::Known(y)) => x == y,
        _ => true,
    }
}

/// The product of `dims` (symbolic when one is).
fn product(dims: &[Dim]) -> Dim {
    match known(dims) {
        Some(v) => Dim::Known(v.iter().product()),
        None => Dim::Sym(
            dims.iter()
                .map(Dim::to_string)
                .collect::<Vec<_>>()
                .join("*"),
        ),
    }
}

/// The sum of two dimensions (symbolic when one is).
fn add(a: &Dim, b: &Dim) -> Dim {
    match (a, b) {
        (Dim::Known(x), Dim::Known(y)) => Dim::Known(x + y),
        _ => Dim::Sym(format!("{a}+{b}")),
    }
}
