//! The ONNX loader: a `ModelProto` (protobuf, parsed by prost over the vendored schema) into the
//! IR. The file is memory-mapped and decoded into byte buffers that share its pages, so
//! initializers are not copied; external data is mapped the same way and checked against its
//! file's size. Opsets 9 to 28 of the default domain; each node's op version and attributes are
//! checked against what the engine supports ([`ops`]), `Constant` nodes become initializers, and
//! the nodes are sorted topologically (cycles, unknown inputs and duplicate producers refused). On
//! any error nothing is returned: no half-loaded graph.

pub mod ops;

/// The types generated from proto/onnx.proto (package `onnx`).
#[allow(clippy::all, missing_docs)]
pub mod proto {
    include!(concat!(env!("OUT_DIR"), "/onnx.rs"));
}

use crate::{
    ir::{Attr, DType, Dim, Graph, Node, Tensor, ValueInfo},
    GraphError, Result,
};
use bytes::Bytes;
use prost::Message;
use std::{
    collections::{BTreeMap, HashSet},
    path::Path,
};

/// The oldest opset of the default domain the loader accepts.
pub const MIN_OPSET: i64 = 9;
/// The newest (that of the `onnx` 1.23 package the schema comes from).
pub const MAX_OPSET: i64 = 28;

/// Loads the ONNX model at `path` (memory-mapped: initializers share the file's pages).
pub fn load(path: &Path) -> Result<Graph> {
    let io = |source| GraphError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    if file.metadata().map_err(io)?.len() == 0 {
        return Err(GraphError::Decode {
            what: path.display().to_string(),
            reason: "empty file".into(),
        });
    }
    // SAFETY: a read-only private mapping of a file we opened; like every reader of model files we
    // assume it is not truncated or rewritten while the graph lives (its bytes would change).
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
    decode(
        Bytes::from_owner(map),
        &path.display().to_string(),
        path.parent(),
    )
}

/// Loads an ONNX model from memory (external data, which names files, is refused).
pub fn load_bytes(bytes: impl Into<Bytes>) -> Result<Graph> {
    decode(bytes.into(), "model bytes", None)
}

/// Decodes one serialized `TensorProto` (the ONNX test data's `output_0.pb` files).
pub fn load_tensor(bytes: impl Into<Bytes>, what: &str) -> Result<Tensor> {
    let t = proto::TensorProto::decode(bytes.into()).map_err(|e| GraphError::Decode {
        what: what.into(),
        reason: e.to_string(),
    })?;
    tensor(&t, what, None)
}

