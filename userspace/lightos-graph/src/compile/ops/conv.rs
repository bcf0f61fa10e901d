//! Convolutions: CONV2D, or (for a device that runs only MATMUL) column copies and matrix products.

use super::{copy, fail, fields, input, pads, pair};
use crate::{
    compile::{layout::View, Builder},
    ir::Node,
    passes, Result,
};
use lightos_runtime::ConvParams;
use lightos_uapi as uapi;

pub(super) fn conv(b: &mut Builder, n: &Node) -> Result<()> {
    let x = b.loc(input(n, 0)?, &n.name)?;
    let w = b.loc(input(n, 1)?, &n.name)?;
    if x.dims.len() != 4 || w.dims.len() != 4 {
        return Err(fail(n, "CONV2D is 2-D (NCHW input, OIHW weights)"));
    }
    let stride = pair(n, "strides", 1);
    let dilation = pair(n, "dilations", 1);
    let u = |v: [i64; 2]| [v[0].max(0) as u64, v[1].max(0) as u64];
    let p = pads(
        n,
        [x.dims[2], x.dims[3]],
        [w.dims[2], w.dims[3]],
        u(stride),
        u(dilation),
    );
    let groups = n.int("group", 1);
    let params = ConvParams {
        stride: fields(n, "stride", stride)?,
        dilation: fields(n, "dilation", dilation)?,
        pads: fields(n, "pad", p)?,
        groups: u16::try_from(groups)
            .ok()
            .filter(|&g| g > 0)
            .ok_or_else(|| fail(n, format!("group {groups}: 1 to 65535")))?,
        relu: passes::fused_relu(n),
    };
    let bias = match n.input(2) {
        Some(name) => Some(b.loc(name, &n.name)?),
        None => None,
    };
    let out = b.arena(&n.outputs[0], n)?;
    if b.options.conv_as_matmul && params.groups == 1 {
        return conv_as_matmul(b, n, (&x, &w, bias.as_ref(), &out), &params);
    }
    let mut operands = vec![x, w];
    operands.extend(bias);
    operands.push(out);
    let [p0, p1, p2] = params.encode();
    b.emit(n, uapi::OP_CONV2D, &operands, [p0, p1, p2, 0])
}

/// A convolution (one group) as a matrix product per image: `w[O, C·KH·KW] · cols[C·KH·KW, OH·OW]`
/// into the output image `[O, OH·OW]`, then the bias (an ADD of `[O, 1]` broadcast along the
/// row) and ReLU, both in place. A 1×1 convolution with stride 1 and no padding reads the image
/// itself as its columns; otherwise `cols` is gathered by one strided COPY per kernel position
/// into a scratch region of this geometry, whose padding positions are never written (zero).
fn conv_as_matmul(
    b: &mut Builder,
    n: &Node,
    (x, w, bias, out): (&View, &View, Option<&View>, &View),
    p: &ConvParams,
) -> Result<()> {
    let [batch, c, h, wd] = [x.dims[0], x.dims[1], x.dims[2], x.dims[3]];
    let [o, _, kh, kw] = [w.dims[0], w.dims[1], w.dims[2], w.dims[3]];
    let [oh, ow] = [out.dims[2], out.dims[3]];
    let [sh, sw] = p.stride.map(u64::from);
    let [dh, dw] = p.dilation.map(u64::from);
    let [pt, pl, ..] = p.pads.map(u64::from);
    let k = c * kh * kw;
    let weights = w.reshaped(&[o, k]);
    let direct = kh == 1 && kw == 1 && sh == 1 && sw == 1 && p.pads == [0; 4];
    let key = format!(
        "im2col {c}x{h}x{wd} k{kh}x{kw} s{sh}x{sw} d{dh}x{dw} p{:?}",
        p.pads
    );
    for img in 0..batch {
        let image = View::dense(x.space, x.offset + img * c * h * wd * 4, &[c, h, wd]);
        let cols = if direct {
            image.reshaped(&[k, oh * ow])
        } else {
            let cols = b.scratch(&key, &[k, oh * ow])?;
            for i in 0..kh {
                for j in 0..kw {
                    // Output rows and columns whose input position is inside the image.
                    let range = |pad: u64, at: u64, stride: u64, size: u64, count: u64| {
                        let first = pad.saturating_sub(at).div_ceil(stride);
                        let last = (size + pad).checked_sub(at + 1).map(|v| v / stride + 1);
                        (first, last.unwrap_or(0).min(count))
                    };
                    let (r0, r1) = range(pt, i * dh, sh, h, oh);
                    let (c0, c1) = range(pl, j * dw, sw, wd, ow);
                    if r0 >= r1 || c0 >= c1 {
                        continue;
                    }
                    let (y0, x0) = (r0 * sh + i * dh - pt, c0 * sw + j * dw - pl);
                    let src = View {
                        space: image.space,
                        offset: image.offset + (y0 * wd + x0) * 4,
                        dims: vec![c, r1 - r0, c1 - c0],
                        strides: vec![h * wd, sh * wd, sw],
                    };
                    let dst = View {
                        space: cols.space,
                        offset: cols.offset + (((i * kw + j) * oh + r0) * ow + c0) * 4,
                        dims: vec![c, r1 - r0, c1 - c0],
                        strides: vec![kh * kw * oh * ow, ow, 1],
                    };
                    copy(b, n, &src, &dst)?;
                }
            }
            cols
        };
        let y = View::dense(out.space, out.offset + img * o * oh * ow * 4, &[o, oh * ow]);
        b.emit(
            n,
            uapi::OP_MATMUL,
            &[weights.clone(), cols, y.clone()],
            [0; 4],
        )?;
        if let Some(bias) = bias {
            let per_row = View {
                space: bias.space,
                offset: bias.offset,
                dims: vec![o, oh * ow],
                strides: vec![1, 0],
            };
            b.emit(n, uapi::OP_ADD, &[y.clone(), per_row, y.clone()], [0; 4])?;
        }
        if p.relu {
            let flat = y.reshaped(&[o * oh * ow]);
            b.emit(n, uapi::OP_RELU, &[flat.clone(), flat], [0; 4])?;
        }
    }
    Ok(())
}
