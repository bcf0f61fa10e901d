"""lightos-agent under load on loopback, host, against the same model run in process:

    agent_load.py LIGHTOS_BINARY AGENT_BINARY MODELS_DIR WORK_DIR

SqueezeNet (light, seeded random weights) and the transformer encoder layer of
tests/python/transformer_models.py (seeded random weights), each with its batch dimension made
symbolic (bench/graph_host.py `batched`: its reshape targets copy the batch) so that requests can be
batched, served by the agent in process (2 threads); requests of one sample each sent by
closed-loop clients (each sends its next request when the last is answered) over HTTP with
Triton's binary tensor extension, for DURATION seconds after a warm-up, at concurrency 1, 8 and 32,
with dynamic batching (max_batch 8, max_queue_delay_ms 5) and without (max_batch 1). The in-process
baselines are `lightos model bench --on local` on the same file at batch 1 (latency) and at batch 8
(throughput per sample: the most batching can give on this machine, with no server).
Targets: p99 at concurrency 1 (without batching) ≤ 1.2× the in-process p99; throughput at
concurrency 32 with batching ≥ 2× without. Prints one AGENT-SUMMARY line and a markdown table.

A third model, an MLP (x[N,256], four 256×256 MatMul+Relu layers, a 256×16 head), is small enough
to load under TCG: the guest's run (bench/run.sh, through `host-run`) serves it alone. The
environment picks what runs: AGENT_LOAD_MODELS (squeezenet,encoder,mlp by default), AGENT_LOAD_NODE and AGENT_LOAD_DEVICE (the agent's kernel node and
the models' device: by default no node and `local`, the agent's own process), AGENT_LOAD_WARMUP (s).
"""
import contextlib
import http.client
import io
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 2)[0] + "/tests/python")
sys.path.insert(0, __file__.rsplit("/", 1)[0])
import graph_host  # noqa: E402
import onnx_interop  # noqa: E402
import transformer_models  # noqa: E402

DURATION = 8.0
WARMUP = float(os.environ.get("AGENT_LOAD_WARMUP", "2"))
THREADS = 2
MODELS = os.environ.get("AGENT_LOAD_MODELS", "squeezenet,encoder,mlp").split(",")
NODE = os.environ.get("AGENT_LOAD_NODE", "/nonexistent/lightos")
DEVICE = os.environ.get("AGENT_LOAD_DEVICE", "local")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request_body(name, x):
    head = json.dumps({"inputs": [{"name": name, "shape": list(x.shape), "datatype": "FP32",
                                   "parameters": {"binary_data_size": x.nbytes}}]}).encode()
    return head + x.tobytes(), len(head)


def load(port, model, body, head_len, clients, duration):
    """Closed-loop clients for `duration` s (after WARMUP s): latencies (s) and completions."""
    stop = threading.Event()
    measuring = threading.Event()
    lat, lock = [], threading.Lock()
    errors = []

    def client():
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        headers = {"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": str(head_len)}
        while not stop.is_set():
            t = time.perf_counter()
            c.request("POST", f"/v2/models/{model}/infer", body, headers)
            r = c.getresponse()
            r.read()
            dt = time.perf_counter() - t
            if r.status != 200:
                errors.append(r.status)
                continue
            if measuring.is_set() and not stop.is_set():
                with lock:
                    lat.append(dt)
        c.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    time.sleep(WARMUP)
    measuring.set()
    time.sleep(duration)
    stop.set()
    for t in threads:
        t.join()
    if errors:
        raise SystemExit(f"agent_load: {len(errors)} requests failed (statuses {sorted(set(errors))})")
    return lat


def q(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p * (len(v) - 1))))]


def serve(agent_bin, work, tag, model, input_name, x, max_batch):
    root = f"{work}/agent-{tag}-b{max_batch}"
    os.makedirs(f"{root}/models/{tag}/1", exist_ok=True)
    subprocess.run(["cp", model, f"{root}/models/{tag}/1/model.onnx"], check=True)
    with open(f"{root}/models/{tag}/config.toml", "w") as f:
        f.write(f'device = "{DEVICE}"\nmax_batch = {max_batch}\nmax_queue_delay_ms = 5\nqueue = 256\n')
    port = free_port()
    with open(f"{root}/agent.toml", "w") as f:
        f.write(f'[server]\nhttp = "127.0.0.1:{port}"\ngrpc = "127.0.0.1:{free_port()}"\n'
                f'node = "{NODE}"\nthreads = {THREADS}\n[models]\nrepository = "{root}/models"\n')
    log = open(f"{root}/agent.log", "w")
    p = subprocess.Popen([agent_bin, "--config", f"{root}/agent.toml"], stderr=log)
    for _ in range(600):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/v2/health/ready")
            if c.getresponse().status == 200:
                break
        except OSError:
            pass
        time.sleep(0.1)
    body, head_len = request_body(input_name, x)
    rows = {}
    for clients in (1, 8, 32):
        progress(f"{tag} served, max_batch {max_batch}, {clients} clients")
        lat = load(port, tag, body, head_len, clients, DURATION)
        rows[clients] = (len(lat) / DURATION, q(lat, 0.5) * 1e3, q(lat, 0.99) * 1e3)
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=120)
    return rows


def progress(text):
    print(f"agent_load: {text}", file=sys.stderr, flush=True)


