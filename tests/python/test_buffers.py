"""lightos.Context, Buffer, Tensor, DLPack and the thermal API. Run twice by make test: on the host
(no /dev/lightos: buffers are this process's memory, the CPU backend runs the primitives here) by
tests/python/python-package.sh, and in the guest against the real module (tests/python/guest.sh:
the buffers are kernel buffer objects mapped into the process, the primitives jobs of cpu0, and
photonic0's guard reports temperatures and events)."""
import ctypes
import gc
import os
import sys
import time

import numpy as np
import pytest

import lightos

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from npu_faults import inject  # noqa: E402

KERNEL = os.path.exists("/dev/lightos")
EINVAL, ENODEV, ENOENT = 22, 19, 2


def mapping_of(address):
    """The /proc/self/maps line whose range holds `address`."""
    with open("/proc/self/maps") as f:
        for line in f:
            lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
            if lo <= address < hi:
                return line.strip()
    return None


@pytest.fixture
def ctx():
    c = lightos.Context(device="cpu0" if KERNEL else "auto")
    yield c
    c.close()


def test_the_context_says_where_it_runs(ctx):
    if KERNEL:
        assert ctx.device.startswith("cpu0 via /dev/lightos"), ctx.device
    else:
        assert ctx.device.startswith("local"), ctx.device


def test_a_numpy_view_is_the_buffer_mapping_not_a_copy(ctx):
    b = ctx.buffer(shape=(64, 64))
    v = np.asarray(b)
    assert v.shape == (64, 64) and v.dtype == np.float32 and v.flags.writeable
    assert v.ctypes.data == b.address
    assert not v.any()  # new buffers are zeroed
    line = mapping_of(b.address)
    if KERNEL:
        # The pages are /dev/lightos's (a mapping of the device file), with a kernel handle.
        assert line is not None and "/dev/lightos" in line, line
        assert b.handle is not None and b.size % 4096 == 0
    else:
        assert b.handle is None
    v[3, 5] = 7.5
    assert np.asarray(b)[3, 5] == 7.5
    assert np.shares_memory(v, np.asarray(b))
    assert np.asarray(b.view((16,), offset=4 * 64 * 3))[5] == 7.5


def test_numpy_writes_reach_a_job_and_its_output_is_seen_in_place(ctx):
    a, w, out = ctx.buffer(shape=(32, 48)), ctx.buffer(shape=(48, 16)), ctx.buffer(shape=(32, 16))
    rng = np.random.default_rng(7)
    va, vw, vo = np.asarray(a), np.asarray(w), np.asarray(out)  # views taken before the job
    va[:] = rng.standard_normal((32, 48), dtype=np.float32)
    vw[:] = rng.standard_normal((48, 16), dtype=np.float32)
    assert ctx.run("matmul", [a, w], out) is out
    np.testing.assert_allclose(vo, va @ vw, rtol=1e-5, atol=1e-5)
    # A second job on the same pages sees what numpy wrote in between.
    va[:] = 1.0
    ctx.run("matmul", [a, w], out)
    np.testing.assert_allclose(vo, np.ones((32, 48), np.float32) @ vw, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "op,ref",
    [
        ("add", lambda x, y: x + y),
        ("sub", lambda x, y: x - y),
        ("max", lambda x, y: np.maximum(x, y)),
        ("exp", lambda x: np.exp(x)),
        ("tanh", lambda x: np.tanh(x)),
        ("relu", lambda x: np.maximum(x, 0)),
    ],
)
def test_element_wise_ops_match_numpy(ctx, op, ref):
    n = ref.__code__.co_argcount
    bufs = [ctx.buffer(shape=(8, 33)) for _ in range(n)]
    rng = np.random.default_rng(3)
    for b in bufs:
        np.asarray(b)[:] = rng.standard_normal((8, 33), dtype=np.float32)
    out = ctx.buffer(shape=(8, 33))
    ctx.run(op, bufs, out)
    np.testing.assert_allclose(np.asarray(out), ref(*[np.asarray(b) for b in bufs]), rtol=1e-5, atol=1e-6)


