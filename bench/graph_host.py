"""The graph engine on the host against ONNX Runtime and tract, same machine, same run, same thread
count (2), on networks with random weights (tests/python/onnx_interop.py prepare):

    graph_host.py LIGHTOS_BINARY MODELS_DIR WORK_DIR

Per network: latency at batch 1 (median of 20 runs after 3 warm-up runs) of `lightos model bench
--on local --threads 2` (the CPU backend's kernels in process; the same program the kernel runs),
ONNX Runtime's CPU execution provider (intra-op threads 2, all graph optimizations) and tract
(its Python bindings: load, typed model, runnable); the ratio is ONNX Runtime's latency over ours (> 1: we are
faster). Then each pass switched off (`--passes all,-NAME`) against all on, and the memory plan's
peak against the naive sum. Then the transformer encoder layer (tests/python/transformer_models.py)
at batch 1 (latency) and batch 8 (throughput, sequences per second) on the three engines. Prints
markdown tables.
"""
import contextlib
import io
import json
import statistics
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 2)[0] + "/tests/python")
import onnx_interop  # noqa: E402
import transformer_models  # noqa: E402

RUNS, WARMUP, THREADS = 20, 3, 2


def ours(lightos, model, passes="all"):
    out = subprocess.run(
        [lightos, "--json", "model", "bench", model, "--on", "local", "--threads", str(THREADS),
         "--warmup", str(WARMUP), "--repeat", str(RUNS), "--passes", passes],
        check=True, capture_output=True, text=True).stdout
    return json.loads(out)["ms"]["p50"]


def peak(lightos, model, passes):
    """The memory plan's peak (bytes) after `passes` (`lightos model optimize`)."""
    out = subprocess.run([lightos, "--json", "model", "optimize", model, "--passes", passes],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)["memory"]["peak"]


def ort_session(model):
    """ONNX Runtime's CPU execution provider on `model`: THREADS intra-op threads, one inter-op,
    all graph optimizations (the default)."""
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = THREADS
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


def timed(run, runs=RUNS, warmup=WARMUP):
    """The median of `runs` timed calls of `run` after `warmup` untimed ones, in ms."""
    for _ in range(warmup):
        run()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        run()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def batched(model, batch):
    """`model` (a prepared light network) with batch `batch` (a size, or a name for a symbolic
    batch): its input's and output's first dimension set, and every Reshape target that starts
    with 1 made to copy the batch from its input (0)."""
    import onnx
    from onnx import numpy_helper
    m = onnx.load(model)
    g = m.graph
    inits = {i.name: i for i in g.initializer}
    names = set(inits)
    for v in [i for i in g.input if i.name not in names] + list(g.output):
        if isinstance(batch, str):
            v.type.tensor_type.shape.dim[0].dim_param = batch
        else:
            v.type.tensor_type.shape.dim[0].dim_value = batch
    for n in g.node:
        if n.op_type == "Reshape" and n.input[1] in inits:
            shape = numpy_helper.to_array(inits[n.input[1]]).copy()
            if shape[0] == 1:
                shape[0] = 0
                inits[n.input[1]].CopyFrom(numpy_helper.from_array(shape, n.input[1]))
    del g.value_info[:]
    out = model.replace(".onnx", f"-batch{batch}.onnx")
    onnx.save(m, out)
    return out


