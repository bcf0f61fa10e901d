//! 2-D convolution (NCHW input, OIHW weights) with stride, dilation, asymmetric zero padding and
//! groups, on the GEMM's kernels without an im2col buffer: the GEMM packs its B operand straight
//! from the input ([`Im2col`], an implicit im2col matrix), and a 1×1 convolution with stride 1
//! and no padding multiplies the input in place. Depthwise convolution (one input channel per
//! group) runs as direct loops instead: a GEMM of one row per channel would waste its tile.

use crate::gemm::pack::Operand;
use crate::gemm::{check_shapes, Gemm, PackedA};
use crate::matrix::MatRef;
use crate::{CpuError, Result};
use rayon::prelude::*;

/// A convolution's shapes and parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2d {
    /// Batch, channels, height, width of the input.
    pub input: [usize; 4],
    /// Output channels, channels per group, kernel height, kernel width.
    pub weights: [usize; 4],
    /// Vertical and horizontal stride (≥ 1).
    pub stride: [usize; 2],
    /// Vertical and horizontal dilation (≥ 1).
    pub dilation: [usize; 2],
    /// Zero padding: top, left, bottom, right (ONNX's order is top, left, bottom, right too).
    pub pads: [usize; 4],
    /// Groups (≥ 1): channels and output channels both divide into this many.
    pub groups: usize,
}

impl Conv2d {
    /// A plain convolution: one group, dilation 1, the same padding on every side.
    pub fn new(input: [usize; 4], weights: [usize; 4], stride: usize, pad: usize) -> Conv2d {
        Conv2d {
            input,
            weights,
            stride: [stride; 2],
            dilation: [1; 2],
            pads: [pad; 4],
            groups: 1,
        }
    }

    /// Output height and width, or why the parameters are inconsistent.
    pub fn out_hw(&self) -> Result<(usize, usize)> {
        let [_, c, h, w] = self.input;
        let [o, cg, kh, kw] = self.weights;
        let [sh, sw] = self.stride;
        let [dh, dw] = self.dilation;
        let [pt, pl, pb, pr] = self.pads;
        if sh == 0 || sw == 0 || dh == 0 || dw == 0 || self.groups == 0 {
            return Err(CpuError::Shape(
                "stride, dilation and groups must be at least 1",
            ));
        }
        if cg.checked_mul(self.groups) != Some(c) || o % self.groups != 0 {
            return Err(CpuError::Shape(
                "channels must be groups × the weights' channels, output channels a multiple of groups",
            ));
        }
        let overflow = || CpuError::Shape("convolution sizes overflow");
        let span = |k: usize, d: usize| k.saturating_sub(1).checked_mul(d)?.checked_add(1);
        let padded = |x: usize, a: usize, b: usize| x.checked_add(a)?.checked_add(b);
        let (eh, ew) = (
            padded(h, pt, pb).ok_or_else(overflow)?,
            padded(w, pl, pr).ok_or_else(overflow)?,
        );
        let (kh_span, kw_span) = (
            span(kh, dh).ok_or_else(overflow)?,
            span(kw, dw).ok_or_else(overflow)?,
        );
        if kh == 0 || kw == 0 || kh_span > eh || kw_span > ew {
            return Err(CpuError::Shape(
                "the (dilated) kernel is larger than the padded input",
            ));
        }
        Ok(((eh - kh_span) / sh + 1, (ew - kw_span) / sw + 1))
    }

    fn depthwise(&self) -> bool {
        self.weights[1] == 1 && self.groups > 1
    }

    fn pointwise(&self) -> bool {
        self.weights[2..] == [1, 1] && self.stride == [1, 1] && self.pads == [0; 4]
    }
}

/// `out[N, O, OH, OW]` = the convolution of `x` with `w`, plus `bias[O]` if given.
pub fn conv2d(
    g: &Gemm,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    s: &Conv2d,
) -> Result<Vec<f32>> {
    run(g, x, Filter::Raw(w), bias, s)
}

/// [`conv2d`] written into `out` (exactly `N·O·OH·OW` elements, every one overwritten), the bias
/// added and, when `relu`, negatives clamped to zero in the same pass: no output allocation and
/// no copy after it (the same values, bit for bit, as [`conv2d`] followed by a ReLU).
pub fn conv2d_into(
    g: &Gemm,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    s: &Conv2d,
    relu: bool,
    out: &mut [f32],
) -> Result<()> {
    run_into(g, x, Filter::Raw(w), bias, s, relu, out)
}

