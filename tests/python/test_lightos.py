"""`import lightos` (userspace/lightos-python), run by tests/python/python-package.sh with the wheel
it built: InferenceSession against onnxruntime and the CLI, bad input, threads, the README's
example. On the host (no /dev/lightos) everything runs on the CPU backend in this process."""
import contextlib
import io
import json
import os
import re
import subprocess
import sys
import threading

import numpy as np
import pytest

import lightos

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import onnx_interop  # noqa: E402
import transformer_models  # noqa: E402


@pytest.fixture(scope="module")
def transformers(tmp_path_factory):
    d = tmp_path_factory.mktemp("transformers")
    transformer_models.build(str(d), 7)
    return d


@pytest.fixture(scope="module")
def squeezenet(tmp_path_factory):
    d = tmp_path_factory.mktemp("squeezenet")
    models = os.environ["LIGHTOS_LIGHT_MODELS"]
    with contextlib.redirect_stdout(io.StringIO()) as out:  # prepare prints the input's name
        onnx_interop.prepare(f"{models}/light_squeezenet.onnx", str(d), 7)
    return d, out.getvalue().strip()


def relative(a, b):
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def test_devices_without_the_kernel_say_the_backend_is_in_process():
    (d,) = lightos.devices(node="/nonexistent/lightos")
    assert d["name"] == "local" and "in-process" in d["kind"]
    assert {"matmul", "conv2d", "gather", "unary"} <= set(d["ops"])
    assert "f32" in d["dtypes"]


@pytest.mark.parametrize("name", ["encoder_layer", "gpt2_block", "ops"])
def test_transformer_blocks_match_onnxruntime_and_the_cli(transformers, name):
    model = str(transformers / f"{name}.onnx")
    x = np.load(transformers / f"{name}.input.npy")
    expected = np.load(transformers / f"{name}.expected.npy")
    s = lightos.InferenceSession(model, device="local")
    (inp,) = s.get_inputs()
    assert inp.type == ("tensor(int64)" if name == "gpt2_block" else "tensor(float)")
    assert inp.shape == list(x.shape)
    (y,) = s.run(None, {inp.name: x})
    assert y.dtype == np.float32 and y.shape == expected.shape
    assert relative(y, expected) <= 1e-4
    prof = s.profile()
    assert len(prof) > 0 and all(p["device"] == "local" and p["time_us"] >= 0 for p in prof)
    assert {p["node"] for p in prof} <= {n.name for n in __import__("onnx").load(model).graph.node}
    # The CLI runs the same engine on the same input: the same bits.
    out = transformers / f"cli-{name}"
    doc = subprocess.run(
        [os.environ["LIGHTOS_CLI"], "--json", "model", "run", model, "--on", "local",
         "--input", f"{inp.name}={transformers / f'{name}.input.npy'}", "--output-dir", str(out)],
        check=True, capture_output=True, text=True).stdout
    cli = np.load(json.loads(doc)["outputs"][0]["file"])
    np.testing.assert_array_equal(y, cli)


def test_squeezenet_from_bytes_matches_onnxruntime(squeezenet):
    d, input_name = squeezenet
    x = np.load(d / "input.npy")
    with open(d / "model.onnx", "rb") as f:
        s = lightos.InferenceSession(f.read(), device="auto", node="/nonexistent/lightos")
    assert "local" in s.device
    (y,) = s.run([s.get_outputs()[0].name], {input_name: x})
    assert relative(y, np.load(d / "expected.npy")) <= 1e-4


NINE = ["bvlc_alexnet", "zfnet512", "vgg19", "resnet50", "densenet121", "inception_v1", "inception_v2",
        "shufflenet", "squeezenet"]


@pytest.mark.parametrize("name", NINE)
def test_the_nine_model_zoo_networks_match_onnxruntime(tmp_path, name):
    models = os.environ["LIGHTOS_LIGHT_MODELS"]
    with contextlib.redirect_stdout(io.StringIO()) as out:  # random weights, ORT's output
        onnx_interop.prepare(f"{models}/light_{name}.onnx", str(tmp_path), 7)
    s = lightos.InferenceSession(str(tmp_path / "model.onnx"), device="local")
    (y,) = s.run(None, {out.getvalue().strip(): np.load(tmp_path / "input.npy")})
    assert relative(y, np.load(tmp_path / "expected.npy")) <= 1e-4
    s.close()
    os.remove(tmp_path / "model.onnx")  # VGG-19's is 548 MB


@pytest.fixture(scope="module")
def ops_session(transformers):
    return lightos.InferenceSession(str(transformers / "ops.onnx"), device="local"), \
        np.load(transformers / "ops.input.npy")


@pytest.mark.parametrize("feed, what", [
    ({"y": None}, "is not an input"),
    ({}, "is not fed"),
    ({"x": np.zeros((1, 3, 4, 6), np.float32)}, "has shape"),
    ({"x": np.zeros((1, 3, 4, 5), np.float64)}, "float32"),
    ({"x": [[1.0]]}, "float32"),
])
def test_bad_feeds_raise_with_errno_and_hint(ops_session, feed, what):
    s, _ = ops_session
    with pytest.raises(lightos.LightOSError) as e:
        s.run(None, feed)
    assert what in str(e.value)
    assert e.value.errno == 22 and e.value.hint and e.value.reason


