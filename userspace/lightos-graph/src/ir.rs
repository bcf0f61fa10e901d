//! The graph IR: typed tensors whose shapes may keep symbolic dimensions until bound, initializers
//! whose bytes may be pages of the memory-mapped model file, and nodes in topological order.

use bytes::Bytes;
use serde::Serialize;
use std::collections::BTreeMap;

/// An element type (ONNX `TensorProto.DataType` codes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    /// 32-bit float.
    F32,
    /// 16-bit IEEE float.
    F16,
    /// bfloat16.
    Bf16,
    /// 64-bit float.
    F64,
    /// Signed 8-bit.
    I8,
    /// Unsigned 8-bit.
    U8,
    /// Signed 32-bit.
    I32,
    /// Signed 64-bit.
    I64,
    /// Boolean (one byte).
    Bool,
}

impl DType {
    /// The dtype of ONNX code `code`, if this IR has it.
    pub fn from_onnx(code: i32) -> Option<Self> {
        Some(match code {
            1 => Self::F32,
            2 => Self::U8,
            3 => Self::I8,
            6 => Self::I32,
            7 => Self::I64,
            9 => Self::Bool,
            10 => Self::F16,
            11 => Self::F64,
            16 => Self::Bf16,
            _ => return None,
        })
    }

    /// Its ONNX code.
    pub fn onnx(self) -> i32 {
        match self {
            Self::F32 => 1,
            Self::U8 => 2,
            Self::I8 => 3,
            Self::I32 => 6,
            Self::I64 => 7,
            Self::Bool => 9,
            Self::F16 => 10,
            Self::F64 => 11,
            Self::Bf16 => 16,
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Self::I8 | Self::U8 | Self::Bool => 1,
            Self::F16 | Self::Bf16 => 2,
            Self::F32 | Self::I32 => 4,
            Self::F64 | Self::I64 => 8,
        }
    }

    /// Its lowercase name (`f32`, `i64`, …).
    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::F16 => "f16",
            Self::Bf16 => "bf16",
            Self::F64 => "f64",
            Self::I8 => "i8",
            Self::U8 => "u8",
            Self::I32 => "i32",
            Self::I64 => "i64",
            Self::Bool => "bool",
        }
    }
}

/// One dimension: a number, or a name bound when the graph is run (`batch`, `seq`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(untagged)]
pub enum Dim {
    /// A known size.
    Known(u64),
    /// A symbolic size, kept symbolic until bound.
    Sym(String),
}

impl std::fmt::Display for Dim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Known(n) => write!(f, "{n}"),
            Self::Sym(s) => f.write_str(s),
        }
    }
}

/// A shape; `Dim::Known` everywhere once bound.
pub type Shape = Vec<Dim>;

/// Whether `dims` can bind `shape`: the same rank, each known dimension equal (a symbolic one
/// takes any size).
pub fn fits(shape: &[Dim], dims: &[u64]) -> bool {
    shape.len() == dims.len()
        && shape.iter().zip(dims).all(|(d, &n)| match d {
            Dim::Known(k) => *k == n,
            Dim::Sym(_) => true,
        })
}

/// The known sizes of `shape`, when none is symbolic.
pub fn known(shape: &[Dim]) -> Option<Vec<u64>> {
    shape
        .iter()
        .map(|d| match d {
            Dim::Known(n) => Some(*n),
            Dim::Sym(_) => None,
        })
        .collect()
}

/// `shape` as text: `[1,3,224,224]`, `[batch,768]`.
pub fn shape_text(shape: &[Dim]) -> String {
    let dims: Vec<String> = shape.iter().map(Dim::to_string).collect();
    format!("[{}]", dims.join(","))
}

/// A named, typed value of the graph (an input, an output or an intermediate).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ValueInfo {
    /// Its name.
    pub name: String,
    /// Its element type.
    pub dtype: DType,
    /// Its shape (`None`: not known).
    pub shape: Option<Shape>,
}

/// A tensor with its data: an initializer or a constant. The bytes are little-endian elements in
/// row-major order, and may be pages of the memory-mapped model file.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// Element type.
    pub dtype: DType,
    /// Dimensions.
    pub dims: Vec<u64>,
    /// `elements × dtype.size()` bytes.
    pub data: Bytes,
}

impl Tensor {
    /// Elements.
    pub fn elements(&self) -> u64 {
        self.dims.iter().product()
    }

