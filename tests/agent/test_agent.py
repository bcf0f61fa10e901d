"""lightos-agent against clients nobody here wrote (Triton's tritonclient) and raw HTTP: the Open
Inference Protocol's health, metadata and inference (JSON and binary tensors), dynamic batching,
bad input, authentication, a full queue, deadlines, a client that vanishes, metrics checked by
promtool, graceful shutdown. Run by tests/agent/agent.sh on the host (models in process) and by
tests/python/guest.sh in the guest (every primitive a job of /dev/lightos on cpu0).

LIGHTOS_AGENT is the agent's binary; PROMTOOL, if set, Prometheus's promtool."""
import concurrent.futures as cf
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import onnx
import pytest
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "python"))
from npu_faults import inject  # noqa: E402

TOKEN = "s3cret-token"
KERNEL = os.path.exists("/dev/lightos")
# The "slow" models' width and depth: 2 GFLOP a 64-row request on the host; a quarter of that in
# the guest, where TCG makes it slower than that still.
WIDTH, DEPTH = (512, 8) if KERNEL else (1024, 16)
# Through the kernel the models run on cpu0 (photonic0, when present, would run their MATMULs with
# its analog error); in process, locally.
DEVICE = 'device = "cpu0"\n' if KERNEL else ""


def mlp_model(path, hidden=16, out=8, repeat=1, seed=3):
    """x[N,hidden] -> (MatMul W + b, Relu) * repeat -> MatMul V[hidden,out]; N symbolic. The
    layers share one W and b (a deep model in a small file)."""
    rng = np.random.default_rng(seed)
    nodes, x = [], "x"
    w = rng.normal(0, 1 / np.sqrt(hidden), (hidden, hidden)).astype(np.float32)
    b = rng.normal(0, 0.1, hidden).astype(np.float32)
    inits = [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")]
    for i in range(repeat):
        nodes += [helper.make_node("MatMul", [x, "w"], [f"m{i}"], name=f"fc{i}"),
                  helper.make_node("Add", [f"m{i}", "b"], [f"a{i}"], name=f"bias{i}"),
                  helper.make_node("Relu", [f"a{i}"], [f"r{i}"], name=f"act{i}")]
        x = f"r{i}"
    v = rng.normal(0, 1 / np.sqrt(hidden), (hidden, out)).astype(np.float32)
    inits.append(numpy_helper.from_array(v, "v"))
    nodes.append(helper.make_node("MatMul", [x, "v"], ["y"], name="head"))
    g = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", hidden])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", out])], inits)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), path)
    ws = [numpy_helper.to_array(i) for i in inits]

    def reference(xv):
        h = xv
        for _ in range(repeat):
            h = np.maximum(h @ ws[0] + ws[1], 0)
        return h @ ws[-1]

    return reference


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Agent:
    """An agent process over a repository in `root`."""

    def __init__(self, root, config_extra=""):
        self.root = root
        self.port = free_port()
        self.url = f"127.0.0.1:{self.port}"
        self.grpc_url = f"127.0.0.1:{free_port()}"
        self.config = os.path.join(root, "agent.toml")
        with open(self.config, "w") as f:
            f.write(f'[server]\nhttp = "{self.url}"\ngrpc = "{self.grpc_url}"\nmax_request_bytes = 1048576\n{config_extra}\n'
                    f'[models]\nrepository = "{root}/models"\n[auth]\ntoken = "{TOKEN}"\n')
        self.log = open(os.path.join(root, "agent.log"), "w+")
        self.proc = subprocess.Popen([os.environ["LIGHTOS_AGENT"], "--config", self.config],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(600):
            if self.proc.poll() is not None:
                raise AssertionError(f"the agent exited {self.proc.returncode}: {self.text()}")
            try:
                if self.get("/v2/health/ready")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"the agent did not become ready: {self.text()}")

    def text(self):
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def request(self, method, path, body=None, headers=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, data, r

    def get(self, path):
        return self.request("GET", path)[:2]

    def post(self, path, doc, headers=None):
        body = doc if isinstance(doc, (bytes, str)) else json.dumps(doc)
        status, data, _ = self.request("POST", path, body, {"Content-Type": "application/json", **(headers or {})})
        return status, (json.loads(data) if data else None)

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=60)
        return self.proc.returncode