def test_results_go_into_caller_provided_arrays(ops_session):
    s, x = ops_session
    (want,) = s.run(None, {"x": x})
    buf = np.zeros(want.shape, np.float32)
    (got,) = s.run(None, {"x": x}, out=[buf])
    assert got is buf
    np.testing.assert_array_equal(buf, want)
    with pytest.raises(lightos.LightOSError, match="has shape"):
        s.run(None, {"x": x}, out=[np.zeros((1, 2), np.float32)])
    with pytest.raises(lightos.LightOSError, match="arrays for 1 outputs"):
        s.run(None, {"x": x}, out=[buf, buf])
    with pytest.raises(lightos.LightOSError, match="C-contiguous"):
        s.run(None, {"x": x}, out=[np.zeros(want.shape[::-1], np.float32).T])


def test_unknown_output_and_closed_session_raise(transformers):
    s = lightos.InferenceSession(str(transformers / "ops.onnx"), device="local")
    x = np.load(transformers / "ops.input.npy")
    with pytest.raises(lightos.LightOSError, match="not an output"):
        s.run(["nope"], {"x": x})
    s.close()
    with pytest.raises(lightos.LightOSError, match="closed"):
        s.run(None, {"x": x})


def test_a_bad_model_and_a_missing_device_raise(tmp_path, transformers):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model at all")
    with pytest.raises(lightos.LightOSError, match="ONNX"):
        lightos.InferenceSession(str(bad))
    with pytest.raises(lightos.LightOSError) as e:
        lightos.InferenceSession(str(transformers / "ops.onnx"), device="cpu0", node=str(tmp_path / "none"))
    assert e.value.hint


def test_a_non_contiguous_feed_is_copied_in_logical_order(ops_session):
    s, x = ops_session
    (want,) = s.run(None, {"x": x})
    strided = np.ascontiguousarray(np.swapaxes(x, 2, 3)).swapaxes(2, 3)
    assert not strided.flags["C_CONTIGUOUS"]
    (got,) = s.run(None, {"x": strided})
    np.testing.assert_array_equal(got, want)
    # Fortran order is contiguous too, in the other order: read in logical order all the same.
    fortran = np.asfortranarray(x)
    assert fortran.flags["F_CONTIGUOUS"] and not fortran.flags["C_CONTIGUOUS"]
    (got,) = s.run(None, {"x": fortran})
    np.testing.assert_array_equal(got, want)


def test_threads_share_one_session(transformers):
    s = lightos.InferenceSession(str(transformers / "encoder_layer.onnx"), device="local")
    x = np.load(transformers / "encoder_layer.input.npy")
    (want,) = s.run(None, {"x": x})
    results, errors = [], []

    def work():
        try:
            for _ in range(3):
                results.append(s.run(None, {"x": x})[0])
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 12
    for r in results:
        np.testing.assert_array_equal(r, want)


def test_ctrl_c_stops_a_long_run_between_primitives_and_the_session_still_works(tmp_path):
    import signal
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    # 240 1024² matrix products by the identity: 0.5 TFLOP, seconds of work even where AVX-512 runs
    # them at 300 GFLOP/s (sixty were done within the 0.3 s once), with exact results.
    n, depth = 1024, 240
    nodes = [helper.make_node("MatMul", ["x" if i == 0 else f"h{i - 1}", "w"], [f"h{i}"], name=f"m{i}")
             for i in range(depth)]
    g = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [n, n])],
                          [helper.make_tensor_value_info(f"h{depth - 1}", TensorProto.FLOAT, [n, n])],
                          [numpy_helper.from_array(np.eye(n, dtype=np.float32), "w")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, str(tmp_path / "chain.onnx"))
    s = lightos.InferenceSession(str(tmp_path / "chain.onnx"), device="local")
    x = np.ones((n, n), np.float32)
    # SIGINT every 0.2 s until one has stopped the run (one alone, sent at a fixed time, was once
    # not seen: it can land while the first run compiles), each after the first ignored.
    fired = threading.Event()

    def on_sigint(signum, frame):
        if not fired.is_set():
            fired.set()
            raise KeyboardInterrupt

    def interrupt():
        while not fired.wait(0.2):
            os.kill(os.getpid(), signal.SIGINT)

    previous = signal.signal(signal.SIGINT, on_sigint)
    sender = threading.Thread(target=interrupt, daemon=True)
    sender.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            s.run(None, {"x": x})
    finally:
        fired.set()
        sender.join()
        signal.signal(signal.SIGINT, previous)
    # It stopped between primitives: the first ran, the last never did.
    prof = s.profile()
    assert len(prof) == depth and prof[0]["time_us"] > 0 and prof[-1]["time_us"] == 0
    (y,) = s.run(None, {"x": x})
    np.testing.assert_array_equal(y, x)


def test_the_readme_example_runs_as_written(squeezenet, tmp_path):
    d, _ = squeezenet
    readme = open(os.path.join(ROOT, "README.md")).read()
    block = re.search(r"<!-- python-example -->\s*```python\n(.*?)```", readme, re.S)
    assert block, "README.md has a python example block"
    code = block.group(1)
    assert len(code.strip().splitlines()) <= 5
    os.symlink(d / "model.onnx", tmp_path / "squeezenet.onnx")
    # In the fresh venv the wheel was pip-installed into (only numpy beside it), as a user would.
    python = os.environ.get("LIGHTOS_FRESH_PYTHON", sys.executable)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = subprocess.run([python, "-c", code], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    assert "(1, 1000, 1, 1)" in run.stdout and "local" in run.stdout