fn decode(bytes: Bytes, what: &str, dir: Option<&Path>) -> Result<Graph> {
    let model = proto::ModelProto::decode(bytes).map_err(|e| GraphError::Decode {
        what: what.into(),
        reason: e.to_string(),
    })?;
    let opset = model
        .opset_import
        .iter()
        .find(|o| matches!(o.domain.as_deref().unwrap_or(""), "" | "ai.onnx"))
        .and_then(|o| o.version)
        .ok_or_else(|| GraphError::Decode {
            what: what.into(),
            reason: "no opset of the default ONNX domain is imported".into(),
        })?;
    if !(MIN_OPSET..=MAX_OPSET).contains(&opset) {
        return Err(GraphError::Opset {
            opset,
            min: MIN_OPSET,
            max: MAX_OPSET,
        });
    }
    let g = model.graph.as_ref().ok_or_else(|| GraphError::Decode {
        what: what.into(),
        reason: "the model has no graph".into(),
    })?;
    let mut graph = Graph {
        name: g.name.clone().unwrap_or_default(),
        opset,
        ..Graph::default()
    };
    for t in &g.initializer {
        let name = t.name.clone().unwrap_or_default();
        let value = tensor(t, &name, dir)?;
        if graph.initializers.insert(name.clone(), value).is_some() {
            return Err(GraphError::Tensor {
                tensor: name,
                reason: "two initializers have this name".into(),
            });
        }
    }
    for vi in &g.input {
        let info = value_info(vi)?;
        if !graph.initializers.contains_key(&info.name) {
            graph.values.insert(info.name.clone(), info.clone());
            graph.inputs.push(info);
        }
    }
    for vi in &g.value_info {
        let info = value_info(vi)?;
        graph.values.insert(info.name.clone(), info);
    }
    for vi in &g.output {
        let info = value_info(vi)?;
        graph.values.insert(info.name.clone(), info.clone());
        graph.outputs.push(info);
    }
    let mut nodes = Vec::with_capacity(g.node.len());
    let mut names = HashSet::new();
    for (i, n) in g.node.iter().enumerate() {
        let mut name = n.name.clone().unwrap_or_default();
        if name.is_empty() || !names.insert(name.clone()) {
            name = format!(
                "#{i}{}",
                if name.is_empty() {
                    String::new()
                } else {
                    format!(" ({name})")
                }
            );
        }
        let node = Node {
            name,
            op: n.op_type.clone().unwrap_or_default(),
            inputs: n.input.clone(),
            outputs: n.output.clone(),
            attrs: attrs(n, dir, opset)?,
        };
        ops::check(&node, n.domain.as_deref().unwrap_or(""), opset)?;
        if node.op == "Constant" {
            let (out, value) = constant(&node, opset)?;
            graph.initializers.insert(out, value);
            continue;
        }
        nodes.push(node);
    }
    graph.nodes = crate::topo::sort(nodes, &graph)?;
    for out in &graph.outputs {
        let produced = graph.nodes.iter().any(|n| n.outputs.contains(&out.name))
            || graph.initializers.contains_key(&out.name)
            || graph.inputs.iter().any(|i| i.name == out.name);
        if !produced {
            return Err(GraphError::Tensor {
                tensor: out.name.clone(),
                reason: "a graph output nothing produces".into(),
            });
        }
    }
    Ok(graph)
}

/// A graph input's or output's declared type and shape.
fn value_info(vi: &proto::ValueInfoProto) -> Result<ValueInfo> {
    let name = vi.name.clone().unwrap_or_default();
    let bad = |reason: String| GraphError::Tensor {
        tensor: name.clone(),
        reason,
    };
    let tensor_type = match vi.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(proto::type_proto::Value::TensorType(t)) => t,
        _ => {
            return Err(bad(
                "not a tensor (sequences, maps and optionals are not supported)".into(),
            ))
        }
    };
    let code = tensor_type.elem_type.unwrap_or(0);
    let dtype = DType::from_onnx(code)
        .ok_or_else(|| bad(format!("element type {code} is not supported")))?;
    let shape = tensor_type.shape.as_ref().map(|s| {
        s.dim
            .iter()
            .enumerate()
            .map(|(i, d)| match &d.value {
                Some(proto::tensor_shape_proto::dimension::Value::DimValue(v)) if *v >= 0 => {
                    Dim::Known(*v as u64)
                }
                Some(proto::tensor_shape_proto::dimension::Value::DimParam(p)) if !p.is_empty() => {
                    Dim::Sym(p.clone())
                }
                _ => Dim::Sym(format!("{name}_d{i}")),
            })
            .collect()
    });
    Ok(ValueInfo { name, dtype, shape })
}

