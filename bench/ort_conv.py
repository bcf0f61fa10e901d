#!/usr/bin/env python3
"""ONNX Runtime's CPU convolution per layer shape, a baseline for the CPU backend's conv.

Usage: ort_conv.py THREADS SHAPES_JSON   (run with bench/venv.sh's python; SHAPES_JSON: bench/conv_shapes.json)

For each shape {"model", "name", "c", "h", "w", "o", "kh", "kw", "stride", "pad", "dilation", "groups"}:
a one-node ONNX Conv model (input [1, c, h, w] f32; random weights and bias as initializers), run by an
InferenceSession on the CPUExecutionProvider with intra_op_num_threads=THREADS, inter_op_num_threads=1
and the default graph optimizations (ORT_ENABLE_ALL, which on x86 may rewrite the Conv to its NCHWc
form with layout reorders around it: those reorders are part of the time). One warm-up run, then the
median of enough runs for about 0.4 s per shape (3 at least, 2000 at most).

Shapes with c*h*w < 200000 (and dilation 1, groups 1) are also checked once against a float64 numpy
convolution: max |ort - ref| <= 1e-3 * max |ref|. Prints one JSON object

    {"onnxruntime": version, "onnx": version, "threads": T,
     "results": {"<model>/<name>": secs}, "checked": ["<model>/<name>", ...]}

and exits 1 (after printing it, with the culprits on stderr) if a checked shape does not match.
"""
import json
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

TARGET_S, MIN_REPS, MAX_REPS = 0.4, 3, 2000
CHECK_BELOW = 200_000  # c*h*w

threads, shapes = int(sys.argv[1]), json.load(open(sys.argv[2]))
rng = np.random.default_rng(1)


def out_size(n, k, s, p, d):
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def conv_model(sh, w, b):
    c, h, wd, o = sh["c"], sh["h"], sh["w"], sh["o"]
    oh = out_size(h, sh["kh"], sh["stride"], sh["pad"], sh["dilation"])
    ow = out_size(wd, sh["kw"], sh["stride"], sh["pad"], sh["dilation"])
    node = helper.make_node(
        "Conv", ["x", "w", "b"], ["y"],
        kernel_shape=[sh["kh"], sh["kw"]], strides=[sh["stride"]] * 2, pads=[sh["pad"]] * 4,
        dilations=[sh["dilation"]] * 2, group=sh["groups"])
    graph = helper.make_graph(
        [node], "conv",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c, h, wd])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, o, oh, ow])],
        initializer=[numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model, (o, oh, ow)


def reference(x, w, b, sh, oshape):
    """float64 convolution, dilation 1 and groups 1 only."""
    p, s, kh, kw = sh["pad"], sh["stride"], sh["kh"], sh["kw"]
    xp = np.pad(x[0].astype(np.float64), ((0, 0), (p, p), (p, p)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(1, 2))[:, ::s, ::s]
    win = win[:, : oshape[1], : oshape[2]]  # (c, oh, ow, kh, kw)
    return np.tensordot(w.astype(np.float64), win, axes=([1, 2, 3], [0, 3, 4])) + b[:, None, None]


opts = ort.SessionOptions()
opts.intra_op_num_threads = threads
opts.inter_op_num_threads = 1
opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL  # the default, stated
opts.log_severity_level = 3

results, checked, bad = {}, [], []
for sh in shapes:
    key = f"{sh['model']}/{sh['name']}"
    c, h, wd, o, g = sh["c"], sh["h"], sh["w"], sh["o"], sh["groups"]
    bound = 1.0 / np.sqrt(c // g * sh["kh"] * sh["kw"])
    w = rng.uniform(-bound, bound, (o, c // g, sh["kh"], sh["kw"])).astype(np.float32)
    b = rng.uniform(-bound, bound, o).astype(np.float32)
    x = rng.uniform(-1, 1, (1, c, h, wd)).astype(np.float32)
    model, oshape = conv_model(sh, w, b)
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    feed = {"x": x}
    y = sess.run(None, feed)[0]  # warm-up
    if c * h * wd < CHECK_BELOW and sh["dilation"] == 1 and g == 1:
        ref = reference(x, w, b, sh, oshape)
        err = float(np.max(np.abs(y[0] - ref)) / np.max(np.abs(ref)))
        if y.shape != (1, *oshape) or not err <= 1e-3:
            bad.append(f"{key}: shape {y.shape} vs {(1, *oshape)}, relative error {err:.2e}")
        checked.append(key)
    t = time.perf_counter()
    sess.run(None, feed)
    est = time.perf_counter() - t
    reps = max(MIN_REPS, min(MAX_REPS, int(TARGET_S / max(est, 1e-7))))
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        sess.run(None, feed)
        times.append(time.perf_counter() - t)
    times.sort()
    results[key] = times[len(times) // 2]

print(json.dumps({"onnxruntime": ort.__version__, "onnx": onnx.__version__, "threads": threads,
                  "results": results, "checked": checked}))
if bad:
    print("ort_conv.py: ONNX Runtime's output differs from the numpy reference:\n  " + "\n  ".join(bad),
          file=sys.stderr)
    sys.exit(1)
