//! Strided matrix views over slices: what the GEMM reads.

use crate::{CpuError, Result};

/// A read-only `rows × cols` matrix: element `(i, j)` is `data[i * rs + j * cs]`. A transposed or
/// strided view is just other strides; nothing is copied.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a, T> {
    data: &'a [T],
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl<'a, T: Copy> MatRef<'a, T> {
    /// A view with row stride `rs` and column stride `cs` (in elements); `ERANGE`-like error if
    /// its last element lies outside `data`.
    pub fn new(data: &'a [T], rows: usize, cols: usize, rs: usize, cs: usize) -> Result<Self> {
        if rows > 0 && cols > 0 {
            let last = (rows - 1)
                .checked_mul(rs)
                .and_then(|r| (cols - 1).checked_mul(cs).and_then(|c| r.checked_add(c)))
                .ok_or(CpuError::Shape("matrix extent overflows"))?;
            if last >= data.len() {
                return Err(CpuError::Shape("matrix extends past its data"));
            }
        }
        Ok(MatRef {
            data,
            rows,
            cols,
            rs,
            cs,
        })
    }

    /// A contiguous row-major view.
    pub fn row_major(data: &'a [T], rows: usize, cols: usize) -> Result<Self> {
        Self::new(data, rows, cols, cols, 1)
    }

    /// The same data seen transposed.
    pub fn t(self) -> Self {
        MatRef {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
        }
    }

    /// Rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The column stride.
    pub fn col_stride(&self) -> usize {
        self.cs
    }

    /// The row stride.
    pub fn row_stride(&self) -> usize {
        self.rs
    }

    /// The same view typed as `U`, when `U` is `T` (how the GEMM picks a path for one element
    /// type inside a generic call).
    pub(crate) fn cast<U: 'static>(self) -> Option<MatRef<'a, U>>
    where
        T: 'static,
    {
        if std::any::TypeId::of::<T>() != std::any::TypeId::of::<U>() {
            return None;
        }
        // SAFETY: `U` is `T` (same TypeId), so the slice is reinterpreted as itself.
        let data =
            unsafe { std::slice::from_raw_parts(self.data.as_ptr().cast::<U>(), self.data.len()) };
        Some(MatRef {
            data,
            rows: self.rows,
            cols: self.cols,
            rs: self.rs,
            cs: self.cs,
        })
    }

    /// Element `(i, j)`.
    #[inline]
    pub fn at(&self, i: usize, j: usize) -> T {
        self.data[i * self.rs + j * self.cs]
    }

    /// The data from element `(i, j)` to the end of the slice.
    #[inline]
    pub(crate) fn tail(&self, i: usize, j: usize) -> &'a [T] {
        &self.data[i * self.rs + j * self.cs..]
    }

    /// `len` consecutive elements of row `i` from column `j` (column stride must be 1).
    #[inline]
    pub(crate) fn row_slice(&self, i: usize, j: usize, len: usize) -> &'a [T] {
        let start = i * self.rs + j;
        &self.data[start..start + len]
    }
}