/// Converts a `TensorProto` (raw, typed or external data) into an IR tensor, checking that its
/// data holds exactly its elements.
fn tensor(t: &proto::TensorProto, name: &str, dir: Option<&Path>) -> Result<Tensor> {
    let bad = |reason: String| GraphError::Tensor {
        tensor: name.into(),
        reason,
    };
    let code = t.data_type.unwrap_or(0);
    let dtype = DType::from_onnx(code)
        .ok_or_else(|| bad(format!("element type {code} is not supported")))?;
    let mut dims = Vec::with_capacity(t.dims.len());
    for &d in &t.dims {
        dims.push(u64::try_from(d).map_err(|_| bad(format!("negative dimension {d}")))?);
    }
    if t.segment.is_some() {
        return Err(bad("segmented tensors are not supported".into()));
    }
    let elements = dims
        .iter()
        .try_fold(1u64, |a, &d| a.checked_mul(d))
        .ok_or_else(|| bad("too many elements".into()))?;
    let want = elements
        .checked_mul(dtype.size() as u64)
        .ok_or_else(|| bad("too many bytes".into()))?;
    let data = if t.data_location == Some(proto::tensor_proto::DataLocation::External as i32) {
        external(t, name, dir, want)?
    } else if let Some(raw) = t.raw_data.as_ref().filter(|r| !r.is_empty() || want == 0) {
        if raw.len() as u64 != want {
            return Err(bad(format!(
                "raw_data holds {} bytes; {} elements of {} need {want}",
                raw.len(),
                elements,
                dtype.name()
            )));
        }
        raw.clone()
    } else {
        typed(t, dtype, elements).map_err(bad)?
    };
    Ok(Tensor { dtype, dims, data })
}

/// The typed fields of `t` as little-endian bytes.
fn typed(t: &proto::TensorProto, dtype: DType, elements: u64) -> Result<Bytes, String> {
    let (have, bytes): (usize, Vec<u8>) = match dtype {
        DType::F32 => (
            t.float_data.len(),
            t.float_data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ),
        DType::F64 => (
            t.double_data.len(),
            t.double_data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ),
        DType::I64 => (
            t.int64_data.len(),
            t.int64_data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ),
        DType::I32 => (
            t.int32_data.len(),
            t.int32_data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ),
        // Narrow types are stored one per int32_data entry.
        DType::I8 | DType::U8 | DType::Bool => (
            t.int32_data.len(),
            t.int32_data.iter().map(|&v| v as u8).collect(),
        ),
        DType::F16 | DType::Bf16 => (
            t.int32_data.len(),
            t.int32_data
                .iter()
                .flat_map(|&v| (v as u16).to_le_bytes())
                .collect(),
        ),
    };
    if have as u64 != elements {
        return Err(format!("{have} values stored; its dims need {elements}"));
    }
    Ok(Bytes::from(bytes))
}

/// The bytes of an externally stored tensor: its file (next to the model), mapped, and the range
/// `offset..offset + length` checked against the file's size.
fn external(t: &proto::TensorProto, name: &str, dir: Option<&Path>, want: u64) -> Result<Bytes> {
    let bad = |reason: String| GraphError::Tensor {
        tensor: name.into(),
        reason,
    };
    let entry = |key: &str| {
        t.external_data
            .iter()
            .find(|e| e.key.as_deref() == Some(key))
            .and_then(|e| e.value.clone())
    };
    let location =
        entry("location").ok_or_else(|| bad("external data without a location".into()))?;
    let dir = dir.ok_or_else(|| {
        bad(format!(
            "external data in {location:?} but the model was not loaded from a file"
        ))
    })?;
    let rel = Path::new(&location);
    if rel.is_absolute()
        || rel
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(bad(format!(
            "external data location {location:?} leaves the model's directory"
        )));
    }
    let number = |key: &str| -> Result<Option<u64>> {
        entry(key)
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| bad(format!("external data {key} {v:?} is not a number")))
            })
            .transpose()
    };
    let offset = number("offset")?.unwrap_or(0);
    let path = dir.join(rel);
    let file = std::fs::File::open(&path)
        .map_err(|e| bad(format!("external data {}: {e}", path.display())))?;
    let size = file
        .metadata()
        .map_err(|e| bad(format!("external data {}: {e}", path.display())))?
        .len();
    let length = number("length")?.unwrap_or(size.saturating_sub(offset));
    if length != want {
        return Err(bad(format!(
            "external data length {length}; its dims and dtype need {want}"
        )));
    }
    let end = offset
        .checked_add(length)
        .ok_or_else(|| bad("external data range overflows".into()))?;
    if end > size {
        return Err(bad(format!(
            "external data {offset}..{end} is larger than its file {} ({size} bytes)",
            path.display()
        )));
    }
    if length == 0 {
        return Ok(Bytes::new());
    }
    // SAFETY: as for the model file: a read-only private mapping of a file we opened.
    let map = unsafe { memmap2::Mmap::map(&file) }
        .map_err(|e| bad(format!("mapping {}: {e}", path.display())))?;
    Ok(Bytes::from_owner(map).slice(offset as usize..end as usize))
}