def in_process(lightos_bin, model, name, x, path, repeat):
    """`lightos model bench --on local` of `model` on input `x` (saved at `path`): p50 and p99 (ms)."""
    progress(f"{os.path.basename(model)} in process, batch {x.shape[0]}, {repeat} runs")
    np.save(path, x)
    bench = json.loads(subprocess.run(
        [lightos_bin, "--json", "model", "bench", model, "--on", "local", "--threads", str(THREADS),
         "--input", f"{name}={path}", "--warmup", "3", "--repeat", str(repeat)],
        check=True, capture_output=True, text=True).stdout)
    return bench["ms"]["p50"], bench["ms"]["p99"]


def measure(lightos_bin, agent_bin, work, tag, label, model, name, x):
    """One model's table rows and its summary."""
    base_p50, base_p99 = in_process(lightos_bin, model, name, x, f"{work}/{tag}-x1.npy", 60)
    b8_p50, _ = in_process(lightos_bin, model, name, np.repeat(x, 8, axis=0), f"{work}/{tag}-x8.npy", 20)
    off = serve(agent_bin, work, tag, model, name, x, 1)
    on = serve(agent_bin, work, tag, model, name, x, 8)
    rows = [f"| {label} | in process, batch 1 (`lightos model bench --on local`) | 1 | {1e3 / base_p50:.1f} "
            f"| {base_p50:.2f} | {base_p99:.2f} |",
            f"| {label} | in process, batch 8 (per sample) | – | {8e3 / b8_p50:.1f} | – | – |"]
    for mode, res in (("agent, no batching", off), ("agent, dynamic batching (8, 5 ms)", on)):
        for c, (tput, p50, p99) in res.items():
            rows.append(f"| {label} | {mode} | {c} | {tput:.1f} | {p50:.2f} | {p99:.2f} |")
    p99_ratio = off[1][2] / base_p99
    gain = on[32][0] / off[32][0]
    ceiling = (8e3 / b8_p50) / (1e3 / base_p50)
    met = lambda ok: "met" if ok else "not met"  # noqa: E731
    summary = (f"{label}: p99 at concurrency 1 {off[1][2]:.2f} ms = {p99_ratio:.2f}x in process "
               f"({base_p99:.2f} ms; target ≤ 1.2x: {met(p99_ratio <= 1.2)}); throughput at concurrency 32 "
               f"with batching {on[32][0]:.1f}/s = {gain:.2f}x without ({off[32][0]:.1f}/s; target ≥ 2x: "
               f"{met(gain >= 2)}; in process, batch 8 runs {ceiling:.2f}x the samples/s of batch 1)")
    return rows, summary


def main(lightos_bin, agent_bin, models, work):
    os.makedirs(work, exist_ok=True)

    def squeezenet():
        d = f"{work}/squeezenet"
        os.makedirs(d, exist_ok=True)
        with contextlib.redirect_stdout(io.StringIO()) as out:
            onnx_interop.prepare(f"{models}/light_squeezenet.onnx", d, 7)
        return out.getvalue().strip(), graph_host.batched(f"{d}/model.onnx", "N"), np.load(f"{d}/input.npy")

    def encoder():
        t = f"{work}/transformers"
        os.makedirs(t, exist_ok=True)
        with contextlib.redirect_stdout(io.StringIO()):
            transformer_models.build(t, 7, 1)
        return "x", graph_host.batched(f"{t}/encoder_layer.onnx", "N"), np.load(f"{t}/encoder_layer.input.npy")

    def mlp():
        import onnx
        from onnx import TensorProto, helper, numpy_helper
        rng = np.random.default_rng(7)
        w = [rng.normal(0, 1 / 16, (256, 256)).astype(np.float32) for _ in range(4)]
        inits = [numpy_helper.from_array(v, f"w{i}") for i, v in enumerate(w)]
        inits.append(numpy_helper.from_array(rng.normal(0, 1 / 16, (256, 16)).astype(np.float32), "head"))
        nodes, h = [], "x"
        for i in range(4):
            nodes += [helper.make_node("MatMul", [h, f"w{i}"], [f"m{i}"]), helper.make_node("Relu", [f"m{i}"], [f"r{i}"])]
            h = f"r{i}"
        nodes.append(helper.make_node("MatMul", [h, "head"], ["y"]))
        g = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 256])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 16])], inits)
        path = f"{work}/mlp.onnx"
        onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), path)
        return "x", path, rng.normal(0, 1, (1, 256)).astype(np.float32)

    where = "in process" if DEVICE == "local" else f"through {NODE} on {DEVICE}"
    print(f"| model, 1 sample a request (agent {where}) | run | concurrency | samples/s | p50 ms | p99 ms |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    summaries = []
    chosen = [m for m in (("squeezenet", "SqueezeNet", squeezenet), ("encoder", "encoder layer [1,64,256]", encoder),
                          ("mlp", "MLP 256-256x4-16", mlp))
              if m[0] in MODELS]
    for tag, label, make in chosen:
        name, model, x = make()
        rows, summary = measure(lightos_bin, agent_bin, work, tag, label, model, name, x)
        print("\n".join(rows), flush=True)
        summaries.append(summary)
    print("AGENT-SUMMARY: " + "; ".join(summaries))


if __name__ == "__main__":
    main(*sys.argv[1:5])