/// The product of `dims`, or `None` where it overflows.
fn product(dims: &[usize]) -> Option<usize> {
    dims.iter().try_fold(1usize, |p, &d| p.checked_mul(d))
}

/// A convolution's weights packed once for one engine (per group, in its f32 kernel's layout), as
/// onnxruntime packs a filter when a session is created; [`conv2d_packed`] then skips the pass over
/// the weights that [`conv2d`] makes on every call.
#[derive(Clone, Debug)]
pub struct PackedFilter {
    shape: Conv2d,
    weights: PackedWeights,
}

/// A filter's weights as its convolution uses them.
#[derive(Clone, Debug)]
enum PackedWeights {
    /// One packed A per group.
    Groups(Vec<PackedA>),
    /// A depthwise convolution's (direct loops: nothing to pack).
    Depthwise(Vec<f32>),
}

impl PackedFilter {
    /// Packs `w` (OIHW) for convolutions of shape `s` on `g`.
    pub fn new(g: &Gemm, w: &[f32], s: &Conv2d) -> Result<PackedFilter> {
        s.out_hw()?;
        let [o, cg, kh, kw] = s.weights;
        let ckk = cg * kh * kw;
        let w = product(&[o, ckk])
            .and_then(|len| w.get(..len))
            .ok_or(CpuError::Operand(
                "convolution weights shorter than their shape",
            ))?;
        let og = o / s.groups;
        let weights = if s.depthwise() {
            PackedWeights::Depthwise(w.to_vec())
        } else {
            PackedWeights::Groups(
                w.chunks(og * ckk)
                    .map(|wg| MatRef::row_major(wg, og, ckk).map(|a| g.pack_a(a)))
                    .collect::<Result<_>>()?,
            )
        };
        Ok(PackedFilter { shape: *s, weights })
    }

    /// The convolution it was packed for.
    pub fn shape(&self) -> &Conv2d {
        &self.shape
    }
}

/// [`conv2d`] with weights packed by [`PackedFilter::new`] (on an engine with the same kernel).
pub fn conv2d_packed(
    g: &Gemm,
    x: &[f32],
    f: &PackedFilter,
    bias: Option<&[f32]>,
) -> Result<Vec<f32>> {
    run(g, x, Filter::Packed(f), bias, &f.shape)
}

/// [`conv2d_into`] with weights packed by [`PackedFilter::new`].
pub fn conv2d_packed_into(
    g: &Gemm,
    x: &[f32],
    f: &PackedFilter,
    bias: Option<&[f32]>,
    relu: bool,
    out: &mut [f32],
) -> Result<()> {
    run_into(g, x, Filter::Packed(f), bias, &f.shape, relu, out)
}

