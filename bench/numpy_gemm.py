#!/usr/bin/env python3
"""The baseline of bench_cpu_gemm: numpy's f32 matmul (OpenBLAS) timed like the Rust side.

Usage: numpy_gemm.py THREADS SHAPE [SHAPE ...], SHAPE being N (square) or MxKxN; prints one JSON
object {"blas": ..., "results": {SHAPE: secs}}. THREADS is applied through threadpoolctl when
present, else OPENBLAS_NUM_THREADS (set by the caller before numpy loads).
"""
import json
import sys
import time

import numpy as np

threads, shapes = int(sys.argv[1]), sys.argv[2:]
try:
    from threadpoolctl import threadpool_limits
    limit = threadpool_limits(limits=threads, user_api="blas")
except ImportError:  # OPENBLAS_NUM_THREADS from the environment governs
    limit = None

rng = np.random.default_rng(1)
results = {}
for shape in shapes:
    dims = [int(d) for d in shape.split("x")]
    m, k, n = dims if len(dims) == 3 else dims * 3
    a = rng.uniform(-1, 1, (m, k)).astype(np.float32)
    b = rng.uniform(-1, 1, (k, n)).astype(np.float32)
    c = np.empty((m, n), dtype=np.float32)
    np.matmul(a, b, out=c)  # warm-up
    flops = 2 * m * k * n
    reps = max(5, min(2000, int(0.3 / max(flops / 1e11, 1e-7))))
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        np.matmul(a, b, out=c)
        times.append(time.perf_counter() - t)
    times.sort()
    results[shape] = times[len(times) // 2]
cfg = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
print(json.dumps({"blas": f"{cfg['name']} {cfg['version']}", "results": results}))
