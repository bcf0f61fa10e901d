//! Launching ops: operands checked here first (a mismatch is an error naming the op, never a
//! kernel round trip), then submitted to the accelerator's queue; an [`Event`] waits for the
//! result and times it.

use super::{AccelError, Accelerator, Result, Tensor};
use crate::{DType, JobStatus, Op, PrimitiveBuilder};
use std::time::{Duration, Instant};

/// A launched op: wait for it to learn how it ended and how long it took.
#[derive(Debug)]
#[must_use = "an op's failure is only seen by waiting on its event"]
pub struct Event<'a> {
    acc: &'a Accelerator,
    seq: u64,
    op: Op,
    launched: Instant,
}

impl Event<'_> {
    /// Waits (at most two minutes) for the op; the time from launch to completion, or the
    /// reason it has no result ([`AccelError::Job`] names the device and the status).
    pub fn wait(self) -> Result<Duration> {
        let done = self
            .acc
            .queue
            .wait(self.seq, Some(Duration::from_secs(120)))?;
        let elapsed = self.launched.elapsed();
        if done.status != JobStatus::Ok {
            let device = match &self.acc.selected {
                Some(d) if d.ops & self.op.bit() != 0 => d.name.clone(),
                _ => "the kernel's choice".into(),
            };
            return Err(AccelError::Job {
                op: self.op,
                device,
                status: done.status,
            });
        }
        Ok(elapsed)
    }
}

/// An operand as the checks see it: shape and dtype.
pub(super) type Operand<'a> = (&'a [u64], DType);

/// Checks operands before submission: dtypes agree, and shapes fit the op.
pub(super) fn check(op: Op, inputs: &[Operand], out: Operand) -> Result<()> {
    let bad = |why: String| Err(AccelError::Shape { op, why });
    let dtype = inputs.first().map_or(out.1, |t| t.1);
    if inputs.iter().any(|t| t.1 != dtype) {
        return bad(format!(
            "inputs of different dtypes: {:?}",
            inputs.iter().map(|t| t.1).collect::<Vec<_>>()
        ));
    }
    let quantized_matmul =
        op == Op::Matmul && matches!(dtype, DType::I8 | DType::Fp8E4m3) && out.1 == DType::F32;
    if out.1 != dtype && !quantized_matmul {
        return bad(format!("output {:?} for {dtype:?} inputs", out.1));
    }
    let out = out.0;
    match op {
        Op::Matmul => {
            let [a, b] = inputs else {
                return bad(format!("{} inputs, MATMUL takes 2", inputs.len()));
            };
            let (a, b, o) = (a.0, b.0, out);
            let nd = a.len();
            if !(2..=3).contains(&nd) || b.len() != nd || o.len() != nd {
                return bad(format!(
                    "shapes {a:?} · {b:?} → {o:?}: 2-D or 3-D, all alike"
                ));
            }
            let (m, k, k2, n) = (a[nd - 2], a[nd - 1], b[nd - 2], b[nd - 1]);
            let batch_ok = nd == 2 || (a[0] == b[0] && a[0] == o[0]);
            if k != k2 || o[nd - 2] != m || o[nd - 1] != n || !batch_ok {
                return bad(format!("shapes {a:?} · {b:?} → {o:?} do not multiply"));
            }
        }
        Op::Add | Op::Mul | Op::Relu | Op::Gelu | Op::Softmax => {
            let want = if matches!(op, Op::Add | Op::Mul) {
                2
            } else {
                1
            };
            if inputs.len() != want {
                return bad(format!("{} inputs, {op:?} takes {want}", inputs.len()));
            }
            if let Some(t) = inputs.iter().find(|t| t.0 != out) {
                return bad(format!("input {:?} and output {out:?} differ", t.0));
            }
        }
        _ => {} // the kernel validates the rest and answers with an errno
    }
    Ok(())
}

