#!/usr/bin/env python3
"""The baseline of bench_cpu_gemm: numpy's f32 matmul (OpenBLAS) timed like the Rust side.

Usage: numpy_gemm.py THREADS N [N ...]; prints one JSON object {"blas": ..., "results": {N: secs}}.
THREADS is applied through threadpoolctl when present, else OPENBLAS_NUM_THREADS (set by the caller
before numpy loads).
"""
import json
import sys
import time

import numpy as np

threads, sizes = int(sys.argv[1]), [int(s) for s in sys.argv[2:]]
try:
    from threadpoolctl import threadpool_limits
    limit = threadpool_limits(limits=threads, user_api="blas")
except ImportError:  # OPENBLAS_NUM_THREADS from the environment governs
    limit = None

rng = np.random.default_rng(1)
results = {}
for n in sizes:
    a = rng.uniform(-1, 1, (n, n)).astype(np.float32)
    b = rng.uniform(-1, 1, (n, n)).astype(np.float32)
    c = np.empty((n, n), dtype=np.float32)
    np.matmul(a, b, out=c)  # warm-up
    reps = max(3, min(15, int(2e9 / (2 * n**3))))
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        np.matmul(a, b, out=c)
        times.append(time.perf_counter() - t)
    times.sort()
    results[n] = times[len(times) // 2]
cfg = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
print(json.dumps({"blas": f"{cfg['name']} {cfg['version']}", "results": results}))
