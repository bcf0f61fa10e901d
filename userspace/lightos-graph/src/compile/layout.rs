//! Operand descriptors: a value's bytes seen as the strided 1- to 4-D view a primitive takes
//! (`lightos_tensor`). Transposes are permuted strides, numpy broadcasting is stride 0, a slice of a
//! concatenation is an offset with the whole output's strides; dimensions are merged where every
//! operand of a primitive allows it, so 5-D views (a channel shuffle) fit the ABI's four.

use lightos_uapi as uapi;

/// A strided view of elements in one memory space.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct View {
    /// The space (the operand's `buffer` until an engine maps it to a handle).
    pub space: u32,
    /// Byte offset of element 0.
    pub offset: u64,
    /// Logical dimensions, outermost first.
    pub dims: Vec<u64>,
    /// Stride of each dimension in elements.
    pub strides: Vec<u64>,
}

/// Row-major strides of `dims`, in elements.
pub fn contiguous(dims: &[u64]) -> Vec<u64> {
    let mut s = vec![1u64; dims.len()];
    for i in (0..dims.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * dims[i + 1];
    }
    s
}

impl View {
    /// The view an ABI operand describes (`buffer` read as the space).
    pub fn of(t: &uapi::Tensor) -> Self {
        let n = (t.ndim as usize).min(uapi::MAX_DIMS);
        let dims = t.shape[..n].to_vec();
        let strides = if t.strides[..n].iter().all(|&s| s == 0) {
            contiguous(&dims)
        } else {
            t.strides[..n].to_vec()
        };
        Self {
            space: t.buffer,
            offset: t.offset,
            dims,
            strides,
        }
    }

    /// The contiguous view of `dims` at `offset` of `space`.
    pub fn dense(space: u32, offset: u64, dims: &[u64]) -> Self {
        Self {
            space,
            offset,
            dims: dims.to_vec(),
            strides: contiguous(dims),
        }
    }

    /// The same bytes with other (contiguous) dimensions: a reshape.
    pub fn reshaped(&self, dims: &[u64]) -> Self {
        Self::dense(self.space, self.offset, dims)
    }

    /// Elements.
    pub fn elements(&self) -> u64 {
        self.dims.iter().product()
    }

    /// The view of `dims` (right-aligned numpy broadcasting of `self.dims` to them): stride 0
    /// along every broadcast dimension. `None` when the shapes do not broadcast.
    pub fn broadcast_to(&self, dims: &[u64]) -> Option<Self> {
        let lead = dims.len().checked_sub(self.dims.len())?;
        let mut strides = vec![0u64; dims.len()];
        for (i, (&d, &s)) in self.dims.iter().zip(&self.strides).enumerate() {
            let want = dims[lead + i];
            strides[lead + i] = match d {
                _ if d == want => s,
                1 => 0,
                _ => return None,
            };
        }
        Some(Self {
            space: self.space,
            offset: self.offset,
            dims: dims.to_vec(),
            strides,
        })
    }

    /// The view with its dimensions permuted: dimension `j` of the result is `perm[j]` of `self`.
    pub fn permuted(&self, perm: &[usize]) -> Self {
        Self {
            space: self.space,
            offset: self.offset,
            dims: perm.iter().map(|&p| self.dims[p]).collect(),
            strides: perm.iter().map(|&p| self.strides[p]).collect(),
        }
    }

    /// The byte range `[start, end)` it spans (`esize` bytes per element).
    pub fn extent(&self, esize: u64) -> (u64, u64) {
        if self.dims.contains(&0) {
            return (self.offset, self.offset);
        }
        let last: u64 = self
            .dims
            .iter()
            .zip(&self.strides)
            .map(|(&d, &s)| (d - 1) * s)
            .sum();
        (self.offset, self.offset + (last + 1) * esize)
    }
}

/// The byte range `[start, end)` operand `i` of `p` spans: f32 elements, but a `GATHER`'s i64
/// indices (ABI 1.13).
pub fn operand_extent(p: &uapi::Primitive, i: usize) -> (u64, u64) {
    let esize = if p.op == uapi::OP_GATHER && i == 1 {
        8
    } else {
        4
    };
    View::of(&p.operands[i]).extent(esize)
}