/// The weights a convolution multiplies by.
#[derive(Clone, Copy)]
enum Filter<'a> {
    Raw(&'a [f32]),
    Packed(&'a PackedFilter),
}

fn run(g: &Gemm, x: &[f32], w: Filter, bias: Option<&[f32]>, s: &Conv2d) -> Result<Vec<f32>> {
    let (oh, ow) = s.out_hw()?;
    let [n, _, _, _] = s.input;
    let len = product(&[n, s.weights[0], oh, ow])
        .ok_or(CpuError::Shape("convolution output overflows"))?;
    let mut out = vec![0f32; len];
    run_into(g, x, w, bias, s, false, &mut out)?;
    Ok(out)
}

/// The convolution into `out`, which must hold exactly the output's elements.
fn run_into(
    g: &Gemm,
    x: &[f32],
    w: Filter,
    bias: Option<&[f32]>,
    s: &Conv2d,
    relu: bool,
    out: &mut [f32],
) -> Result<()> {
    let (oh, ow) = s.out_hw()?;
    let [n, c, h, wd] = s.input;
    let [o, cg, kh, kw] = s.weights;
    if product(&[n, c, h, wd]).is_none_or(|need| x.len() < need)
        || bias.is_some_and(|b| b.len() < o)
    {
        return Err(CpuError::Operand(
            "convolution operand shorter than its shape",
        ));
    }
    if let Filter::Raw(w) = w {
        if product(&[o, cg, kh, kw]).is_none_or(|need| w.len() < need) {
            return Err(CpuError::Operand(
                "convolution weights shorter than their shape",
            ));
        }
    }
    let plane = oh * ow;
    if product(&[n, o, plane]) != Some(out.len()) {
        return Err(CpuError::Operand(
            "convolution output not the size of its shape",
        ));
    }
    if s.depthwise() {
        let w = match w {
            Filter::Raw(w) => w,
            Filter::Packed(f) => match &f.weights {
                PackedWeights::Depthwise(w) => w,
                PackedWeights::Groups(_) => unreachable!("a depthwise filter keeps its weights"),
            },
        };
        // The direct loops add into the output.
        out.fill(0.0);
        depthwise(g, x, w, s, (oh, ow), out);
    } else {
        let (og, ckk) = (o / s.groups, cg * kh * kw);
        // Per im2col row: the channel's offset and the tap's vertical and horizontal offsets.
        let taps: Vec<(usize, usize, usize)> = (0..ckk)
            .map(|r| {
                let (ch, ky, kx) = (r / (kh * kw), (r / kw) % kh, r % kw);
                (ch * h * wd, ky * s.dilation[0], kx * s.dilation[1])
            })
            .collect();
        for img in 0..n {
            for gi in 0..s.groups {
                let ch0 = (img * c + gi * cg) * h * wd;
                let c_out =
                    &mut out[(img * o + gi * og) * plane..(img * o + (gi + 1) * og) * plane];
                let shape = check_shapes(og, ckk, ckk, plane, c_out.len(), plane)?;
                let xg = &x[ch0..ch0 + cg * h * wd];
                if s.pointwise() {
                    let b = MatRef::row_major(xg, cg, h * wd)?;
                    multiply(g, w, gi, shape, &b, c_out)?;
                } else {
                    let b = Im2col {
                        x: xg,
                        s,
                        hw: (h, wd),
                        out_hw: (oh, ow),
                        taps: &taps,
                    };
                    multiply(g, w, gi, shape, &b, c_out)?;
                }
            }
        }
    }
    if bias.is_some() || relu {
        // Output plane i is channel i mod O: its bias, then the ReLU (the order of separate passes).
        let epilogue = |(i, plane_out): (usize, &mut [f32])| {
            let v = bias.map(|b| b[i % o]);
            match (v, relu) {
                (Some(v), true) => plane_out.iter_mut().for_each(|x| *x = (*x + v).max(0.0)),
                (Some(v), false) => plane_out.iter_mut().for_each(|x| *x += v),
                (None, _) => plane_out.iter_mut().for_each(|x| *x = x.max(0.0)),
            }
        };
        if out.len() >= EPILOGUE_PARALLEL_MIN {
            g.install(|| out.par_chunks_mut(plane).enumerate().for_each(epilogue));
        } else {
            out.chunks_mut(plane).enumerate().for_each(epilogue);
        }
    }
    Ok(())
}

/// Outputs with at least this many elements get their bias and ReLU on the pool's threads.
const EPILOGUE_PARALLEL_MIN: usize = 1 << 16;

/// Group `gi`'s weights times `b` into `c` (row stride: the output plane).
fn multiply<OB: Operand>(
    g: &Gemm,
    w: Filter,
    gi: usize,
    shape: (usize, usize, usize),
    b: &OB,
    c: &mut [f32],
) -> Result<()> {
    let (og, ckk, plane) = shape;
    match w {
        Filter::Raw(w) => {
            let a = MatRef::row_major(&w[gi * og * ckk..(gi + 1) * og * ckk], og, ckk)?;
            g.run_operands(shape, &a, b, c, plane);
            Ok(())
        }
        Filter::Packed(f) => match &f.weights {
            PackedWeights::Groups(p) => g.run_packed_operand(&p[gi], shape, b, c, plane),
            PackedWeights::Depthwise(_) => unreachable!("only depthwise filters keep raw weights"),
        },
    }
}

/// The implicit im2col matrix of one image and one group: row `r` is (channel, ky, kx), column
/// `j` an output position (oy, ox); the value the input pixel under that tap, or 0 in the padding.
struct Im2col<'a> {
    /// The group's channels of one image.
    x: &'a [f32],
    s: &'a Conv2d,
    hw: (usize, usize),
    out_hw: (usize, usize),
    /// Row `r`'s channel offset in `x` and its tap's dilated offsets (dy, dx).
    taps: &'a [(usize, usize, usize)],
}