def test_softmax_over_an_axis_and_views_at_offsets(ctx):
    b = ctx.buffer(shape=(2, 5, 3))
    x = np.asarray(b)
    x[:] = np.arange(30, dtype=np.float32).reshape(2, 5, 3) / 10
    big = ctx.buffer(shape=(4, 2, 5, 3))
    out = big.view((2, 5, 3), offset=2 * 30 * 4)  # the third [2,5,3] block of the big buffer
    ctx.run("softmax", [b], out, axis=1)
    e = np.exp(x - x.max(axis=1, keepdims=True))
    np.testing.assert_allclose(np.asarray(out), e / e.sum(axis=1, keepdims=True), rtol=1e-5)
    assert not np.asarray(big)[:2].any()  # nothing written outside the view


def capsule_name(capsule):
    get = ctypes.pythonapi.PyCapsule_GetName
    get.restype, get.argtypes = ctypes.c_char_p, [ctypes.py_object]
    return get(capsule).decode()


def test_dlpack_shares_memory_with_versioned_capsules(ctx):
    b = ctx.buffer(shape=(4, 6))
    assert b.__dlpack_device__() == (1, 0)
    assert capsule_name(b.__dlpack__(max_version=(1, 0))) == "dltensor_versioned"
    assert capsule_name(b.__dlpack__()) == "dltensor"  # a consumer that predates DLPack 1.0
    x = np.from_dlpack(b)
    assert x.ctypes.data == b.address and x.shape == (4, 6) and x.dtype == np.float32
    # Versioned capsules carry no read-only flag: NumPy's array is writable, and it is the buffer.
    assert x.flags.writeable
    x[1, 2] = 3.25
    assert np.asarray(b)[1, 2] == 3.25
    t = b.view((6,), offset=4 * 6)
    y = np.from_dlpack(t)
    assert y.ctypes.data == b.address + 24 and y[2] == 3.25
    with pytest.raises(BufferError):
        b.__dlpack__(max_version=(1, 0), copy=True)


def test_from_dlpack_shares_lightos_memory_and_copies_the_rest(ctx):
    b = ctx.buffer(shape=(3, 4))
    np.asarray(b)[:] = np.arange(12).reshape(3, 4)
    # A NumPy array over a LightOS buffer comes back as a tensor of the same memory.
    same = lightos.from_dlpack(np.from_dlpack(b))
    assert same.address == b.address and same.shape == (3, 4)
    assert lightos.from_dlpack(b) is b
    # A host array is copied into a new buffer, strides honoured.
    src = np.arange(24, dtype=np.float32).reshape(4, 6)[:, ::2]
    c = lightos.from_dlpack(src, ctx)
    assert isinstance(c, lightos.Buffer) and c.address != src.ctypes.data
    np.testing.assert_array_equal(np.asarray(c), src)
    out = ctx.buffer(shape=(4, 3))
    ctx.run("neg", [c], out)  # a copy is a buffer of ctx: jobs take it
    np.testing.assert_array_equal(np.asarray(out), -src)
    i = lightos.from_dlpack(np.arange(5, dtype=np.int64), ctx)
    assert i.dtype == "int64" and list(np.asarray(i)) == [0, 1, 2, 3, 4]


def test_a_view_outlives_its_context(ctx):
    b = ctx.buffer(shape=(1024,))
    v = np.asarray(b)
    v[:] = 2.0
    ctx.close()
    assert ctx.closed and b.handle is None
    gc.collect()
    # The mapping keeps its pages: reading and writing the view is safe after the handle is gone.
    assert v.sum() == 2048.0
    v[0] = 5.0
    assert np.asarray(b)[0] == 5.0
    with pytest.raises(lightos.LightOSError) as e:
        ctx.run("relu", [b], b)
    assert e.value.errno == ENODEV and "closed" in e.value.reason
    with pytest.raises(lightos.LightOSError):
        ctx.buffer(16)