    /// The values of an integer tensor (`i64` or `i32`) as `i64`s.
    pub fn ints(&self) -> Option<Vec<i64>> {
        match self.dtype {
            DType::I64 => Some(
                self.data
                    .chunks_exact(8)
                    .map(|c| i64::from_le_bytes(c.try_into().unwrap_or_default()))
                    .collect(),
            ),
            DType::I32 => Some(
                self.data
                    .chunks_exact(4)
                    .map(|c| i64::from(i32::from_le_bytes(c.try_into().unwrap_or_default())))
                    .collect(),
            ),
            _ => None,
        }
    }

    /// The values of an `f32` tensor.
    pub fn floats(&self) -> Option<Vec<f32>> {
        (self.dtype == DType::F32).then(|| {
            self.data
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap_or_default()))
                .collect()
        })
    }

    /// An `i64` tensor of `dims` holding `values`.
    pub fn from_ints(dims: Vec<u64>, values: &[i64]) -> Self {
        let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        Self {
            dtype: DType::I64,
            dims,
            data: Bytes::from(data),
        }
    }

    /// An `f32` tensor of `dims` holding `values`.
    pub fn from_floats(dims: Vec<u64>, values: &[f32]) -> Self {
        let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        Self {
            dtype: DType::F32,
            dims,
            data: Bytes::from(data),
        }
    }
}

/// An attribute value.
#[derive(Clone, Debug, PartialEq)]
pub enum Attr {
    /// One integer.
    Int(i64),
    /// One float.
    Float(f32),
    /// A string.
    String(String),
    /// Integers.
    Ints(Vec<i64>),
    /// Floats.
    Floats(Vec<f32>),
    /// Strings.
    Strings(Vec<String>),
    /// A tensor.
    Tensor(Tensor),
}

/// One operation of the graph.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// Its name (unique in the graph; `#index` when the model gave none).
    pub name: String,
    /// Its op type (`Conv`, `MatMul`, …).
    pub op: String,
    /// Its inputs; an empty name is an absent optional input.
    pub inputs: Vec<String>,
    /// Its outputs; an empty name is an unused optional output.
    pub outputs: Vec<String>,
    /// Its attributes by name.
    pub attrs: BTreeMap<String, Attr>,
}

impl Node {
    /// Integer attribute `name`, or `default`.
    pub fn int(&self, name: &str, default: i64) -> i64 {
        match self.attrs.get(name) {
            Some(Attr::Int(v)) => *v,
            _ => default,
        }
    }

    /// Float attribute `name`, or `default`.
    pub fn float(&self, name: &str, default: f32) -> f32 {
        match self.attrs.get(name) {
            Some(Attr::Float(v)) => *v,
            _ => default,
        }
    }

    /// Integer-list attribute `name`, if present.
    pub fn ints(&self, name: &str) -> Option<&[i64]> {
        match self.attrs.get(name) {
            Some(Attr::Ints(v)) => Some(v),
            _ => None,
        }
    }

    /// String attribute `name`, if present.
    pub fn string(&self, name: &str) -> Option<&str> {
        match self.attrs.get(name) {
            Some(Attr::String(v)) => Some(v),
            _ => None,
        }
    }

    /// Input `i`, when present (not absent and not past the end).
    pub fn input(&self, i: usize) -> Option<&str> {
        self.inputs
            .get(i)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }
}

/// A model's graph: nodes in topological order over named values.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    /// The graph's name.
    pub name: String,
    /// The opset of the default ONNX domain it was written against.
    pub opset: i64,
    /// Inputs the caller feeds (initializers excluded).
    pub inputs: Vec<ValueInfo>,
    /// Outputs.
    pub outputs: Vec<ValueInfo>,
    /// Constant tensors by name (weights; constants folded by passes).
    pub initializers: BTreeMap<String, Tensor>,
    /// Nodes, each after the producers of its inputs.
    pub nodes: Vec<Node>,
    /// Types and shapes of values, where known (the model's annotations, then shape inference).
    pub values: BTreeMap<String, ValueInfo>,
}

impl Graph {
    /// The type and shape of value `name`, where known: an input, an output, an initializer or an
    /// annotated or inferred intermediate.
    pub fn value(&self, name: &str) -> Option<ValueInfo> {
        if let Some(t) = self.initializers.get(name) {
            let shape = t.dims.iter().map(|&d| Dim::Known(d)).collect();
            return Some(ValueInfo {
                name: name.into(),
                dtype: t.dtype,
                shape: Some(shape),
            });
        }
        self.values.get(name).cloned()
    }
}
