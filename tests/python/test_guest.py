"""`import lightos` in the guest against the real module (tests/python/guest.sh, which boots with
one photonic NPU and starts lightosd as cpu0): sessions whose every primitive is a job of
/dev/lightos, compared with the CLI and with onnxruntime run in the same guest; photonic0 running a
network's MATMULs (the per-node profile says so); an executor killed mid-run. The host's Python,
NumPy and onnxruntime come through qemu/run --host-fs; the guest's own binaries are under
/run/guest."""
import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import lightos

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import onnx_interop  # noqa: E402
import transformer_models  # noqa: E402

GUEST_BIN = "/run/guest/usr/bin"
pytestmark = pytest.mark.skipif(not os.path.exists("/dev/lightos"), reason="needs the kernel module (guest only)")


def relative(a, b):
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def test_devices_are_the_kernels():
    names = {d["name"]: d for d in lightos.devices()}
    assert {"cpu0", "photonic0"} <= set(names), names
    assert names["photonic0"]["kind"] == "device" and names["photonic0"]["ops"] == ["matmul"]
    assert names["cpu0"]["kind"] == "executor" and "conv2d" in names["cpu0"]["ops"]
    # Temperature and power come from a thermal guard: photonic0 has one, an executor none.
    assert 0 < names["photonic0"]["temperature_c"] < 85 and names["photonic0"]["power_w"] > 0
    assert names["cpu0"]["power_w"] is None


def test_squeezenet_on_cpu0_equals_the_cli_and_matches_onnxruntime(tmp_path):
    models = os.environ["LIGHTOS_LIGHT_MODELS"]
    with contextlib.redirect_stdout(io.StringIO()) as out:  # onnxruntime, in this guest
        onnx_interop.prepare(f"{models}/light_squeezenet.onnx", str(tmp_path), 7)
    name = out.getvalue().strip()
    x = np.load(tmp_path / "input.npy")
    s = lightos.InferenceSession(str(tmp_path / "model.onnx"), device="cpu0")
    assert s.device.startswith("cpu0 via /dev/lightos"), s.device
    (y,) = s.run(None, {name: x})
    assert relative(y, np.load(tmp_path / "expected.npy")) <= 1e-4
    prof = s.profile()
    assert prof and all(p["device"] == "cpu0" for p in prof), {p["device"] for p in prof}
    doc = subprocess.run(
        [f"{GUEST_BIN}/lightos", "--json", "model", "run", str(tmp_path / "model.onnx"), "--on", "cpu0",
         "--input", f"{name}={tmp_path / 'input.npy'}", "--output-dir", str(tmp_path / "cli")],
        check=True, capture_output=True, text=True).stdout
    np.testing.assert_array_equal(y, np.load(json.loads(doc)["outputs"][0]["file"]))


def test_the_encoder_layer_on_cpu0_matches_onnxruntime(tmp_path):
    transformer_models.build(str(tmp_path), 7)
    x = np.load(tmp_path / "encoder_layer.input.npy")
    s = lightos.InferenceSession(str(tmp_path / "encoder_layer.onnx"), device="cpu0")
    (y,) = s.run(None, {s.get_inputs()[0].name: x})
    assert relative(y, np.load(tmp_path / "encoder_layer.expected.npy")) <= 1e-4


def mlp(path, seed=5):
    """x[16,64] · W1[64,48] → Relu → · W2[48,10], with onnx.helper."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    w1 = rng.normal(0, 0.2, (64, 48)).astype(np.float32)
    w2 = rng.normal(0, 0.2, (48, 10)).astype(np.float32)
    g = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w1"], ["h"], name="fc1"),
         helper.make_node("Relu", ["h"], ["r"], name="act"),
         helper.make_node("MatMul", ["r", "w2"], ["y"], name="fc2")],
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [16, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [16, 10])],
        [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")],
    )
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), path)
    return w1, w2


def test_photonic0_runs_the_matmuls_within_its_analog_error(tmp_path):
    w1, w2 = mlp(str(tmp_path / "mlp.onnx"))
    x = np.random.default_rng(1).uniform(-1, 1, (16, 64)).astype(np.float32)
    s = lightos.InferenceSession(str(tmp_path / "mlp.onnx"), device="photonic0")
    (y,) = s.run(None, {"x": x})
    # photonic0 is analog: each MATMUL carries the modelled error (lightos_runtime::tolerance:
    # PHOTONIC_MATMUL 0.2 for partial tiles), two in a chain add in quadrature: photonic_network(2).
    assert relative(y, np.maximum(x @ w1, 0) @ w2) <= 0.2 * np.sqrt(2)
    prof = s.profile()
    matmuls = [p for p in prof if p["primitive"] == "matmul"]
    assert {p["node"] for p in matmuls} == {"fc1", "fc2"}, prof
    assert all(p["device"] == "photonic0" for p in matmuls), prof
    # photonic0 runs only MATMUL: the other primitives (the ReLU, copies) went elsewhere.
    assert all(p["device"] != "photonic0" for p in prof if p["primitive"] != "matmul"), prof


def start_executor(name):
    p = subprocess.Popen([f"{GUEST_BIN}/lightosd", "--name", name], stderr=subprocess.DEVNULL)
    for _ in range(200):
        if any(d["name"] == name for d in lightos.devices()):
            return p
        time.sleep(0.05)
    p.kill()
    raise AssertionError(f"lightosd --name {name} did not register")


def test_an_executor_killed_mid_run_fails_the_run_clearly(tmp_path):
    transformer_models.build(str(tmp_path), 7)
    victim = start_executor("victim0")
    try:
        s = lightos.InferenceSession(str(tmp_path / "encoder_layer.onnx"), device="victim0")
        x = np.load(tmp_path / "encoder_layer.input.npy")
        feed = {s.get_inputs()[0].name: x}
        s.run(None, feed)  # once whole: the executor works
        caught = []

        def run():
            try:
                for _ in range(50):
                    s.run(None, feed)
            except lightos.LightOSError as e:
                caught.append(e)

        t = threading.Thread(target=run)
        t.start()
        time.sleep(1.0)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        t.join(timeout=120)
        assert not t.is_alive(), "the run hung after its executor died"
        assert caught, "50 runs finished though the executor was killed after 1 s"
        e = caught[0]
        assert "DEVICE_LOST" in e.reason or "DeviceLost" in e.reason or "victim0" in e.reason, e.reason
        assert e.hint
        # The session is not wedged: the next run fails at once (no victim0) or, routed elsewhere,
        # ends; it never hangs.
        try:
            (y,) = s.run(None, feed)
            expected = np.load(tmp_path / "encoder_layer.expected.npy")
            assert relative(y, expected) <= 1e-4
        except lightos.LightOSError as again:
            assert again.reason and again.hint
        s.close()
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait()
