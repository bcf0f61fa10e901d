//! A chain across backends submitted at once (ABI 1.10 dependencies): MATMUL on photonic0 → RELU
//! on a CPU executor → MATMUL on photonic0, through a queue's rings in one `ENTER`, the kernel
//! starting each step when the one before ended, without the client in between.

use lightos_runtime::{
    deadline_ns, tolerance, Batch, BufferFlags, Context, DType, Dep, JobStatus, Op, Placement,
    PrimitiveBuilder,
};
use lightos_vm_tests::{get_f32, photonic, put_f32, random_f32, ExecutorThread};
use std::time::Duration;

/// Relative Frobenius error of `got` against `want`.
fn rel_error(got: &[f32], want: &[f64]) -> f64 {
    let (mut e2, mut r2) = (0f64, 0f64);
    for (g, w) in got.iter().zip(want) {
        e2 += (f64::from(*g) - w).powi(2);
        r2 += w * w;
    }
    (e2 / r2).sqrt()
}

/// `a[m×k]·b[k×n]` in f64.
fn matmul(a: &[f64], b: &[f64], m: usize, k: usize, n: usize) -> Vec<f64> {
    let mut out = vec![0.0; m * n];
    for i in 0..m {
        for x in 0..k {
            for j in 0..n {
                out[i * n + j] += a[i * k + x] * b[x * n + j];
            }
        }
    }
    out
}

#[test]
fn matmul_relu_matmul_across_photonic0_and_cpu_runs_in_one_enter() {
    photonic::npu_ready(0);
    let cpu = ExecutorThread::cpu("chaincpu0");
    let dev = Context::open().unwrap();
    let npu = photonic::backend_id(&dev, 0).expect("photonic0");
    dev.add_route(Some(Op::Matmul), None, 0..=u64::MAX, npu)
        .unwrap();
    dev.add_route(Some(Op::Relu), None, 0..=u64::MAX, cpu.backend_id)
        .unwrap();

    let (m, k, h, n) = (8usize, 16usize, 16usize, 8usize);
    let x = random_f32(m * k, 1);
    let w1 = random_f32(k * h, 2);
    let w2 = random_f32(h * n, 3);
    // Offsets in one buffer: x, w1, hidden, relu(hidden), w2, y.
    let sizes = [m * k, k * h, m * h, m * h, h * n, m * n];
    let mut off = [0usize; 6];
    for i in 1..6 {
        off[i] = off[i - 1] + sizes[i - 1] * 4;
    }
    let buf = dev
        .create_buffer(off[5] + sizes[5] * 4, BufferFlags::empty(), Placement::Any)
        .unwrap();
    {
        let mut map = buf.map().unwrap();
        put_f32(&mut map[off[0]..], &x);
        put_f32(&mut map[off[1]..], &w1);
        put_f32(&mut map[off[4]..], &w2);
    }
    let dims = |a: usize, b: usize| [a as u64, b as u64];
    let first = PrimitiveBuilder::new(Op::Matmul, DType::F32)
        .input(&buf, off[0] as u64, &dims(m, k))
        .input(&buf, off[1] as u64, &dims(k, h))
        .output(&buf, off[2] as u64, &dims(m, h));
    let relu = PrimitiveBuilder::new(Op::Relu, DType::F32)
        .input(&buf, off[2] as u64, &dims(m, h))
        .output(&buf, off[3] as u64, &dims(m, h));
    let second = PrimitiveBuilder::new(Op::Matmul, DType::F32)
        .input(&buf, off[3] as u64, &dims(m, h))
        .input(&buf, off[4] as u64, &dims(h, n))
        .output(&buf, off[5] as u64, &dims(m, n));
    let mut batch = Batch::new();
    let a = batch.push(first);
    let b = batch.push_after(relu, &[Dep::Earlier(a)]).unwrap();
    batch.push_after(second, &[Dep::Earlier(b)]).unwrap();

    let q = dev.create_queue(0, Duration::from_secs(30)).unwrap();
    let mut rings = q.setup_rings(4, 4).unwrap();
    let before = dev.context_stats().unwrap().ioctls;
    let entered = rings
        .submit_batch(&mut batch, 3, deadline_ns(Some(Duration::from_secs(60))))
        .unwrap();
    // One ENTER ran the whole chain; the client was not woken between the steps.
    assert_eq!(
        dev.context_stats().unwrap().ioctls - before,
        2,
        "ENTER and this query"
    );
    assert_eq!(entered.completions, 3);
    let cqes: Vec<_> = std::iter::from_fn(|| rings.reap()).collect();
    let seqs: Vec<u64> = cqes.iter().map(|c| c.seq).collect();
    assert_eq!(
        seqs,
        vec![
            entered.first_seq,
            entered.first_seq + 1,
            entered.first_seq + 2
        ],
        "in order"
    );
    assert!(cqes.iter().all(|c| c.status == JobStatus::Ok), "{cqes:?}");

    let f = |v: &[f32]| v.iter().map(|&x| f64::from(x)).collect::<Vec<_>>();
    let hidden = matmul(&f(&x), &f(&w1), m, k, h);
    let activated: Vec<f64> = hidden.iter().map(|&v| v.max(0.0)).collect();
    let want = matmul(&activated, &f(&w2), m, h, n);
    let map = buf.map().unwrap();
    let got = get_f32(&map[off[5]..], m * n);
    let err = rel_error(&got, &want);
    // Two analog MATMULs in a row: each within the photonic tolerance, so the chain within twice.
    assert!(
        err < 2.0 * tolerance::PHOTONIC_MATMUL,
        "relative error {err}"
    );
    // The RELU ran on the CPU on the photonic result: exactly max(0, ·) of what is in the buffer.
    let hidden_got = get_f32(&map[off[2]..], m * h);
    let relu_got = get_f32(&map[off[3]..], m * h);
    for (r, hval) in relu_got.iter().zip(&hidden_got) {
        assert_eq!(*r, hval.max(0.0));
    }
}
