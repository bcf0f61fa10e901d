//! A MATMUL as a pipeline of chunks, so copies overlap compute: chunk `i + 1`'s operands go up
//! and chunk `i - 1`'s product comes down while chunk `i`'s GEMM runs. A 2-D product is cut into
//! row blocks of A (each `C` block needs only its A rows and all of B, uploaded once); a batched
//! one into groups of batches. On [`crate::CudaDevice`] copies run on a copy stream and GEMMs on the
//! compute stream, cudarc ordering each GEMM after its operands' uploads; an engine with one
//! stream runs the same calls in order.

use crate::engine::Engine;
use crate::gemm::{ColumnMajorCall, GemmType};
use crate::{CudaError, Result};
use std::ops::Range;

/// One chunk: which rows of A (2-D) or which batches (3-D), and its GEMM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    /// Rows of A and C (2-D), or batches (3-D), this chunk covers.
    pub range: Range<usize>,
    /// Its GEMM.
    pub call: ColumnMajorCall,
}

/// The chunks of `[batch ×] m×k · k×n`, each moving at most about `chunk_bytes` (at least one
/// row or batch per chunk). `in_size`/`out_size` are the element sizes of the operands and of C.
pub fn plan(
    batch: usize,
    m: usize,
    k: usize,
    n: usize,
    ty: GemmType,
    chunk_bytes: usize,
) -> Result<Vec<Chunk>> {
    let (ins, outs) = (ty.in_size(), ty.out_size());
    let (count, per_unit, batched) = if batch > 1 {
        (batch, (m * k + k * n) * ins + m * n * outs, true)
    } else {
        (m, k * ins + n * outs, false)
    };
    let step = (chunk_bytes / per_unit.max(1)).clamp(1, count.max(1));
    let mut chunks = Vec::new();
    let mut start = 0;
    while start < count {
        let end = (start + step).min(count);
        let call = if batched {
            ColumnMajorCall::for_row_major(end - start, m, k, n)?
        } else {
            ColumnMajorCall::for_row_major(1, end - start, k, n)?
        };
        chunks.push(Chunk {
            range: start..end,
            call,
        });
        start = end;
    }
    Ok(chunks)
}

/// `Ok` when A and B (`a_len`, `b_len` bytes) hold the `[batch ×] m×k` and `k×n` operands (the
/// whole problem; each chunk's call checks its own slices again, `ColumnMajorCall::check_sizes`).
fn check_operands(
    ty: GemmType,
    (batch, m, k, n): (usize, usize, usize, usize),
    a_len: usize,
    b_len: usize,
) -> Result<()> {
    let bytes = |rows: usize, cols: usize| {
        [batch, rows, cols, ty.in_size()]
            .into_iter()
            .try_fold(1usize, usize::checked_mul)
            .ok_or(CudaError::TooLarge("GEMM operand size"))
    };
    if a_len < bytes(m, k)? || b_len < bytes(k, n)? {
        return Err(CudaError::TooLarge("operand smaller than the GEMM"));
    }
    Ok(())
}

/// `C = A·B` for contiguous row-major `a` and `b` (element type `ty`), returned as C's bytes.
pub fn gemm<E: Engine>(
    dev: &E,
    ty: GemmType,
    (batch, m, k, n): (usize, usize, usize, usize),
    a: &[u8],
    b: &[u8],
) -> Result<Vec<u8>> {
    let (ins, outs) = (ty.in_size(), ty.out_size());
    check_operands(ty, (batch, m, k, n), a.len(), b.len())?;
    let chunks = plan(batch, m, k, n, ty, dev.chunk_bytes())?;
    let batched = batch > 1;
    // 2-D: B once, shared by every row block.
    let shared_b = if batched {
        None
    } else {
        Some(dev.upload_bytes(b)?)
    };
    let mut c = vec![0u8; batch * m * n * outs];
    let mut in_flight: Option<(Range<usize>, E::Bytes)> = None;
    let c_range = |r: &Range<usize>| {
        let unit = if batched { m * n * outs } else { n * outs };
        r.start * unit..r.end * unit
    };
    for chunk in &chunks {
        let r = &chunk.range;
        let (a_unit, b_unit) = if batched {
            (m * k * ins, k * n * ins)
        } else {
            (k * ins, 0)
        };
        let a_dev = dev.upload_bytes(&a[r.start * a_unit..r.end * a_unit])?;
        let mut c_dev = dev.zeros_bytes(c_range(r).len())?;
        match &shared_b {
            Some(b_dev) => dev.gemm(ty, &chunk.call, &a_dev, b_dev, &mut c_dev)?,
            None => {
                let b_dev = dev.upload_bytes(&b[r.start * b_unit..r.end * b_unit])?;
                dev.gemm(ty, &chunk.call, &a_dev, &b_dev, &mut c_dev)?
            }
        }
        // The previous chunk's product comes down while this one computes.
        if let Some((prev, prev_c)) = in_flight.replace((r.clone(), c_dev)) {
            c[c_range(&prev)].copy_from_slice(&dev.download_bytes(&prev_c)?);
        }
    }
    if let Some((prev, prev_c)) = in_flight {
        c[c_range(&prev)].copy_from_slice(&dev.download_bytes(&prev_c)?);
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_every_row_or_batch_once_within_the_budget() {
        // 2-D f32, 1000 rows of (k 256 + n 128) * 4 bytes = 1536 B: 10 rows per 16 KiB.
        let c = plan(1, 1000, 256, 128, GemmType::F32, 16 << 10).unwrap();
        assert_eq!(c.len(), 100);
        assert_eq!(c[0].range, 0..10);
        assert_eq!(c[99].range, 990..1000);
        assert_eq!(
            c[0].call,
            ColumnMajorCall::for_row_major(1, 10, 256, 128).unwrap()
        );
        // A budget below one row still moves one row per chunk.
        let c = plan(1, 3, 256, 128, GemmType::F32, 1).unwrap();
        assert_eq!(
            c.iter().map(|c| c.range.clone()).collect::<Vec<_>>(),
            [0..1, 1..2, 2..3]
        );
        // Batched: whole batches, the last chunk shorter.
        let c = plan(5, 8, 8, 8, GemmType::F64, 2 * (8 * 8 * 3 * 8)).unwrap();
        assert_eq!(
            c.iter().map(|c| c.range.clone()).collect::<Vec<_>>(),
            [0..2, 2..4, 4..5]
        );
        assert_eq!(c[2].call.batch, 1);
        // A large budget: one chunk, the whole GEMM.
        let c = plan(1, 64, 64, 64, GemmType::Bf16, 1 << 30).unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(
            c[0].call,
            ColumnMajorCall::for_row_major(1, 64, 64, 64).unwrap()
        );
    }

    #[test]
    fn operands_shorter_than_the_shape_are_an_error_not_a_panic() {
        let shape = (1, 2, 3, 2);
        assert!(check_operands(GemmType::F32, shape, 24, 24).is_ok());
        assert!(matches!(
            check_operands(GemmType::F32, shape, 24, 20),
            Err(CudaError::TooLarge(_))
        ));
        assert!(check_operands(GemmType::F64, (2, 2, 3, 2), 95, 96).is_err());
        assert!(check_operands(GemmType::F32, (usize::MAX, 2, 3, 2), 24, 24).is_err());
    }
}