@pytest.fixture(scope="module")
def agent(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("agent"))
    refs = {
        "mlp": mlp_model(f"{root}/models/mlp/1/model.onnx"),
        "mlp_nobatch": mlp_model(f"{root}/models/mlp_nobatch/model.onnx"),
        # Slow enough to queue behind.
        "slow": mlp_model(f"{root}/models/slow/1/model.onnx", hidden=WIDTH, repeat=DEPTH),
        "deadline": mlp_model(f"{root}/models/deadline/1/model.onnx", hidden=WIDTH, repeat=DEPTH),
    }
    with open(f"{root}/models/mlp/config.toml", "w") as f:
        f.write(DEVICE + "max_batch = 8\nmax_queue_delay_ms = 50\n")
    with open(f"{root}/models/mlp_nobatch/config.toml", "w") as f:
        f.write(DEVICE + "max_batch = 1\n")
    with open(f"{root}/models/slow/config.toml", "w") as f:
        f.write(DEVICE + "max_batch = 1\nqueue = 1\n")
    with open(f"{root}/models/deadline/config.toml", "w") as f:
        f.write(DEVICE + "max_batch = 1\nqueue = 8\ntimeout_ms = 20\n")
    if KERNEL:
        # An MLP whose MATMULs photonic0 runs (the rest on cpu0): the thermal-shutdown test's model.
        refs["pmlp"] = mlp_model(f"{root}/models/pmlp/1/model.onnx", hidden=64, out=8)
        with open(f"{root}/models/pmlp/config.toml", "w") as f:
            f.write('device = "photonic0"\nmax_batch = 1\n')
        # The same, placed by the PowerGovernor: moved off photonic0 when it shuts down.
        refs["gmlp"] = mlp_model(f"{root}/models/gmlp/1/model.onnx", hidden=64, out=8)
        with open(f"{root}/models/gmlp/config.toml", "w") as f:
            f.write('device = "governor"\nmax_batch = 1\n')
    os.makedirs(f"{root}/models/broken")
    with open(f"{root}/models/broken/model.onnx", "wb") as f:
        f.write(b"not a model")
    a = Agent(root, "" if not KERNEL else 'threads = 1\n')
    a.refs = refs
    yield a
    a.stop()


