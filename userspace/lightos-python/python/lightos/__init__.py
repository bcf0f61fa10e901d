"""LightOS from Python.

``lightos.InferenceSession`` runs an ONNX model the way onnxruntime's does, through the LightOS
graph engine: with the kernel module loaded (``/dev/lightos``) every primitive of the network is a
job of the kernel, run by the backend it is routed to (``device="cpu0"``, ``"photonic0"``, …, or
``"auto"``: the kernel's own routing); without it, the CPU backend's kernels run in this process and
``lightos.devices()`` says so.

    >>> import lightos, numpy as np
    >>> s = lightos.InferenceSession("model.onnx", device="auto")
    >>> [i.name for i in s.get_inputs()]
    >>> y, = s.run(None, {"x": np.zeros((1, 3, 224, 224), np.float32)})

``lightos.Context`` gives buffers and single primitives: ``numpy.asarray(ctx.buffer(...))`` is a view
of the very pages a job reads and writes (no copy), and buffers and tensors speak DLPack
(``np.from_dlpack(buf)``; ``lightos.from_dlpack(x)`` shares a LightOS buffer's memory and copies
anything else in). ``lightos.thermal()`` and ``lightos.thermal_events(timeout=…)`` report the
devices' thermal guards.

    >>> with lightos.Context() as ctx:
    ...     a = ctx.buffer(shape=(4, 4)); np.asarray(a)[:] = 1
    ...     y = ctx.run("exp", [a], ctx.buffer(shape=(4, 4)))

Errors are ``lightos.LightOSError`` (a ``RuntimeError``) with ``errno``, ``reason`` and ``hint``.
"""
from ._lightos import (
    Buffer,
    Context,
    InferenceSession,
    LightOSError,
    NodeArg,
    Tensor,
    ThermalEvents,
    __version__,
    devices,
    from_dlpack,
    thermal,
    thermal_events,
)

__all__ = [
    "Buffer",
    "Context",
    "InferenceSession",
    "LightOSError",
    "NodeArg",
    "Tensor",
    "ThermalEvents",
    "devices",
    "from_dlpack",
    "thermal",
    "thermal_events",
    "__version__",
]
