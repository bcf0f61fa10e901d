"""lightos-agent under load on loopback, host, against the same model run in process:

    agent_load.py LIGHTOS_BINARY AGENT_BINARY MODELS_DIR WORK_DIR

SqueezeNet (light, seeded random weights, its batch dimension made symbolic so requests can be
batched) served by the agent in process (2 threads), requests of one image each sent by closed-loop
clients (each sends its next request when the last is answered) over HTTP with Triton's binary
tensor extension, for DURATION seconds after a warm-up, at concurrency 1, 8 and 32, with dynamic
batching (max_batch 8, max_queue_delay_ms 5) and without (max_batch 1). The in-process baseline is
`lightos model bench --on local` on the same file and input (the same engine, no server).
Targets: p99 at concurrency 1 (without batching) ≤ 1.2× the in-process p99; throughput at
concurrency 32 with batching ≥ 2× without. Prints AGENT-SUMMARY and a markdown table.
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

DURATION = 8.0
WARMUP = 2.0
THREADS = 2


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request_body(name, x):
    head = json.dumps({"inputs": [{"name": name, "shape": list(x.shape), "datatype": "FP32",
                                   "parameters": {"binary_data_size": x.nbytes}}]}).encode()
    return head + x.tobytes(), len(head)


def load(port, body, head_len, clients, duration):
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
            c.request("POST", "/v2/models/squeezenet/infer", body, headers)
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


def serve(agent_bin, work, model, input_name, x, max_batch):
    root = f"{work}/agent-b{max_batch}"
    os.makedirs(f"{root}/models/squeezenet/1", exist_ok=True)
    subprocess.run(["cp", model, f"{root}/models/squeezenet/1/model.onnx"], check=True)
    with open(f"{root}/models/squeezenet/config.toml", "w") as f:
        f.write(f'device = "local"\nmax_batch = {max_batch}\nmax_queue_delay_ms = 5\nqueue = 256\n')
    port = free_port()
    with open(f"{root}/agent.toml", "w") as f:
        f.write(f'[server]\nhttp = "127.0.0.1:{port}"\ngrpc = "127.0.0.1:{free_port()}"\n'
                f'node = "/nonexistent/lightos"\nthreads = {THREADS}\n[models]\nrepository = "{root}/models"\n')
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
        lat = load(port, body, head_len, clients, DURATION)
        rows[clients] = (len(lat) / DURATION, q(lat, 0.5) * 1e3, q(lat, 0.99) * 1e3)
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=120)
    return rows


def main(lightos_bin, agent_bin, models, work):
    os.makedirs(work, exist_ok=True)
    d = f"{work}/squeezenet"
    os.makedirs(d, exist_ok=True)
    with contextlib.redirect_stdout(io.StringIO()) as out:
        onnx_interop.prepare(f"{models}/light_squeezenet.onnx", d, 7)
    name = out.getvalue().strip()
    model = graph_host.batched(f"{d}/model.onnx", "N")
    x = np.load(f"{d}/input.npy")
    bench = json.loads(subprocess.run(
        [lightos_bin, "--json", "model", "bench", model, "--on", "local", "--threads", str(THREADS),
         "--input", f"{name}={d}/input.npy", "--warmup", "3", "--repeat", "60"],
        check=True, capture_output=True, text=True).stdout)
    base_p50, base_p99 = bench["ms"]["p50"], bench["ms"]["p99"]
    off = serve(agent_bin, work, model, name, x, 1)
    on = serve(agent_bin, work, model, name, x, 8)
    print("| SqueezeNet, 1 image a request | concurrency | requests/s | p50 ms | p99 ms |")
    print("| --- | ---: | ---: | ---: | ---: |")
    print(f"| in process (`lightos model bench --on local`) | 1 | {1e3 / base_p50:.1f} | {base_p50:.2f} | {base_p99:.2f} |")
    for label, rows in (("agent, no batching", off), ("agent, dynamic batching (8, 5 ms)", on)):
        for c, (tput, p50, p99) in rows.items():
            print(f"| {label} | {c} | {tput:.1f} | {p50:.2f} | {p99:.2f} |")
    p99_ratio = off[1][2] / base_p99
    gain = on[32][0] / off[32][0]
    met = lambda ok: "met" if ok else "not met"  # noqa: E731
    print(f"AGENT-SUMMARY: p99 at concurrency 1 {off[1][2]:.2f} ms = {p99_ratio:.2f}x in process "
          f"({base_p99:.2f} ms; target ≤ 1.2x: {met(p99_ratio <= 1.2)}); throughput at concurrency 32 with "
          f"batching {on[32][0]:.1f}/s = {gain:.2f}x without ({off[32][0]:.1f}/s; target ≥ 2x: {met(gain >= 2)})")


if __name__ == "__main__":
    main(*sys.argv[1:5])
