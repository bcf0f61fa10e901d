"""PyTorch's side of bench_cuda: bf16 torch.matmul TFLOP/s per size and f32 torch.softmax seconds
per call on cuda:0, timed with CUDA events after 3 warm-ups. Prints one JSON object."""
import argparse
import json
import sys

try:
    import torch
except ImportError:
    sys.exit("torch is not installed")
if not torch.cuda.is_available():
    sys.exit("torch sees no CUDA device")

ap = argparse.ArgumentParser()
ap.add_argument("--sizes", required=True)
ap.add_argument("--softmax", required=True)
ap.add_argument("--repeats", type=int, default=20)
args = ap.parse_args()


def seconds(f, repeats):
    for _ in range(3):
        f()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    start.record()
    for _ in range(repeats):
        f()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / 1000.0 / repeats


tflops = []
for n in (int(s) for s in args.sizes.split(",")):
    a = torch.rand(n, n, device="cuda", dtype=torch.bfloat16) * 2 - 1
    b = torch.rand(n, n, device="cuda", dtype=torch.bfloat16) * 2 - 1
    tflops.append(2 * n**3 / seconds(lambda: torch.matmul(a, b), args.repeats) / 1e12)
rows, d = (int(v) for v in args.softmax.split("x"))
x = torch.full((rows, d), 0.5, device="cuda", dtype=torch.float32)
print(json.dumps({"gemm_tflops": tflops, "softmax_s": seconds(lambda: torch.softmax(x, dim=-1), args.repeats),
                  "device": torch.cuda.get_device_name(0), "torch": torch.__version__}))