def main(lightos, models, work):
    import onnxruntime as ort
    import tract

    rows, passes, memory, ratios, batch8 = [], [], [], [], []
    for name in ["squeezenet", "resnet50"]:
        d = f"{work}/{name}"
        subprocess.run(["mkdir", "-p", d], check=True)
        with contextlib.redirect_stdout(io.StringIO()):  # prepare prints the input's name
            onnx_interop.prepare(f"{models}/light_{name}.onnx", d, 7)
        model = f"{d}/model.onnx"
        x = np.load(f"{d}/input.npy")
        sess = ort_session(model)
        feed = {sess.get_inputs()[0].name: x}
        t_ort = timed(lambda: sess.run(None, feed))
        # tract 0.23: load → typed model → runnable (its C API optimizes on the way to runnable).
        runnable = tract.onnx().load(model).into_model().into_runnable()
        t_tract = timed(lambda: runnable.run([x]))
        # Their sessions go before ours run: onnxruntime's idle workers spin for a while.
        del sess, runnable
        t_ours = ours(lightos, model)
        rows.append(f"| {name} | {t_ours:.1f} | {t_ort:.1f} | {t_tract:.1f} | {t_ort / t_ours:.2f} | {t_tract / t_ours:.2f} |")
        ratios.append(f"{t_ort / t_ours:.2f} on {name} at batch 1")
        # Throughput at batch 8: images per second, the same three engines.
        model8 = batched(model, 8)
        x8 = np.repeat(x, 8, axis=0)
        sess8 = ort_session(model8)
        t8_ort = timed(lambda: sess8.run(None, {sess8.get_inputs()[0].name: x8}))
        try:
            runnable8 = tract.onnx().load(model8).into_model().into_runnable()
            t8_tract = timed(lambda: runnable8.run([x8]))
        except Exception as e:  # say so in the table
            print(f"tract: {name} at batch 8: {e}", file=sys.stderr)
            t8_tract = float("nan")
        del sess8
        t8_ours = ours(lightos, model8)
        per_s = lambda ms: 8e3 / ms  # noqa: E731
        batch8.append(f"| {name} | {per_s(t8_ours):.1f} | {per_s(t8_ort):.1f} | {per_s(t8_tract):.1f} | "
                      f"{t8_ort / t8_ours:.2f} | {t8_tract / t8_ours:.2f} |")
        ratios.append(f"{t8_ort / t8_ours:.2f} on {name} at batch 8")
        peak_on = peak(lightos, model, "all")
        for p in ["fuse", "batchnorm", "identity"]:
            # All on timed again beside each pass off, so that the machine's drift cancels.
            t_on = ours(lightos, model)
            t_off = ours(lightos, model, f"all,-{p}")
            peak_off = peak(lightos, model, f"all,-{p}")
            passes.append(f"| {name} | {p} | {t_off:.1f} | {t_on:.1f} | {t_off / t_on:.2f} | "
                          f"{peak_off / 1e6:.1f} | {peak_on / 1e6:.1f} |")
        info = json.loads(subprocess.run([lightos, "--json", "model", "inspect", model], check=True,
                                         capture_output=True, text=True).stdout)["memory"]
        memory.append(f"| {name} | {info['peak'] / 1e6:.1f} | {info['naive'] / 1e6:.1f} | {info['peak'] / info['naive']:.2f} |")
    encoder = []
    for batch in [1, 8]:
        d = f"{work}/encoder-{batch}"
        subprocess.run(["mkdir", "-p", d], check=True)
        with contextlib.redirect_stdout(io.StringIO()):  # build prints the models' names
            transformer_models.build(d, 7, batch)
        model = f"{d}/encoder_layer.onnx"
        x = np.load(f"{d}/encoder_layer.input.npy")
        sess = ort_session(model)
        t_ort = timed(lambda: sess.run(None, {"x": x}))
        try:
            runnable = tract.onnx().load(model).into_model().into_runnable()
            t_tract = timed(lambda: runnable.run([x]))
        except Exception as e:  # an op tract lacks: say so in the table
            print(f"tract: encoder layer: {e}", file=sys.stderr)
            t_tract = float("nan")
        sess = runnable = None  # their idle workers gone before ours run
        t_ours = ours(lightos, model)
        per_s = lambda ms: batch * 1e3 / ms  # noqa: E731
        encoder.append(f"| {batch} | {t_ours:.2f} ({per_s(t_ours):.0f}/s) | {t_ort:.2f} ({per_s(t_ort):.0f}/s) | "
                       f"{t_tract:.2f} ({per_s(t_tract):.0f}/s) | {t_ort / t_ours:.2f} | {t_tract / t_ours:.2f} |")
        ratios.append(f"{t_ort / t_ours:.2f} on the encoder layer at batch {batch}")
    met = all(float(r.split()[0]) >= 1.0 for r in ratios)
    print(f"GRAPH-SUMMARY: throughput against onnxruntime's: {', '.join(ratios)}; "
          f"target ≥ 1.0 {'met' if met else 'not met'}")
    print()
    print("| network (batch 1, random weights) | lightos-graph in process (ms) | onnxruntime 1.23.2 CPU EP (ms) | tract 0.23.9 (ms) | onnxruntime / ours | tract / ours |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    print()
    print("| network (batch 8) | lightos-graph in process (images/s) | onnxruntime (images/s) | tract (images/s) | ours / onnxruntime's throughput | ours / tract's |")
    print("|---|---|---|---|---|---|")
    print("\n".join(batch8))
    print()
    print("| network | pass off | latency with it off (ms) | all on (ms) | off / on | arena peak with it off (MB) | all on (MB) |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(passes))
    print()
    print("| encoder layer batch (x[B,64,256], 4 heads, FF 1024) | lightos-graph in process (ms, sequences/s) | onnxruntime (ms, /s) | tract (ms, /s) | onnxruntime / ours | tract / ours |")
    print("|---|---|---|---|---|---|")
    print("\n".join(encoder))
    print()
    print("| network | planned arena peak (MB) | naive sum (MB) | peak / naive |")
    print("|---|---|---|---|")
    print("\n".join(memory))


if __name__ == "__main__":
    main(*sys.argv[1:4])
