use lightos_cpu::conv::{conv2d, Conv2d};
use lightos_cpu::Gemm;
use std::time::Instant;
fn main() {
    let a: Vec<usize> = std::env::args()
        .skip(1)
        .map(|s| s.parse().unwrap())
        .collect();
    let (c, h, o, k, st, t, iters) = (a[0], a[1], a[2], a[3], a[4], a[5], a[6]);
    let g = Gemm::new(t).unwrap();
    let s = Conv2d::new([1, c, h, h], [o, c, k, k], st, k / 2);
    let x: Vec<f32> = (0..c * h * h).map(|i| (i % 7) as f32).collect();
    let w: Vec<f32> = (0..o * c * k * k).map(|i| (i % 5) as f32).collect();
    let (oh, ow) = s.out_hw().unwrap();
    let t0 = Instant::now();
    for _ in 0..iters {
        conv2d(&g, &x, &w, None, &s).unwrap();
    }
    let secs = t0.elapsed().as_secs_f64() / iters as f64;
    println!(
        "{:.3} ms {:.1} GFLOP/s",
        secs * 1e3,
        2.0 * (o * c * k * k * oh * ow) as f64 / secs / 1e9
    );
}