impl Operand for Im2col<'_> {
    type Elem = f32;

    fn at(&self, r: usize, j: usize) -> f32 {
        let mut v = [0f32];
        self.fill_row(r, j, &mut v);
        v[0]
    }

    /// Walks the output positions `j..` in order: within an output row the input column moves by
    /// the stride, so a run inside the input is a strided (for stride 1, contiguous) copy.
    fn fill_row(&self, r: usize, j: usize, out: &mut [f32]) {
        let (h, w) = self.hw;
        let (_, ow) = self.out_hw;
        let [sh, sw] = self.s.stride;
        let [pt, pl, _, _] = self.s.pads;
        let (base, dy, dx) = self.taps[r];
        let (mut oy, mut ox) = (j / ow, j % ow);
        let mut done = 0;
        while done < out.len() {
            let run = (ow - ox).min(out.len() - done);
            let dst = &mut out[done..done + run];
            let iy = (oy * sh + dy).wrapping_sub(pt);
            if iy >= h {
                dst.fill(0.0);
            } else {
                let row = &self.x[base + iy * w..base + (iy + 1) * w];
                if sw == 1 {
                    // Input columns ox + t + dx - pl: a copy between two runs of padding.
                    let shift = ox + dx;
                    let lo = pl.saturating_sub(shift).min(run);
                    let hi = (w + pl).saturating_sub(shift).clamp(lo, run);
                    dst[..lo].fill(0.0);
                    if hi > lo {
                        dst[lo..hi].copy_from_slice(&row[lo + shift - pl..hi + shift - pl]);
                    }
                    dst[hi..].fill(0.0);
                } else {
                    for (t, d) in dst.iter_mut().enumerate() {
                        let ix = ((ox + t) * sw + dx).wrapping_sub(pl);
                        *d = if ix < w { row[ix] } else { 0.0 };
                    }
                }
            }
            done += run;
            (oy, ox) = (oy + 1, 0);
        }
    }
}