def test_bad_arguments_raise_with_errno_and_reason(ctx):
    a, o = ctx.buffer(shape=(4, 4)), ctx.buffer(shape=(4, 5))
    with pytest.raises(lightos.LightOSError) as e:
        ctx.run("add", [a, a], o)  # shapes disagree: the kernel's reason through /dev/lightos
    assert e.value.errno == EINVAL and e.value.reason and e.value.hint
    with pytest.raises(lightos.LightOSError) as e:
        ctx.run("conv9d", [a], a)
    assert e.value.errno == EINVAL and "matmul" in e.value.hint
    with pytest.raises(lightos.LightOSError) as e:
        ctx.run("add", [a], a)
    assert "2 input" in e.value.reason
    with pytest.raises(lightos.LightOSError) as e:
        ctx.buffer()
    assert e.value.errno == EINVAL
    with pytest.raises(lightos.LightOSError) as e:
        a.view((a.size // 4 + 1,))  # one float past the allocation (whole pages through the kernel)
    assert "does not fit" in e.value.reason
    with pytest.raises(lightos.LightOSError) as e:
        ctx.buffer(shape=(2,), dtype="complex64")
    assert "not supported" in e.value.reason
    i = ctx.buffer(shape=(4, 4), dtype=np.int32)
    with pytest.raises(lightos.LightOSError) as e:
        ctx.run("relu", [i], i)
    assert "float" in e.value.reason
    with pytest.raises(lightos.LightOSError) as e:
        np.asarray(ctx.buffer(shape=(4,), dtype="bfloat16"))
    assert "bfloat16" in e.value.reason
    with lightos.Context(device="cpu0" if KERNEL else "auto") as other:
        x = other.buffer(shape=(4, 4))
        with pytest.raises(lightos.LightOSError) as e:
            ctx.run("relu", [x], a)
        assert "another context" in e.value.reason


def test_thermal_reports_guards_or_nothing_without_the_kernel():
    devices = lightos.thermal()
    if not KERNEL:
        assert devices == []
        with pytest.raises(lightos.LightOSError) as e:
            lightos.thermal_events(timeout=0.1)
        assert e.value.errno == ENOENT
        return
    names = {d["name"] for d in devices}
    assert "photonic0" in names, devices
    p = next(d for d in devices if d["name"] == "photonic0")
    assert 0 < p["temperature_c"] < p["throttle_c"] < p["shutdown_c"] and p["state"] == "normal"


@pytest.mark.skipif(not KERNEL, reason="thermal events come from the kernel's guards (guest only)")
def test_thermal_events_iterate_until_the_timeout():
    start = time.monotonic()
    quiet = list(lightos.thermal_events(timeout=0.3))
    assert quiet == [] and time.monotonic() - start >= 0.3
    events = lightos.thermal_events(timeout=60)
    # As vm_photonic_driver heats it: 2 W of runaway heat with the TEC failed passes 75 °C.
    assert inject(0, "cooling-failure on").startswith("ok")
    assert inject(0, "runaway 2").startswith("ok")
    try:
        ev = next(events)
        assert ev["device"] == "photonic0" and ev["kind"] == "throttle", ev
        assert ev["temperature_c"] >= 70
    finally:
        assert inject(0, "clear").startswith("ok")
    # Cooling down ends the throttle: the same iterator yields it.
    ends = [e for e in events if e["kind"] == "throttle-end"]
    assert ends, "no throttle-end within 60 s of clearing the fault"


def test_the_readme_buffers_example_runs_as_written():
    import contextlib
    import io
    import re

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(root, "README.md")) as f:
        block = re.search(r"<!-- python-buffers-example -->\s*```python\n(.*?)```", f.read(), re.S)
    assert block, "README.md has a buffers example block"
    code = block.group(1)
    assert len(code.strip().splitlines()) <= 5
    with contextlib.redirect_stdout(io.StringIO()) as out:
        exec(compile(code, "README.md", "exec"), {})
    printed = np.array([[float(v) for v in re.findall(r"[-\d.e+]+", line)] for line in out.getvalue().strip().splitlines()])
    np.testing.assert_allclose(printed, np.exp(np.eye(4)), rtol=1e-6)


def test_a_session_writes_its_outputs_into_a_buffer(ctx, tmp_path):
    import onnx
    from onnx import TensorProto, helper

    g = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"], name="act")], "relu",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(tmp_path / "relu.onnx"))
    s = lightos.InferenceSession(str(tmp_path / "relu.onnx"), device="cpu0" if KERNEL else "local")
    out = ctx.buffer(shape=(2, 3))
    x = np.array([[-1, 2, -3], [4, -5, 6]], np.float32)
    (y,) = s.run(None, {"x": x}, out=[out])
    assert y.ctypes.data == out.address  # the returned array is a view of the buffer
    np.testing.assert_array_equal(np.asarray(out), np.maximum(x, 0))
    with pytest.raises(lightos.LightOSError) as e:
        s.run(None, {"x": x}, out=[ctx.buffer(shape=(2, 3), dtype="int32")])
    assert "float32" in e.value.reason
