"""`import lightos` against onnxruntime's Python API, host, same run, 2 threads each:

    python_host.py LIGHTOS_BINARY MODELS_DIR WORK_DIR

1. Per-call overhead: `session.run` on a tiny model (one Add of two [1, 16] tensors: the call is
   all overhead) against onnxruntime's `InferenceSession.run` on the same file, median of 5000
   calls after 200 warm-up calls. Target: lightos ≤ 1.0× onnxruntime's time per call.
2. A large run: ResNet-50 (light, random weights) at batch 8 through `lightos.InferenceSession`
   (device "local") against `lightos model bench --on local` (the same engine from the CLI): four
   alternating rounds of 5 runs after a warm-up each, the median of the rounds' medians. Target:
   Python's overhead ≤ 2 %.
Prints PYTHON-SUMMARY and a markdown table. Needs the wheel installed (bench/run.sh installs it).
"""
import contextlib
import io
import json
import statistics
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper

import lightos

sys.path.insert(0, __file__.rsplit("/", 2)[0] + "/tests/python")
sys.path.insert(0, __file__.rsplit("/", 1)[0])
import graph_host  # noqa: E402
import onnx_interop  # noqa: E402

THREADS = graph_host.THREADS


def main(lightos_bin, models, work):
    subprocess.run(["mkdir", "-p", work], check=True)
    # 1. A tiny model: every microsecond is the API's.
    tiny = f"{work}/add.onnx"
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16])
    z = helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 16])
    g = helper.make_graph([helper.make_node("Add", ["x", "y"], ["z"])], "tiny", [x, y], [z])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, tiny)
    feed = {"x": np.ones((1, 16), np.float32), "y": np.ones((1, 16), np.float32)}
    o = graph_host.ort_session(tiny)
    s = lightos.InferenceSession(tiny, device="local", threads=THREADS)
    assert np.array_equal(s.run(None, feed)[0], o.run(None, feed)[0])
    t_ort = graph_host.timed(lambda: o.run(None, feed), 5000, 200) * 1e3
    t_ours = graph_host.timed(lambda: s.run(None, feed), 5000, 200) * 1e3
    # 2. ResNet-50 at batch 8: Python against the CLI on the same engine.
    d = f"{work}/resnet50"
    subprocess.run(["mkdir", "-p", d], check=True)
    with contextlib.redirect_stdout(io.StringIO()) as out:
        onnx_interop.prepare(f"{models}/light_resnet50.onnx", d, 7)
    name = out.getvalue().strip()
    model8 = graph_host.batched(f"{d}/model.onnx", 8)
    x8 = np.repeat(np.load(f"{d}/input.npy"), 8, axis=0)
    big = lightos.InferenceSession(model8, device="local", threads=THREADS)
    # Alternating rounds, so that the machine's drift reaches both sides alike.
    py_runs, cli_runs = [], []
    for _ in range(4):
        py_runs.append(graph_host.timed(lambda: big.run(None, {name: x8}), 5, 1))
        cli = subprocess.run([lightos_bin, "--json", "model", "bench", model8, "--on", "local", "--threads",
                              str(THREADS), "--warmup", "1", "--repeat", "5"],
                             check=True, capture_output=True, text=True).stdout
        cli_runs.append(json.loads(cli)["ms"]["p50"])
    t_py, t_cli = statistics.median(py_runs), statistics.median(cli_runs)
    per_call = t_ours / t_ort
    overhead = (t_py / t_cli - 1) * 100
    print(f"PYTHON-SUMMARY: per-call time {per_call:.2f}× onnxruntime's (target ≤ 1.0 "
          f"{'met' if per_call <= 1.0 else 'not met'}); ResNet-50 batch 8 from Python "
          f"{overhead:+.1f} % against the CLI (target ≤ 2 % {'met' if overhead <= 2.0 else 'not met'})")
    print()
    print("| what (host, 2 threads) | lightos (Python) | baseline | baseline is | lightos / baseline |")
    print("|---|---|---|---|---|")
    print(f"| `session.run` on a one-Add model, per call | {t_ours:.1f} µs | {t_ort:.1f} µs | onnxruntime 1.23.2's `InferenceSession.run` | {per_call:.2f} |")
    print(f"| ResNet-50 (light, random weights), batch 8, per run | {t_py:.1f} ms | {t_cli:.1f} ms | `lightos model bench --on local` (the same engine) | {t_py / t_cli:.3f} |")


if __name__ == "__main__":
    main(*sys.argv[1:4])