/// A node's attributes.
fn attrs(n: &proto::NodeProto, dir: Option<&Path>, opset: i64) -> Result<BTreeMap<String, Attr>> {
    use proto::attribute_proto::AttributeType as T;
    let node = n.name.clone().unwrap_or_default();
    let op = n.op_type.clone().unwrap_or_default();
    let mut out = BTreeMap::new();
    for a in &n.attribute {
        let name = a.name.clone().unwrap_or_default();
        let refuse = |reason: &str| GraphError::UnsupportedAttr {
            node: node.clone(),
            op: op.clone(),
            opset,
            attr: name.clone(),
            reason: reason.into(),
        };
        let utf8 = |b: &Bytes| {
            String::from_utf8(b.to_vec()).map_err(|_| refuse("a string that is not UTF-8"))
        };
        let kind = a
            .r#type
            .and_then(|t| T::try_from(t).ok())
            .unwrap_or(T::Undefined);
        let value = match kind {
            T::Float => Attr::Float(a.f.unwrap_or(0.0)),
            T::Int => Attr::Int(a.i.unwrap_or(0)),
            T::String => Attr::String(utf8(a.s.as_ref().unwrap_or(&Bytes::new()))?),
            T::Floats => Attr::Floats(a.floats.clone()),
            T::Ints => Attr::Ints(a.ints.clone()),
            T::Strings => Attr::Strings(a.strings.iter().map(utf8).collect::<Result<_>>()?),
            T::Tensor => Attr::Tensor(tensor(
                a.t.as_ref()
                    .ok_or_else(|| refuse("a tensor attribute without a tensor"))?,
                &name,
                dir,
            )?),
            T::Undefined => return Err(refuse("no type")),
            _ => {
                return Err(refuse(
                    "graph, sparse-tensor and type attributes are not supported",
                ))
            }
        };
        out.insert(name, value);
    }
    Ok(out)
}

/// A `Constant` node's output and value.
fn constant(node: &Node, opset: i64) -> Result<(String, Tensor)> {
    let out = node.outputs.first().cloned().unwrap_or_default();
    let value = match node.attrs.iter().next() {
        Some((_, Attr::Tensor(t))) => t.clone(),
        Some((_, Attr::Float(v))) => Tensor::from_floats(vec![], &[*v]),
        Some((_, Attr::Floats(v))) => Tensor::from_floats(vec![v.len() as u64], v),
        Some((_, Attr::Int(v))) => Tensor::from_ints(vec![], &[*v]),
        Some((_, Attr::Ints(v))) => Tensor::from_ints(vec![v.len() as u64], v),
        _ => {
            return Err(GraphError::UnsupportedAttr {
                node: node.name.clone(),
                op: node.op.clone(),
                opset,
                attr: "value".into(),
                reason: "a Constant needs exactly one of value, value_float(s), value_int(s)"
                    .into(),
            })
        }
    };
    if node.attrs.len() != 1 {
        return Err(GraphError::UnsupportedAttr {
            node: node.name.clone(),
            op: node.op.clone(),
            opset,
            attr: "value".into(),
            reason: "a Constant needs exactly one value attribute".into(),
        });
    }
    Ok((out, value))
}
