//! The native format: one safetensors file whose tensors are the graph's initializers and whose
//! metadata (`lightos.graph`, JSON) holds the rest of the IR: name, opset, inputs, outputs, known
//! value types and shapes, and the nodes in topological order. Loading maps the file and hands out
//! initializers as byte buffers sharing its pages (no copy). Written by `lightos model optimize`.
//!
//! JSON layout (version 1): `{"version":1,"name":…,"opset":…,"inputs":[value],"outputs":[value],
//! "values":[value],"nodes":[{"name","op","inputs","outputs","attrs":{name: attr}}]}` where a value
//! is `{"name","dtype","shape":[n | "sym"] | null}` and an attr is `{"int":i}`, `{"float":f}`,
//! `{"string":s}`, `{"ints":[…]}`, `{"floats":[…]}`, `{"strings":[…]}` or
//! `{"tensor":{"dtype","dims","hex"}}` (small constant tensors, such as ConstantOfShape's value).

use crate::{
    ir::{Attr, DType, Dim, Graph, Node, Tensor, ValueInfo},
    GraphError, Result,
};
use bytes::Bytes;
use safetensors::{tensor::TensorView, Dtype as StDtype, SafeTensors};
use serde_json::{json, Value};
use std::{collections::HashMap, path::Path};

/// The metadata key holding the IR.
const KEY: &str = "lightos.graph";
/// The format's version.
const VERSION: u64 = 1;

fn st_dtype(d: DType) -> StDtype {
    match d {
        DType::F32 => StDtype::F32,
        DType::F16 => StDtype::F16,
        DType::Bf16 => StDtype::BF16,
        DType::F64 => StDtype::F64,
        DType::I8 => StDtype::I8,
        DType::U8 => StDtype::U8,
        DType::I32 => StDtype::I32,
        DType::I64 => StDtype::I64,
        DType::Bool => StDtype::BOOL,
    }
}

fn from_st(d: StDtype) -> Option<DType> {
    Some(match d {
        StDtype::F32 => DType::F32,
        StDtype::F16 => DType::F16,
        StDtype::BF16 => DType::Bf16,
        StDtype::F64 => DType::F64,
        StDtype::I8 => DType::I8,
        StDtype::U8 => DType::U8,
        StDtype::I32 => DType::I32,
        StDtype::I64 => DType::I64,
        StDtype::BOOL => DType::Bool,
        _ => return None,
    })
}

fn dtype_by_name(name: &str) -> Option<DType> {
    [
        DType::F32,
        DType::F16,
        DType::Bf16,
        DType::F64,
        DType::I8,
        DType::U8,
        DType::I32,
        DType::I64,
        DType::Bool,
    ]
    .into_iter()
    .find(|d| d.name() == name)
}

/// Writes `graph` to `path` in the native format.
pub fn save(graph: &Graph, path: &Path) -> Result<()> {
    let ir = json!({
        "version": VERSION,
        "name": graph.name,
        "opset": graph.opset,
        "inputs": graph.inputs.iter().map(value_json).collect::<Vec<_>>(),
        "outputs": graph.outputs.iter().map(value_json).collect::<Vec<_>>(),
        "values": graph.values.values().map(value_json).collect::<Vec<_>>(),
        "nodes": graph.nodes.iter().map(node_json).collect::<Vec<_>>(),
    });
    let mut views = Vec::with_capacity(graph.initializers.len());
    for (name, t) in &graph.initializers {
        let shape: Vec<usize> = t.dims.iter().map(|&d| d as usize).collect();
        let view =
            TensorView::new(st_dtype(t.dtype), shape, &t.data).map_err(|e| GraphError::Tensor {
                tensor: name.clone(),
                reason: e.to_string(),
            })?;
        views.push((name.clone(), view));
    }
    let metadata = Some(HashMap::from([(KEY.to_string(), ir.to_string())]));
    safetensors::serialize_to_file(views, metadata, path).map_err(|e| GraphError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    })
}