impl Accelerator {
    /// Launches `op` on `inputs` into `out` with `params` (see docs/ABI.md per op).
    pub fn launch(
        &self,
        op: Op,
        inputs: &[&Tensor],
        out: &Tensor,
        params: &[u64],
    ) -> Result<Event<'_>> {
        let operands: Vec<Operand> = inputs.iter().map(|t| (t.shape(), t.dtype())).collect();
        check(op, &operands, (out.shape(), out.dtype()))?;
        let dtype = inputs.first().map_or(out.dtype(), |t| t.dtype());
        let mut p = PrimitiveBuilder::new(op, dtype);
        if out.dtype() != dtype {
            p = p.out_dtype(out.dtype());
        }
        for (i, &v) in params.iter().enumerate() {
            p = p.param(i, v);
        }
        let prim = p.output_descriptor(inputs.iter().map(|t| t.descriptor()), out.descriptor());
        self.submit_one(op, prim)
    }

    /// Submits one checked primitive; its event.
    pub(super) fn submit_one(&self, op: Op, prim: crate::Primitive) -> Result<Event<'_>> {
        let launched = Instant::now();
        let s = self.queue.submit(&[prim])?;
        Ok(Event {
            acc: self,
            seq: s.last_seq,
            op,
            launched,
        })
    }

    /// `out = a · b`.
    pub fn matmul(&self, a: &Tensor, b: &Tensor, out: &Tensor) -> Result<Event<'_>> {
        self.launch(Op::Matmul, &[a, b], out, &[])
    }

    /// `out = a + b` (`out` may be `a`: in place).
    pub fn add(&self, a: &Tensor, b: &Tensor, out: &Tensor) -> Result<Event<'_>> {
        self.launch(Op::Add, &[a, b], out, &[])
    }

    /// `out = max(x, 0)` (`out` may be `x`).
    pub fn relu(&self, x: &Tensor, out: &Tensor) -> Result<Event<'_>> {
        self.launch(Op::Relu, &[x], out, &[])
    }

    /// Softmax over the last dimension.
    pub fn softmax(&self, x: &Tensor, out: &Tensor) -> Result<Event<'_>> {
        self.launch(Op::Softmax, &[x], out, &[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: DType = DType::F32;

    #[test]
    fn matmul_shapes_are_checked_before_submission() {
        assert!(check(Op::Matmul, &[(&[2, 3], F), (&[3, 4], F)], (&[2, 4], F)).is_ok());
        assert!(check(
            Op::Matmul,
            &[(&[5, 2, 3], F), (&[5, 3, 4], F)],
            (&[5, 2, 4], F)
        )
        .is_ok());
        for (a, b, o) in [
            (&[2u64, 3][..], &[4u64, 4][..], &[2u64, 4][..]), // inner dims differ
            (&[2, 3], &[3, 4], &[2, 5]),                      // wrong output
            (&[5, 2, 3], &[4, 3, 4], &[5, 2, 4]),             // batch differs
            (&[6], &[6], &[1]),                               // 1-D
        ] {
            let e = check(Op::Matmul, &[(a, F), (b, F)], (o, F)).unwrap_err();
            assert!(
                matches!(e, AccelError::Shape { op: Op::Matmul, .. }),
                "{a:?}·{b:?}→{o:?}: {e}"
            );
        }
        assert!(
            check(Op::Matmul, &[(&[2, 3], F)], (&[2, 3], F)).is_err(),
            "one input"
        );
    }

    #[test]
    fn dtypes_must_agree_except_quantized_matmul_to_f32() {
        assert!(check(Op::Add, &[(&[4], F), (&[4], DType::F16)], (&[4], F)).is_err());
        assert!(check(Op::Relu, &[(&[4], DType::F16)], (&[4], F)).is_err());
        assert!(check(
            Op::Matmul,
            &[(&[2, 3], DType::I8), (&[3, 4], DType::I8)],
            (&[2, 4], F)
        )
        .is_ok());
        assert!(check(
            Op::Matmul,
            &[(&[2, 3], DType::F16), (&[3, 4], DType::F16)],
            (&[2, 4], F)
        )
        .is_err());
    }

    #[test]
    fn elementwise_shapes_must_match_the_output() {
        assert!(check(Op::Add, &[(&[2, 3], F), (&[2, 3], F)], (&[2, 3], F)).is_ok());
        let e = check(Op::Add, &[(&[2, 3], F), (&[3, 2], F)], (&[2, 3], F)).unwrap_err();
        assert!(e.to_string().contains("[3, 2]"), "{e}");
        assert!(
            check(Op::Softmax, &[(&[2, 3], F), (&[2, 3], F)], (&[2, 3], F)).is_err(),
            "two inputs"
        );
    }
}
