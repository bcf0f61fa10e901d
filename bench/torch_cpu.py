#!/usr/bin/env python3
"""PyTorch's CPU GEMMs as baselines of bench_cpu_gemm, timed like numpy_gemm.py.

Usage: torch_cpu.py THREADS N [N ...]   (run with bench/venv.sh's python)

For each N: torch.matmul on N×N bfloat16 (uniform -1..1), torch._int_mm on N×N int8 (uniform over
-128..127) into int32, and torch.matmul on N×N float32 for reference. One warm-up call, then the median
of max(3, min(15, 2e9 / (2 N³))) calls, each into a preallocated output. Prints one JSON object:

    {"torch": version, "threads": T, "mkldnn_bf16": {...}, "results": {"bf16": {N: secs}, "int8": {N: secs},
     "f32": {N: secs}}, "errors": {"int8": {N: reason}}}

A size an op refuses gets null in results and its reason in errors (on the CPU _int_mm only asks for 2-D
int8 operands with matching inner sizes, so square sizes pass; CUDA's k, n multiple-of-8 rule does not apply).
"mkldnn_bf16" says whether oneDNN runs bf16 matmul natively: "impl" is the oneDNN implementation that
oneDNN's verbose log reports for one bf16 matmul (e.g. "brg_matmul:avx512_core_bf16" or
"brg_matmul:avx512_core_amx" = native bf16 instructions, plain "avx512_core" = bf16 emulated in f32;
null = torch did not call oneDNN), "native" summarises that, "isa" is oneDNN's ISA line, and the CPU flags
come from torch.cpu.get_capabilities(). "int8_impl" is the same for _int_mm.
"""
import json
import os
import sys
import tempfile
import time

import torch

threads, sizes = int(sys.argv[1]), [int(s) for s in sys.argv[2:]]
torch.set_num_threads(threads)
torch.manual_seed(1)


def onednn_log(fn):
    """oneDNN's verbose lines (written to fd 1 by the C++ side) while fn runs."""
    sys.stdout.flush()
    saved = os.dup(1)
    with tempfile.TemporaryFile() as f:
        os.dup2(f.fileno(), 1)
        try:
            with torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON):
                fn()
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
        f.seek(0)
        return f.read().decode(errors="replace").splitlines()


def exec_impl(lines):
    """The implementation field of the first primitive exec line (None when oneDNN ran nothing)."""
    for line in lines:
        fields = line.split(",")
        if len(fields) > 6 and fields[2:4] == ["primitive", "exec"]:
            return fields[6] or fields[5]  # implementation, else the primitive kind (gemm_api has none)
    return None


def onednn_info():
    p = torch.empty(256, 256, dtype=torch.bfloat16).uniform_(-1, 1)
    q = torch.randint(-128, 128, (256, 256), dtype=torch.int8)
    bf16_log = onednn_log(lambda: torch.matmul(p, p))
    bf16 = exec_impl(bf16_log)
    int8 = exec_impl(onednn_log(lambda: torch._int_mm(q, q)))
    isa = next((l.split("isa:", 1)[1] for l in bf16_log if ",isa:" in l), None)
    caps = torch.cpu.get_capabilities()
    return {
        "supported": bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()),
        "native": bf16 is not None and ("bf16" in bf16.split(":", 1)[-1] or "amx" in bf16),
        "impl": bf16,
        "isa": isa,
        "cpu_avx512_bf16": bool(caps.get("avx512_bf16", False)),
        "cpu_amx_bf16": bool(caps.get("amx_bf16", False)),
        "int8_impl": int8,
        "cpu_avx512_vnni": bool(caps.get("avx512_vnni", False)),
        "cpu_amx_int8": bool(caps.get("amx_int8", False)),
    }


def median_secs(call, n):
    call()  # warm-up
    reps = max(3, min(15, int(2e9 / (2 * n**3))))
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        call()
        times.append(time.perf_counter() - t)
    times.sort()
    return times[len(times) // 2]


info = onednn_info()  # first: oneDNN prints its ISA line only once, on its first verbose call
results = {"bf16": {}, "int8": {}, "f32": {}}
errors = {}
for n in sizes:
    for kind, dtype in (("bf16", torch.bfloat16), ("f32", torch.float32)):
        a = torch.empty(n, n, dtype=dtype).uniform_(-1, 1)
        b = torch.empty(n, n, dtype=dtype).uniform_(-1, 1)
        c = torch.empty(n, n, dtype=dtype)
        results[kind][n] = median_secs(lambda: torch.matmul(a, b, out=c), n)
    a = torch.randint(-128, 128, (n, n), dtype=torch.int8)
    b = torch.randint(-128, 128, (n, n), dtype=torch.int8)
    c = torch.empty(n, n, dtype=torch.int32)
    try:
        results["int8"][n] = median_secs(lambda: torch._int_mm(a, b, out=c), n)
    except RuntimeError as e:  # a shape the CPU kernel refuses
        results["int8"][n] = None
        errors.setdefault("int8", {})[n] = str(e).splitlines()[0]

out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "mkldnn_bf16": info,
       "results": results}
if errors:
    out["errors"] = errors
print(json.dumps(out))