/// One input channel per group: each output plane from its own channel, taps in a fixed order
/// (multiply, then add: the same bits on every ISA and thread count).
fn depthwise(
    g: &Gemm,
    x: &[f32],
    w: &[f32],
    s: &Conv2d,
    (oh, ow): (usize, usize),
    out: &mut [f32],
) {
    let [_, c, h, wd] = s.input;
    let [o, _, kh, kw] = s.weights;
    let per = o / s.groups; // output channels per input channel
    let [sh, sw] = s.stride;
    let [dh, dw] = s.dilation;
    let [pt, pl, _, _] = s.pads;
    let plane_of = |(idx, plane): (usize, &mut [f32])| {
        let (img, oc) = (idx / o, idx % o);
        let ch = oc / per;
        let xin = &x[(img * c + ch) * h * wd..(img * c + ch + 1) * h * wd];
        let taps = &w[oc * kh * kw..(oc + 1) * kh * kw];
        for oy in 0..oh {
            let orow = &mut plane[oy * ow..(oy + 1) * ow];
            for ky in 0..kh {
                let iy = (oy * sh + ky * dh).wrapping_sub(pt);
                if iy >= h {
                    continue;
                }
                let irow = &xin[iy * wd..(iy + 1) * wd];
                for kx in 0..kw {
                    let wv = taps[ky * kw + kx];
                    // Output columns whose input column lies inside the row.
                    let first = (pl.saturating_sub(kx * dw)).div_ceil(sw);
                    let last = (wd + pl).saturating_sub(kx * dw).div_ceil(sw).min(ow);
                    if last <= first {
                        continue; // this tap sees only padding on this row
                    }
                    if sw == 1 {
                        let ix0 = first + kx * dw - pl;
                        let n = last.saturating_sub(first);
                        orow[first..first + n]
                            .iter_mut()
                            .zip(&irow[ix0..ix0 + n])
                            .for_each(|(d, &v)| *d += wv * v);
                    } else {
                        for (ox, d) in orow.iter_mut().enumerate().take(last).skip(first) {
                            *d += wv * irow[ox * sw + kx * dw - pl];
                        }
                    }
                }
            }
        }
    };
    g.install(|| out.par_chunks_mut(oh * ow).enumerate().for_each(plane_of));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gemm::{IsaLevel, Kernels};
    use crate::test_util::rand_f32;

    /// The definition, in f64.
    fn reference(x: &[f32], w: &[f32], b: &[f32], s: &Conv2d) -> Vec<f64> {
        let (oh, ow) = s.out_hw().unwrap();
        let [n, c, h, wd] = s.input;
        let [o, cg, kh, kw] = s.weights;
        let og = o / s.groups;
        let mut out = vec![0f64; n * o * oh * ow];
        for img in 0..n {
            for oc in 0..o {
                let gi = oc / og;
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut acc = b[oc] as f64;
                        for ci in 0..cg {
                            let ch = gi * cg + ci;
                            for ky in 0..kh {
                                for kx in 0..kw {
                                    let iy = (oy * s.stride[0] + ky * s.dilation[0]) as isize
                                        - s.pads[0] as isize;
                                    let ix = (ox * s.stride[1] + kx * s.dilation[1]) as isize
                                        - s.pads[1] as isize;
                                    if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < wd
                                    {
                                        acc += x
                                            [((img * c + ch) * h + iy as usize) * wd + ix as usize]
                                            as f64
                                            * w[((oc * cg + ci) * kh + ky) * kw + kx] as f64;
                                    }
                                }
                            }
                        }
                        out[((img * o + oc) * oh + oy) * ow + ox] = acc;
                    }
                }
            }
        }
        out
    }

    fn case(name: &str, s: Conv2d) -> Conv2d {
        s.out_hw().unwrap_or_else(|e| panic!("{name}: {e}"));
        s
    }

    #[test]
    fn every_kind_matches_the_definition_on_every_isa() {
        let cases = [
            (
                "stride 2, pad 1",
                Conv2d::new([2, 3, 7, 6], [4, 3, 3, 2], 2, 1),
            ),
            ("pointwise", Conv2d::new([1, 17, 5, 7], [9, 17, 1, 1], 1, 0)),
            (
                "pointwise, stride 2",
                Conv2d::new([1, 8, 9, 9], [5, 8, 1, 1], 2, 0),
            ),
            (
                "dilation 2, asymmetric pads",
                Conv2d {
                    dilation: [2, 3],
                    pads: [0, 2, 3, 1],
                    ..Conv2d::new([1, 3, 11, 12], [5, 3, 3, 3], 1, 0)
                },
            ),
            (
                "groups 3, stride (2, 1)",
                Conv2d {
                    groups: 3,
                    stride: [2, 1],
                    ..Conv2d::new([2, 6, 9, 8], [9, 2, 3, 3], 1, 1)
                },
            ),
            (
                "depthwise 3x3, pad 1",
                Conv2d {
                    groups: 8,
                    ..Conv2d::new([2, 8, 10, 9], [8, 1, 3, 3], 1, 1)
                },
            ),
            (
                "depthwise multiplier 2, stride 2, dilation 2, asymmetric pads",
                Conv2d {
                    groups: 4,
                    stride: [2, 2],
                    dilation: [2, 2],
                    pads: [1, 2, 0, 3],
                    ..Conv2d::new([1, 4, 13, 11], [8, 1, 3, 3], 1, 0)
                },
            ),
            (
                "kernel as large as the input",
                Conv2d::new([1, 2, 4, 5], [3, 2, 4, 5], 1, 0),
            ),
            (
                "depthwise, taps that see only padding (right)",
                Conv2d {
                    groups: 2,
                    dilation: [1, 2],
                    pads: [0, 0, 0, 5],
                    ..Conv2d::new([1, 2, 3, 1], [2, 1, 1, 3], 1, 0)
                },
            ),
            (
                "depthwise, taps that see only padding (left)",
                Conv2d {
                    groups: 2,
                    dilation: [1, 5],
                    pads: [0, 10, 0, 0],
                    ..Conv2d::new([1, 2, 3, 1], [2, 1, 1, 3], 1, 0)
                },
            ),
        ];
        for level in IsaLevel::ALL {
            let Ok(k) = Kernels::exactly(level) else {
                eprintln!(
                    "skipped: the {level} kernels: {}",
                    level.available().unwrap_err()
                );
                continue;
            };
            for threads in [1, 2] {
                let g = Gemm::with(
                    threads,
                    crate::cache::Blocking::for_caches(crate::cache::CacheSizes::detect()),
                    k,
                )
                .unwrap();
                for (name, s) in cases {
                    let s = case(name, s);
                    let [n, c, h, wd] = s.input;
                    let [o, cg, kh, kw] = s.weights;
                    let x = rand_f32(n * c * h * wd, 1);
                    let w = rand_f32(o * cg * kh * kw, 2);
                    let b = rand_f32(o, 3);
                    let got = conv2d(&g, &x, &w, Some(&b), &s).unwrap();
                    let filter = PackedFilter::new(&g, &w, &s).unwrap();
                    let packed = conv2d_packed(&g, &x, &filter, Some(&b)).unwrap();
                    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    assert_eq!(
                        bits(&got),
                        bits(&packed),
                        "{name}: packed filter, same bits"
                    );
                    // Written in place over stale values: every element overwritten, the bias
                    // and ReLU in one pass giving the bits of the separate passes.
                    for relu in [false, true] {
                        let mut into = vec![f32::NAN; got.len()];
                        conv2d_into(&g, &x, &w, Some(&b), &s, relu, &mut into).unwrap();
                        let want: Vec<f32> = if relu {
                            got.iter().map(|v| v.max(0.0)).collect()
                        } else {
                            got.clone()
                        };
                        assert_eq!(bits(&into), bits(&want), "{name}: in place, relu {relu}");
                        into.fill(f32::NAN);
                        conv2d_packed_into(&g, &x, &filter, Some(&b), relu, &mut into).unwrap();
                        assert_eq!(bits(&into), bits(&want), "{name}: packed, in place");
                    }
                    let want = reference(&x, &w, &b, &s);
                    assert_eq!(got.len(), want.len(), "{name}");
                    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                        assert!(
                            (*g as f64 - w).abs() < 1e-4,
                            "{name} {level} at {i}: {g} vs {w}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn inconsistent_parameters_are_refused() {
        let ok = Conv2d::new([1, 4, 5, 5], [2, 4, 3, 3], 1, 0);
        assert_eq!(ok.out_hw().unwrap(), (3, 3));
        let g = Gemm::new(1).unwrap();
        let (x, w) = (vec![0f32; 100], vec![0f32; 72]);
        for len in [17, 19] {
            assert!(
                conv2d_into(&g, &x, &w, None, &ok, false, &mut vec![0f32; len]).is_err(),
                "an output of {len} elements for 18"
            );
        }
        conv2d_into(&g, &x, &w, None, &ok, true, &mut [0f32; 18]).unwrap();
        for (why, s) in [
            (
                "stride 0",
                Conv2d {
                    stride: [0, 1],
                    ..ok
                },
            ),
            (
                "dilation 0",
                Conv2d {
                    dilation: [1, 0],
                    ..ok
                },
            ),
            ("groups 0", Conv2d { groups: 0, ..ok }),
            (
                "channels not groups × weight channels",
                Conv2d { groups: 2, ..ok },
            ),
            (
                "kernel past the input",
                Conv2d {
                    weights: [2, 4, 6, 3],
                    ..ok
                },
            ),
            (
                "dilated kernel past the input",
                Conv2d {
                    dilation: [3, 1],
                    ..ok
                },
            ),
            (
                "padding that overflows",
                Conv2d {
                    pads: [usize::MAX, 0, 1, 0],
                    ..ok
                },
            ),
            (
                "dilation that overflows",
                Conv2d {
                    dilation: [usize::MAX, 1],
                    ..ok
                },
            ),
            (
                "groups × channels that overflow",
                Conv2d {
                    groups: usize::MAX,
                    weights: [2, 2, 3, 3],
                    ..ok
                },
            ),
        ] {
            assert!(s.out_hw().is_err(), "{why}");
        }
        let g = Gemm::new(1).unwrap();
        assert!(
            conv2d(&g, &[0.0; 10], &[0.0; 72], None, &ok).is_err(),
            "short input"
        );
    }
}