def test_tritonclient_health_metadata_and_inference(agent):
    c = triton.InferenceServerClient(agent.url)
    assert c.is_server_live() and c.is_server_ready()
    assert c.is_model_ready("mlp") and c.is_model_ready("mlp", "1")
    assert not c.is_model_ready("broken")  # its file is not a model: not loaded, the rest serve
    md = c.get_model_metadata("mlp")
    assert md["name"] == "mlp" and md["versions"] == ["1"]
    assert md["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 16]}]
    assert md["outputs"] == [{"name": "y", "datatype": "FP32", "shape": [-1, 8]}]
    server = c.get_server_metadata()
    assert server["name"] == "lightos-agent" and "binary_tensor_data" in server["extensions"]
    x = np.random.default_rng(1).normal(size=(3, 16)).astype(np.float32)
    for binary in (True, False):
        inp = triton.InferInput("x", [3, 16], "FP32")
        inp.set_data_from_numpy(x, binary_data=binary)
        out = triton.InferRequestedOutput("y", binary_data=binary)
        r = c.infer("mlp", [inp], outputs=[out], request_id="req-7")
        np.testing.assert_allclose(r.as_numpy("y"), agent.refs["mlp"](x), rtol=1e-4, atol=1e-5)
        assert r.get_response()["id"] == "req-7" and r.get_response()["model_version"] == "1"
    index = {m["name"]: m["state"] for m in c.get_model_repository_index()}
    expected = {"broken": "UNAVAILABLE", "deadline": "READY", "mlp": "READY", "mlp_nobatch": "READY",
                "slow": "READY"}
    if KERNEL:
        expected["pmlp"] = expected["gmlp"] = "READY"
    assert index == expected


def test_tritonclient_grpc_health_metadata_and_inference(agent):
    c = triton_grpc.InferenceServerClient(agent.grpc_url)
    assert c.is_server_live() and c.is_server_ready()
    assert c.is_model_ready("mlp") and not c.is_model_ready("broken") and not c.is_model_ready("mlp", "9")
    md = c.get_model_metadata("mlp", as_json=True)
    assert md["name"] == "mlp" and md["versions"] == ["1"] and md["platform"] == "lightos_graph"
    assert md["inputs"] == [{"name": "x", "datatype": "FP32", "shape": ["-1", "16"]}]
    assert c.get_server_metadata(as_json=True)["name"] == "lightos-agent"
    x = np.random.default_rng(4).normal(size=(5, 16)).astype(np.float32)
    inp = triton_grpc.InferInput("x", [5, 16], "FP32")
    inp.set_data_from_numpy(x)
    r = c.infer("mlp", [inp], outputs=[triton_grpc.InferRequestedOutput("y")], request_id="g-1")
    np.testing.assert_allclose(r.as_numpy("y"), agent.refs["mlp"](x), rtol=1e-4, atol=1e-5)
    assert r.get_response(as_json=True)["id"] == "g-1"
    with pytest.raises(InferenceServerException) as e:
        c.infer("nosuch", [inp])
    assert e.value.status() == "StatusCode.NOT_FOUND" and "unknown model" in e.value.message()
    bad = triton_grpc.InferInput("x", [5, 15], "FP32")
    bad.set_data_from_numpy(x[:, :15].copy())
    with pytest.raises(InferenceServerException) as e:
        c.infer("mlp", [bad])
    assert e.value.status() == "StatusCode.INVALID_ARGUMENT" and "shape [5, 15]" in e.value.message()


def test_a_full_queue_is_resource_exhausted_over_grpc(agent):
    c = triton_grpc.InferenceServerClient(agent.grpc_url)
    x = np.ones((64, WIDTH), np.float32)

    def one(_):
        inp = triton_grpc.InferInput("x", [64, WIDTH], "FP32")
        inp.set_data_from_numpy(x)
        try:
            c.infer("slow", [inp])
            return "OK"
        except InferenceServerException as e:
            return e.status()

    with cf.ThreadPoolExecutor(12) as pool:
        codes = list(pool.map(one, range(12)))
    assert "OK" in codes and "StatusCode.RESOURCE_EXHAUSTED" in codes, codes
    assert set(codes) <= {"OK", "StatusCode.RESOURCE_EXHAUSTED"}, codes


def infer_json(agent, model, x, **extra):
    doc = {"inputs": [{"name": "x", "shape": list(x.shape), "datatype": "FP32", "data": x.ravel().tolist()}], **extra}
    return agent.post(f"/v2/models/{model}/infer", doc)


def test_plain_json_over_http_as_curl_sends_it(agent):
    x = np.arange(32, dtype=np.float32).reshape(2, 16) / 32
    status, doc = infer_json(agent, "mlp_nobatch", x)
    assert status == 200, doc
    (y,) = doc["outputs"]
    assert y["name"] == "y" and y["shape"] == [2, 8] and y["datatype"] == "FP32"
    np.testing.assert_allclose(np.array(y["data"]).reshape(2, 8), agent.refs["mlp_nobatch"](x), rtol=1e-4, atol=1e-5)
    # Nested lists are accepted as well as flat ones.
    doc = {"inputs": [{"name": "x", "shape": [2, 16], "datatype": "FP32", "data": x.tolist()}]}
    assert agent.post("/v2/models/mlp_nobatch/infer", doc)[0] == 200


def test_concurrent_requests_are_batched(agent):
    x = np.random.default_rng(2).normal(size=(24, 1, 16)).astype(np.float32)
    with cf.ThreadPoolExecutor(24) as pool:
        results = list(pool.map(lambda row: infer_json(agent, "mlp", row), x))
    for row, (status, doc) in zip(x, results):
        assert status == 200, doc
        np.testing.assert_allclose(np.array(doc["outputs"][0]["data"]).reshape(1, 8), agent.refs["mlp"](row),
                                   rtol=1e-4, atol=1e-5)
    text = agent.get("/metrics")[1].decode()
    count = float(re.search(r'^lightos_inference_batch_size_count\{model="mlp"\} (\S+)', text, re.M).group(1))
    total = float(re.search(r'^lightos_inference_batch_size_sum\{model="mlp"\} (\S+)', text, re.M).group(1))
    # Each request records the rows of the run it was in: sum > count means some runs held several.
    assert total > count, (total, count)


@pytest.mark.parametrize("doc,status,words", [
    (b"{not json", 400, "malformed request JSON"),
    ({"inputs": [{"name": "x", "shape": [1, 15], "datatype": "FP32", "data": [0.0] * 15}]}, 400, "shape [1, 15]"),
    ({"inputs": [{"name": "x", "shape": [1, 16], "datatype": "INT64", "data": [0] * 16}]}, 400, "FP32"),
    ({"inputs": [{"name": "z", "shape": [1, 16], "datatype": "FP32", "data": [0.0] * 16}]}, 400, "no input z"),
    ({"inputs": [{"name": "x", "shape": [1, 16], "datatype": "FP32", "data": [0.0] * 3}]}, 400, "needs 16"),
    ({"inputs": []}, 400, "missing inputs"),
    # Shapes far larger than their data: refused by the count, never allocated (the second's
    # bytes, 2^64, overflow the arithmetic).
    ({"inputs": [{"name": "x", "shape": [1 << 40, 1 << 20], "datatype": "FP32", "data": [0.0]}]}, 400, "needs"),
    ({"inputs": [{"name": "x", "shape": [1 << 58, 16], "datatype": "FP32", "parameters": {"binary_data_size": 0}}]},
     400, "more than this machine can address"),
    ({"inputs": [{"name": "x", "shape": [1, 16], "datatype": "FP32", "data": [0.0] * 16}],
      "outputs": [{"name": "nope"}]}, 400, "no output nope"),
])
def test_bad_requests_are_400_with_a_reason(agent, doc, status, words):
    got, body = agent.post("/v2/models/mlp/infer", doc)
    assert got == status and words in body["error"], body


def test_unknown_models_and_versions_are_404(agent):
    status, body = agent.post("/v2/models/nosuch/infer", {"inputs": []})
    assert status == 404 and "unknown model 'nosuch'" in body["error"]
    status, body = agent.post("/v2/models/mlp/versions/9/infer", {"inputs": []})
    assert status == 404 and "no version 9" in body["error"]
    assert agent.get("/v2/models/nosuch")[0] == 404


def test_an_oversized_request_is_413(agent):
    big = b'{"inputs": [{"name": "x", "shape": [1, 16], "datatype": "FP32", "data": [' + b"0.0," * 400000 + b"0.0]}]}"
    status, _, _ = agent.request("POST", "/v2/models/mlp/infer", big, {"Content-Type": "application/json"})
    assert status == 413


def test_state_changes_need_the_token(agent):
    assert agent.post("/v2/repository/models/mlp_nobatch/unload", {})[0] == 401
    assert agent.post("/v2/repository/models/mlp_nobatch/unload", {}, {"Authorization": "Bearer wrong"})[0] == 401
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert agent.post("/v2/repository/models/mlp_nobatch/unload", {}, auth)[0] == 200
    x = np.zeros((1, 16), np.float32)
    assert infer_json(agent, "mlp_nobatch", x)[0] == 404
    c = triton.InferenceServerClient(agent.url)
    assert not c.is_model_ready("mlp_nobatch")
    assert agent.post("/v2/repository/models/mlp_nobatch/load", {}, auth)[0] == 200
    assert c.is_model_ready("mlp_nobatch") and infer_json(agent, "mlp_nobatch", x)[0] == 200
    status, body = agent.post("/v2/repository/models/broken/load", {}, auth)
    assert status == 400 and "broken" in body["error"]


def test_a_full_queue_is_429_and_the_agent_keeps_serving(agent):
    x = np.ones((64, WIDTH), np.float32)
    with cf.ThreadPoolExecutor(12) as pool:
        statuses = [s for s, _ in pool.map(lambda _: infer_json(agent, "slow", x), range(12))]
    assert statuses.count(200) >= 1 and 429 in statuses, statuses
    assert set(statuses) <= {200, 429}
    status, doc = infer_json(agent, "slow", x)
    assert status == 200, doc


def test_a_request_not_started_by_its_deadline_is_504(agent):
    x = np.ones((64, WIDTH), np.float32)
    with cf.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: infer_json(agent, "deadline", x), range(4)))
    statuses = [s for s, _ in results]
    # One run takes longer than the 20 ms deadline: requests queued behind it miss theirs.
    assert 504 in statuses and set(statuses) <= {200, 504}, statuses
    late = next(doc for s, doc in results if s == 504)
    assert "past its deadline" in late["error"]


