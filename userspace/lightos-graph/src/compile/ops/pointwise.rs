//! Element-wise ops: `Relu`, ABI 1.13's unary functions, and the binary ones (`Add`, `Mul`,
//! `Sum` and 1.13's `Sub`, `Div`, `Max`, `Min`, `Pow`) with numpy broadcasting as stride-0 views.

use super::{fail, input};
use crate::{
    compile::{layout, layout::View, Builder},
    ir::Node,
    Result,
};
use lightos_uapi as uapi;

/// `Relu` over the flat elements.
pub(super) fn relu(b: &mut Builder, n: &Node) -> Result<()> {
    flat(b, n, uapi::OP_RELU, 0)
}

/// An element-wise function of one input: `OP_UNARY` (ABI 1.13) over the flat elements.
pub(super) fn unary(b: &mut Builder, n: &Node) -> Result<()> {
    let f = match n.op.as_str() {
        "Exp" => uapi::UNARY_EXP,
        "Tanh" => uapi::UNARY_TANH,
        "Sigmoid" => uapi::UNARY_SIGMOID,
        "Sqrt" => uapi::UNARY_SQRT,
        "Erf" => uapi::UNARY_ERF,
        "Reciprocal" => uapi::UNARY_RECIPROCAL,
        "Neg" => uapi::UNARY_NEG,
        other => return Err(fail(n, format!("{other} is not a unary function"))),
    };
    flat(b, n, uapi::OP_UNARY, f)
}

/// One-input element-wise `op` (`params[0]` = `param`) over the input's elements as one row.
fn flat(b: &mut Builder, n: &Node, op: u16, param: u64) -> Result<()> {
    let x = b.loc(input(n, 0)?, &n.name)?;
    let out = b.arena(&n.outputs[0], n)?;
    let flat = [x.elements()];
    b.emit(
        n,
        op,
        &[x.reshaped(&flat), out.reshaped(&flat)],
        [param, 0, 0, 0],
    )
}

/// The ABI op and `params[0]` of a binary ONNX op.
fn binary_op(n: &Node) -> Result<(u16, u64)> {
    Ok(match n.op.as_str() {
        "Add" | "Sum" => (uapi::OP_ADD, 0),
        "Mul" => (uapi::OP_MUL, 0),
        "Sub" => (uapi::OP_BINARY, uapi::BINARY_SUB),
        "Div" => (uapi::OP_BINARY, uapi::BINARY_DIV),
        "Max" => (uapi::OP_BINARY, uapi::BINARY_MAX),
        "Min" => (uapi::OP_BINARY, uapi::BINARY_MIN),
        "Pow" => (uapi::OP_BINARY, uapi::BINARY_POW),
        other => return Err(fail(n, format!("{other} is not a binary function"))),
    })
}

/// A binary op, numpy broadcasting as stride-0 views; the variadic ones (`Sum`, `Max`, `Min`) of
/// more than two inputs fold into their output in place.
pub(super) fn binary(b: &mut Builder, n: &Node) -> Result<()> {
    let (op, f) = binary_op(n)?;
    let names: Vec<String> = n.inputs.iter().filter(|s| !s.is_empty()).cloned().collect();
    let variadic = matches!(n.op.as_str(), "Sum" | "Max" | "Min");
    if names.len() < 2 || (!variadic && names.len() != 2) {
        return Err(fail(
            n,
            format!("{} inputs: {} takes two", names.len(), n.op),
        ));
    }
    let out = b.arena(&n.outputs[0], n)?;
    let mut acc: Option<View> = None;
    for (i, name) in names.iter().enumerate().skip(1) {
        let lhs = match acc.take() {
            Some(v) => v,
            None => b.loc(&names[0], &n.name)?,
        };
        let rhs = b.loc(name, &n.name)?;
        let bcast = |v: &View| {
            v.broadcast_to(&out.dims).ok_or_else(|| {
                fail(
                    n,
                    format!(
                        "input {i}: {:?} does not broadcast to {:?}",
                        v.dims, out.dims
                    ),
                )
            })
        };
        let views = layout::coalesce(&[bcast(&lhs)?, bcast(&rhs)?, out.clone()]);
        b.emit(n, op, &views, [f, 0, 0, 0])?;
        acc = Some(out.clone());
    }
    Ok(())
}
