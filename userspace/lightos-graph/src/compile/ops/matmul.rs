//! Matrix products: `Gemm` and `MatMul` as MATMULs, with their epilogue or without it, split by
//! columns when the weights exceed a weight space.

use super::{fail, input};
use crate::{
    compile::{dims_of, layout, layout::View, Builder, WEIGHT_SPACE},
    ir::Node,
    passes, Result,
};
use lightos_uapi as uapi;

/// `Gemm` and `MatMul` as MATMUL (2-D, or batched 3-D), with the bias and ReLU epilogue; a weight
/// matrix larger than a weight space is split by columns into several MATMULs.
pub(super) fn matmul(b: &mut Builder, n: &Node) -> Result<()> {
    let gemm = n.op == "Gemm";
    let (a_name, b_name) = (input(n, 0)?.to_string(), input(n, 1)?.to_string());
    let a = b.loc(&a_name, &n.name)?;
    let out_name = n.outputs[0].clone();
    let out = b.arena(&out_name, n)?;
    let relu = passes::fused_relu(n);
    let b_dims = dims_of(b.graph, &b_name, &n.name)?;
    if gemm {
        if n.float("alpha", 1.0) != 1.0 {
            return Err(fail(n, "MATMUL has no alpha"));
        }
        let a = if n.int("transA", 0) != 0 {
            a.permuted(&[1, 0])
        } else {
            a
        };
        let trans_b = n.int("transB", 0) != 0;
        let (m, k, nn) = (out.dims[0], a.dims[1], out.dims[1]);
        let bias = match n.input(2) {
            None => None,
            Some(c) => {
                let c = b.loc(c, &n.name)?;
                if n.float("beta", 1.0) != 1.0 || c.elements() != nn || c.dims.last() != Some(&nn) {
                    return Err(fail(
                        n,
                        "MATMUL's bias is one value per output column (beta 1)",
                    ));
                }
                Some(c.reshaped(&[nn]))
            }
        };
        let bytes = k * nn * 4;
        let constant =
            b.graph.initializers.contains_key(&b_name) || b.pending.contains_key(&b_name);
        if bytes > WEIGHT_SPACE && constant && !b.locs.contains_key(&b_name) {
            return split_columns(b, n, (&a, &b_name, trans_b), &out, bias, relu, (m, k, nn));
        }
        let bw = if trans_b && constant && b.options.plain_matmul {
            // A device MATMUL reads its weights contiguous: transpose the constant once.
            let bytes = b.constant_bytes(&b_name, &n.name)?;
            let mut t = vec![0u8; bytes.len()];
            for (r, row) in bytes.chunks_exact(k as usize * 4).enumerate() {
                for (c, v) in row.chunks_exact(4).enumerate() {
                    let at = (c * nn as usize + r) * 4;
                    t[at..at + 4].copy_from_slice(v);
                }
            }
            b.place(&format!("{b_name}ᵀ"), &[k, nn], &t)?
        } else {
            let bw = b.loc(&b_name, &n.name)?;
            if trans_b {
                bw.permuted(&[1, 0])
            } else {
                bw
            }
        };
        return emit_matmul(b, n, [a, bw, out], bias, relu);
    }
    let ad = a.dims.clone();
    let (ra, rb) = (ad.len(), b_dims.len());
    if ra < 2 || rb < 2 {
        return Err(fail(n, "MATMUL of a vector (1-D operand)"));
    }
    let (m, k, nn) = (ad[ra - 2], ad[ra - 1], b_dims[rb - 1]);
    if rb == 2 {
        let rows = ad[..ra - 1].iter().product::<u64>();
        let bytes = k * nn * 4;
        let constant =
            b.graph.initializers.contains_key(&b_name) || b.pending.contains_key(&b_name);
        let a2 = a.reshaped(&[rows, k]);
        let out2 = out.reshaped(&[rows, nn]);
        if bytes > WEIGHT_SPACE && constant && !b.locs.contains_key(&b_name) {
            return split_columns(
                b,
                n,
                (&a2, &b_name, false),
                &out2,
                None,
                relu,
                (rows, k, nn),
            );
        }
        let bw = b.loc(&b_name, &n.name)?;
        return emit_matmul(b, n, [a2, bw, out2], None, relu);
    }
    if ra == rb && ad[..ra - 2] == b_dims[..rb - 2] {
        let batch = ad[..ra - 2].iter().product::<u64>();
        let bw = b.loc(&b_name, &n.name)?;
        let operands = [
            a.reshaped(&[batch, m, k]),
            bw.reshaped(&[batch, k, nn]),
            out.reshaped(&[batch, m, nn]),
        ];
        return emit_matmul(b, n, operands, None, relu);
    }
    Err(fail(
        n,
        "MATMUL broadcasts only a 2-D right operand (or equal batch dimensions)",
    ))
}