/// `views` (one logical shape, each with its own strides) with the same dimensions merged or
/// dropped in all of them: size-1 dimensions go, and neighbours `i, i+1` merge where every view
/// has `stride[i] == stride[i+1] * dims[i+1]`. The result has at least one dimension.
pub fn coalesce(views: &[View]) -> Vec<View> {
    let Some(first) = views.first() else {
        return Vec::new();
    };
    let keep: Vec<usize> = (0..first.dims.len())
        .filter(|&i| first.dims[i] != 1)
        .collect();
    let mut dims: Vec<u64> = keep.iter().map(|&i| first.dims[i]).collect();
    let mut strides: Vec<Vec<u64>> = views
        .iter()
        .map(|v| keep.iter().map(|&i| v.strides[i]).collect())
        .collect();
    let mut i = 0;
    while i + 1 < dims.len() {
        if strides.iter().all(|s| s[i] == s[i + 1] * dims[i + 1]) {
            dims[i] *= dims[i + 1];
            dims.remove(i + 1);
            for s in &mut strides {
                s[i] = s[i + 1];
                s.remove(i + 1);
            }
        } else {
            i += 1;
        }
    }
    if dims.is_empty() {
        dims.push(1);
        strides.iter_mut().for_each(|s| s.push(1));
    }
    views
        .iter()
        .zip(strides)
        .map(|(v, strides)| View {
            space: v.space,
            offset: v.offset,
            dims: dims.clone(),
            strides,
        })
        .collect()
}

/// The ABI descriptor of `v`: contiguous views say so (all strides zero); a strided view whose
/// strides would all be zero (a scalar broadcast) gets a leading dimension of one, so it is not
/// read as contiguous. `None` past [`uapi::MAX_DIMS`] dimensions.
pub fn tensor(v: &View) -> Option<uapi::Tensor> {
    let (mut dims, mut strides) = (v.dims.clone(), v.strides.clone());
    let dense = strides == contiguous(&dims);
    if !dense && strides.iter().all(|&s| s == 0) {
        dims.insert(0, 1);
        strides.insert(0, 1);
    }
    if dims.is_empty() || dims.len() > uapi::MAX_DIMS {
        return None;
    }
    let mut t = uapi::Tensor {
        buffer: v.space,
        ndim: dims.len() as u32,
        offset: v.offset,
        ..Default::default()
    };
    t.shape[..dims.len()].copy_from_slice(&dims);
    if !dense {
        t.strides[..dims.len()].copy_from_slice(&strides);
    }
    Some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channel_shuffle_coalesces_to_four_dimensions() {
        // [1, g=2, c=3, h=4, w=5] transposed to [1, 3, 2, 4, 5].
        let x = View::dense(0, 0, &[1, 2, 3, 4, 5]).permuted(&[0, 2, 1, 3, 4]);
        let out = View::dense(0, 0, &x.dims);
        let v = coalesce(&[x, out]);
        assert_eq!(v[0].dims, [3, 2, 20]);
        assert_eq!(v[0].strides, [20, 60, 1]);
        assert_eq!(v[1].strides, [40, 20, 1]);
    }

    #[test]
    fn broadcasting_is_stride_zero_and_a_scalar_is_not_contiguous() {
        let bias = View::dense(1, 64, &[3, 1, 1]);
        let b = bias.broadcast_to(&[1, 3, 2, 2]).unwrap();
        assert_eq!(b.strides, [0, 1, 0, 0]);
        assert!(View::dense(0, 0, &[2]).broadcast_to(&[3]).is_none());
        let s = View::dense(0, 0, &[1]).broadcast_to(&[6]).unwrap();
        let t = tensor(&s).unwrap();
        assert_eq!(
            (t.ndim, &t.shape[..2], &t.strides[..2]),
            (2, &[1, 6][..], &[1, 0][..])
        );
        let d = tensor(&View::dense(0, 8, &[2, 3])).unwrap();
        assert_eq!(d.strides, [0; 4]);
        assert!(tensor(&View::dense(0, 0, &[1, 1, 1, 1, 1])).is_none());
    }

    #[test]
    fn extents_cover_strided_views() {
        let v = View::dense(0, 16, &[2, 3]).permuted(&[1, 0]);
        assert_eq!(v.extent(4), (16, 16 + 6 * 4));
    }
}