def test_a_client_that_disconnects_mid_request_does_not_hurt_the_agent(agent):
    x = np.ones((64, WIDTH), np.float32)
    body = json.dumps({"inputs": [{"name": "x", "shape": [64, WIDTH], "datatype": "FP32", "data": x.ravel().tolist()}]})
    for cut in (len(body) // 2, len(body)):  # mid-body, and after the body while it runs
        s = socket.create_connection(("127.0.0.1", agent.port))
        s.sendall(f"POST /v2/models/slow/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  f"Content-Length: {len(body)}\r\n\r\n".encode() + body[:cut].encode())
        s.close()
    status, doc = infer_json(agent, "mlp", np.zeros((1, 16), np.float32))
    assert status == 200, doc


def test_metrics_follow_prometheus_conventions(agent):
    assert infer_json(agent, "mlp", np.zeros((1, 16), np.float32))[0] == 200
    assert agent.post("/v2/models/mlp/infer", b"{")[0] == 400
    # Device and kernel figures come from a sampler that reads the module once a second.
    for _ in range(30 if KERNEL else 1):
        status, data = agent.get("/metrics")
        assert status == 200
        text = data.decode()
        if not KERNEL or re.search(r'^lightos_kernel_primitives_total\{op="matmul"\} [1-9]', text, re.M):
            break
        time.sleep(0.2)
    for name in ("lightos_inference_requests_total", "lightos_inference_queue_duration_seconds_bucket",
                 "lightos_inference_compute_duration_seconds_bucket", "lightos_inference_request_duration_seconds_bucket",
                 "lightos_inference_batch_size_bucket"):
        assert re.search(rf'^{name}\{{.*model="mlp"', text, re.M), name
    assert re.search(r'^lightos_inference_requests_total\{model="mlp",outcome="failure"\} [1-9]', text, re.M)
    if KERNEL:
        kernel = "\n".join(line for line in text.splitlines() if line.startswith(("lightos_device_jobs", "lightos_kernel_")))
        assert re.search(r'^lightos_device_jobs_total\{device="cpu0"\} [1-9]', text, re.M), kernel
        # The kernel's own per-op counters and latency histograms.
        assert re.search(r'^lightos_kernel_primitives_total\{op="matmul"\} [1-9]', text, re.M), kernel
        assert re.search(r'^lightos_kernel_primitive_latency_seconds_bucket\{.*op="matmul"', text, re.M), kernel
    promtool = os.environ.get("PROMTOOL")
    if not promtool:
        pytest.skip("no promtool (PROMTOOL unset): the exposition was checked by pattern only")
    check = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    # A scraper that asks for OpenMetrics gets it (units declared, counters' families, # EOF).
    status, data, r = agent.request("GET", "/metrics", headers={"Accept": "application/openmetrics-text"})
    om = data.decode()
    assert r.getheader("Content-Type").startswith("application/openmetrics-text") and om.endswith("# EOF\n")
    assert "# UNIT lightos_inference_request_duration_seconds seconds" in om
    assert "# TYPE lightos_inference_requests counter" in om


def test_the_dashboard_view_and_its_event_stream(agent):
    status, page = agent.get("/")
    assert status == 200 and b"<title>LightOS agent</title>" in page
    assert infer_json(agent, "mlp", np.zeros((1, 16), np.float32))[0] == 200
    view = json.loads(agent.get("/api/v1/dashboard")[1])
    mlp = next(m for m in view["models"] if m["name"] == "mlp")
    assert mlp["successes_total"] >= 1 and mlp["p99_ms"] > 0 and mlp["batch_limit"] == 8, mlp
    placed = [p for p in view["placements"] if p["model"] == "mlp"]
    want = ("config", 'device = "cpu0"') if KERNEL else ("auto", "this process runs every op")
    assert any(p["by"] == want[0] and want[1] in p["reason"] for p in placed), placed
    # The broken model never placed an engine: it is not among the models shown.
    assert "broken" not in {m["name"] for m in view["models"]}
    # Server-Sent Events: a snapshot comes at once, as JSON.
    c = http.client.HTTPConnection("127.0.0.1", agent.port, timeout=30)
    c.request("GET", "/api/v1/dashboard/stream")
    r = c.getresponse()
    assert r.status == 200 and r.getheader("Content-Type").startswith("text/event-stream")
    lines = []
    while not lines or not lines[-1].startswith("data:"):
        lines.append(r.fp.readline().decode().strip())
    c.close()
    assert "event: snapshot" in lines, lines
    snap = json.loads(lines[-1][len("data:"):])
    assert "mlp" in {m["name"] for m in snap["models"]} and snap["ready"] is True


def test_graceful_shutdown_answers_what_is_in_flight(tmp_path):
    root = str(tmp_path)
    ref = mlp_model(f"{root}/models/slow/1/model.onnx", hidden=WIDTH, repeat=DEPTH)
    with open(f"{root}/models/slow/config.toml", "w") as f:
        f.write(DEVICE + "max_batch = 1\nqueue = 8\n")
    a = Agent(root)
    x = np.ones((64, WIDTH), np.float32)
    with cf.ThreadPoolExecutor(4) as pool:
        pending = [pool.submit(infer_json, a, "slow", x) for _ in range(4)]
        time.sleep(0.5)
        assert a.stop() == 0, a.text()
        results = [p.result() for p in pending]
    assert all(s == 200 for s, _ in results), [s for s, _ in results]
    np.testing.assert_allclose(np.array(results[0][1]["outputs"][0]["data"]).reshape(64, 8), ref(x), rtol=1e-3, atol=1e-3)
    assert "shutting down" in a.text() and "stopped" in a.text()


def test_a_bad_config_is_an_error_naming_the_line(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[server]\nhttp = "127.0.0.1:0"\nlisten = 1\n[models]\nrepository = "/nonexistent"\n')
    r = subprocess.run([os.environ["LIGHTOS_AGENT"], "--config", str(cfg)], capture_output=True, text=True)
    assert r.returncode == 2 and "line 3" in r.stderr and "unknown field `listen`" in r.stderr, r.stderr
    cfg.write_text('[models]\nrepository = "/nonexistent"\n')
    r = subprocess.run([os.environ["LIGHTOS_AGENT"], "--config", str(cfg)], capture_output=True, text=True)
    assert r.returncode == 2 and "/nonexistent" in r.stderr, r.stderr


def executors(name):
    """Pids of the lightosd processes serving as `name`."""
    pids = []
    for d in os.listdir("/proc"):
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if args and args[0].endswith(b"lightosd") and name.encode() in args:
            pids.append(int(d))
    return pids


def registered(name):
    with open("/sys/kernel/debug/lightos/stats") as f:
        return f"backend {name}" in f.read()


@pytest.mark.skipif(not KERNEL, reason="kills the kernel's executor cpu0 (guest only)")
def test_an_executor_killed_mid_run_fails_requests_clearly_and_the_model_comes_back(agent):
    (victim,) = executors("cpu0")
    x = np.ones((64, WIDTH), np.float32)
    with cf.ThreadPoolExecutor(2) as pool:
        pending = [pool.submit(infer_json, agent, "slow", x) for _ in range(2)]
        time.sleep(1.0)
        os.kill(victim, signal.SIGKILL)
        results = [p.result(timeout=300) for p in pending]  # never hangs
    failed = [doc["error"] for s, doc in results if s != 200]
    assert failed and all(s in (200, 503) for s, _ in results), results
    assert any("DeviceLost" in e or "DEVICE_LOST" in e or "lost" in e for e in failed), failed
    # Without cpu0 a request fails at once, saying so; the agent keeps serving the rest.
    status, doc = infer_json(agent, "mlp_nobatch", np.zeros((1, 16), np.float32))
    assert status == 503 and "cpu0" in doc["error"], doc
    assert agent.get("/v2/health/live")[0] == 200
    # The executor comes back (left running: guest.sh stops every lightosd before its checks).
    subprocess.Popen(["/run/guest/usr/bin/lightosd", "--name", "cpu0"], stderr=subprocess.DEVNULL,
                     start_new_session=True)
    for _ in range(100):
        if registered("cpu0"):
            break
        time.sleep(0.1)
    x1 = np.random.default_rng(9).normal(size=(1, 16)).astype(np.float32)
    for _ in range(60):  # the executor declares its ops just after it registers
        status, doc = infer_json(agent, "mlp_nobatch", x1)
        if status == 200:
            break
        time.sleep(0.5)
    assert status == 200, doc
    np.testing.assert_allclose(np.array(doc["outputs"][0]["data"]).reshape(1, 8), agent.refs["mlp_nobatch"](x1),
                               rtol=1e-4, atol=1e-5)


def governed_placements(agent):
    """The placements the PowerGovernor made for gmlp, oldest first (the dashboard's view)."""
    view = json.loads(agent.get("/api/v1/dashboard")[1])
    return [p for p in view["placements"] if p["model"] == "gmlp" and p["by"] == "governor"]


@pytest.mark.skipif(not KERNEL, reason="heats photonic0 until its guard shuts it down (guest only)")
def test_a_thermal_shutdown_fails_requests_clearly_and_never_hangs(agent):
    x = np.random.default_rng(5).uniform(-1, 1, (4, 64)).astype(np.float32)
    status, doc = infer_json(agent, "pmlp", x)
    assert status == 200, doc
    # The governor put gmlp's matrix products on photonic0 (idle, cool, the earliest to finish).
    x1 = x[:1]
    assert infer_json(agent, "gmlp", x1)[0] == 200
    placed = governed_placements(agent)
    assert placed and placed[-1]["device"].startswith("photonic0"), placed
    # 3 W more than the laser can offset with the TEC failed: emergency shutdown at 85 °C.
    assert inject(0, "cooling-failure on").startswith("ok")
    assert inject(0, "runaway 3").startswith("ok")
    try:
        deadline = time.monotonic() + 120
        statuses = []
        while time.monotonic() < deadline:
            t = time.monotonic()
            status, doc = infer_json(agent, "pmlp", x)
            assert time.monotonic() - t < 60, "a request hung"
            statuses.append(status)
            if status != 200:
                break
            time.sleep(0.5)
        assert statuses[-1] == 503, f"no request failed within 120 s of the heat: {statuses}"
        assert "Thermal" in doc["error"] or "thermal" in doc["error"] or "shutdown" in doc["error"], doc
        # The governed model's request moves: placed anew, off photonic0, and answered.
        status, doc = infer_json(agent, "gmlp", x1)
        assert status == 200, doc
        (y,) = doc["outputs"]
        # On cpu0 now: digital, so exact to float32 rounding.
        np.testing.assert_allclose(np.array(y["data"]).reshape(1, 8), agent.refs["gmlp"](x1), rtol=1e-4, atol=1e-5)
        moved = governed_placements(agent)[-1]
        assert moved["device"].startswith("cpu0"), moved
        assert "cpu0" in moved["reason"], moved
    finally:
        assert inject(0, "clear").startswith("ok")
    # The agent keeps serving what does not need photonic0.
    assert infer_json(agent, "mlp_nobatch", np.zeros((1, 16), np.float32))[0] == 200