/// A MATMUL `a · w → out` followed by its bias (one per column) and ReLU: as the MATMUL's epilogue
/// (ABI 1.11), or, for a device whose MATMUL has none (`Options::plain_matmul`), as an ADD of the
/// bias broadcast along the rows and a RELU, both in place.
fn emit_matmul(
    b: &mut Builder,
    n: &Node,
    [a, w, out]: [View; 3],
    bias: Option<View>,
    relu: bool,
) -> Result<()> {
    if !b.options.plain_matmul {
        let mut ops = vec![a, w];
        ops.extend(bias);
        ops.push(out);
        let epilogue = if relu { uapi::MATMUL_EPILOGUE_RELU } else { 0 };
        return b.emit(n, uapi::OP_MATMUL, &ops, [0, 0, epilogue, 0]);
    }
    b.emit(n, uapi::OP_MATMUL, &[a, w, out.clone()], [0; 4])?;
    if let Some(bias) = bias {
        let rows = bias
            .broadcast_to(&out.dims)
            .ok_or_else(|| fail(n, "a bias that is not one value per column"))?;
        let v = layout::coalesce(&[out.clone(), rows, out.clone()]);
        b.emit(n, uapi::OP_ADD, &v, [0; 4])?;
    }
    if relu {
        let v = layout::coalesce(&[out.clone(), out]);
        b.emit(n, uapi::OP_RELU, &v, [0; 4])?;
    }
    Ok(())
}

/// MATMULs over blocks of B's columns, each block a weight of its own and each writing its
/// columns of the output (a strided view).
#[allow(clippy::too_many_arguments)]
fn split_columns(
    b: &mut Builder,
    n: &Node,
    (a, b_name, trans_b): (&View, &str, bool),
    out: &View,
    bias: Option<View>,
    relu: bool,
    (m, k, nn): (u64, u64, u64),
) -> Result<()> {
    let bytes = b.constant_bytes(b_name, &n.name)?;
    let per = (WEIGHT_SPACE / (k * 4)).clamp(1, nn);
    let mut n0 = 0;
    while n0 < nn {
        let cols = per.min(nn - n0);
        // B is [k, nn] (or [nn, k] transposed): gather the block as [k, cols].
        let mut block = Vec::with_capacity((k * cols * 4) as usize);
        for r in 0..k {
            for c in n0..n0 + cols {
                let at = if trans_b { c * k + r } else { r * nn + c } as usize * 4;
                block.extend_from_slice(&bytes[at..at + 4]);
            }
        }
        let w = b.place(
            &format!("{b_name}[:, {n0}..{}]", n0 + cols),
            &[k, cols],
            &block,
        )?;
        let o = View {
            space: out.space,
            offset: out.offset + n0 * 4,
            dims: vec![m, cols],
            strides: vec![nn, 1],
        };
        let part = bias
            .as_ref()
            .map(|bias| View::dense(bias.space, bias.offset + n0 * 4, &[cols]));
        emit_matmul(b, n, [a.clone(), w, o], part, relu)?;
        n0 += cols;
    }
    Ok(())
}