/// Loads a graph written by [`save`]; initializers share the mapped file's pages.
pub fn load(path: &Path) -> Result<Graph> {
    let what = path.display().to_string();
    let io = |source| GraphError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    // SAFETY: a read-only private mapping of a file we opened (see `onnx::load`).
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
    let bytes = Bytes::from_owner(map);
    let bad = |reason: String| GraphError::Decode {
        what: what.clone(),
        reason,
    };
    let (_, meta) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| bad(format!("not a safetensors file: {e}")))?;
    let ir = meta
        .metadata()
        .as_ref()
        .and_then(|m| m.get(KEY))
        .ok_or_else(|| {
            bad(format!(
                "a safetensors file without {KEY:?} metadata (not a LightOS graph)"
            ))
        })?;
    let ir: Value = serde_json::from_str(ir).map_err(|e| bad(format!("{KEY}: {e}")))?;
    if ir["version"].as_u64() != Some(VERSION) {
        return Err(bad(format!(
            "{KEY} version {}: this build reads version {VERSION}",
            ir["version"]
        )));
    }
    let tensors = SafeTensors::deserialize(&bytes).map_err(|e| bad(e.to_string()))?;
    let mut graph = Graph {
        name: ir["name"].as_str().unwrap_or_default().into(),
        opset: ir["opset"].as_i64().ok_or_else(|| bad("no opset".into()))?,
        ..Graph::default()
    };
    let base = bytes.as_ptr() as usize;
    for (name, view) in tensors.tensors() {
        let dtype = from_st(view.dtype()).ok_or_else(|| GraphError::Tensor {
            tensor: name.clone(),
            reason: format!("dtype {:?} is not supported", view.dtype()),
        })?;
        let start = view.data().as_ptr() as usize - base;
        let data = bytes.slice(start..start + view.data().len());
        let dims = view.shape().iter().map(|&d| d as u64).collect();
        graph
            .initializers
            .insert(name, Tensor { dtype, dims, data });
    }
    let values = |key: &str| -> Result<Vec<ValueInfo>> {
        ir[key]
            .as_array()
            .ok_or_else(|| bad(format!("no {key}")))?
            .iter()
            .map(|v| value_from(v).ok_or_else(|| bad(format!("bad {key} entry {v}"))))
            .collect()
    };
    graph.inputs = values("inputs")?;
    graph.outputs = values("outputs")?;
    for v in values("values")? {
        graph.values.insert(v.name.clone(), v);
    }
    let mut nodes = Vec::new();
    for n in ir["nodes"]
        .as_array()
        .ok_or_else(|| bad("no nodes".into()))?
    {
        let node = node_from(n).ok_or_else(|| bad(format!("bad node {n}")))?;
        // The fused epilogue is this engine's own attribute; everything else is ONNX's.
        let mut onnx_part = node.clone();
        if onnx_part.attrs.remove(crate::passes::ACTIVATION).is_some()
            && !crate::passes::fused_relu(&node)
        {
            return Err(GraphError::UnsupportedAttr {
                node: node.name.clone(),
                op: node.op.clone(),
                opset: graph.opset,
                attr: crate::passes::ACTIVATION.into(),
                reason: "only \"Relu\", on a Conv, Gemm or MatMul".into(),
            });
        }
        crate::onnx::ops::check(&onnx_part, "", graph.opset)?;
        nodes.push(node);
    }
    // The same checks as an ONNX file's: a file edited by hand gets no less scrutiny.
    graph.nodes = crate::topo::sort(nodes, &graph)?;
    Ok(graph)
}

fn value_json(v: &ValueInfo) -> Value {
    let shape = v.shape.as_ref().map(|s| {
        s.iter()
            .map(|d| match d {
                Dim::Known(n) => json!(n),
                Dim::Sym(s) => json!(s),
            })
            .collect::<Vec<_>>()
    });
    json!({ "name": v.name, "dtype": v.dtype.name(), "shape": shape })
}

fn value_from(v: &Value) -> Option<ValueInfo> {
    let shape = match &v["shape"] {
        Value::Null => None,
        Value::Array(dims) => Some(
            dims.iter()
                .map(|d| {
                    d.as_u64()
                        .map(Dim::Known)
                        .or_else(|| d.as_str().map(|s| Dim::Sym(s.into())))
                })
                .collect::<Option<Vec<_>>>()?,
        ),
        _ => return None,
    };
    Some(ValueInfo {
        name: v["name"].as_str()?.into(),
        dtype: dtype_by_name(v["dtype"].as_str()?)?,
        shape,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn node_json(n: &Node) -> Value {
    let attrs: serde_json::Map<String, Value> = n
        .attrs
        .iter()
        .map(|(k, a)| {
            let v = match a {
                Attr::Int(i) => json!({ "int": i }),
                Attr::Float(f) => json!({ "float": f }),
                Attr::String(s) => json!({ "string": s }),
                Attr::Ints(v) => json!({ "ints": v }),
                Attr::Floats(v) => json!({ "floats": v }),
                Attr::Strings(v) => json!({ "strings": v }),
                Attr::Tensor(t) => json!({ "tensor": { "dtype": t.dtype.name(), "dims": t.dims, "hex": hex(&t.data) } }),
            };
            (k.clone(), v)
        })
        .collect();
    json!({ "name": n.name, "op": n.op, "inputs": n.inputs, "outputs": n.outputs, "attrs": attrs })
}

fn strings(v: &Value) -> Option<Vec<String>> {
    v.as_array()?
        .iter()
        .map(|s| s.as_str().map(String::from))
        .collect()
}

fn node_from(v: &Value) -> Option<Node> {
    let mut attrs = std::collections::BTreeMap::new();
    for (k, a) in v["attrs"].as_object()? {
        let (kind, x) = a.as_object()?.iter().next()?;
        let attr = match kind.as_str() {
            "int" => Attr::Int(x.as_i64()?),
            "float" => Attr::Float(x.as_f64()? as f32),
            "string" => Attr::String(x.as_str()?.into()),
            "ints" => Attr::Ints(
                x.as_array()?
                    .iter()
                    .map(Value::as_i64)
                    .collect::<Option<_>>()?,
            ),
            "floats" => Attr::Floats(
                x.as_array()?
                    .iter()
                    .map(|f| f.as_f64().map(|f| f as f32))
                    .collect::<Option<_>>()?,
            ),
            "strings" => Attr::Strings(strings(x)?),
            "tensor" => {
                let dtype = dtype_by_name(x["dtype"].as_str()?)?;
                let dims: Vec<u64> = x["dims"]
                    .as_array()?
                    .iter()
                    .map(Value::as_u64)
                    .collect::<Option<_>>()?;
                let data = unhex(x["hex"].as_str()?)?;
                if data.len() as u64 != dims.iter().product::<u64>() * dtype.size() as u64 {
                    return None;
                }
                Attr::Tensor(Tensor {
                    dtype,
                    dims,
                    data: Bytes::from(data),
                })
            }
            _ => return None,
        };
        attrs.insert(k.clone(), attr);
    }
    Some(Node {
        name: v["name"].as_str()?.into(),
        op: v["op"].as_str()?.into(),
        inputs: strings(&v["inputs"])?,
        outputs: strings(&v["outputs"])?,
        attrs,
    })
}
