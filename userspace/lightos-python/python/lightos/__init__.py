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

Errors are ``lightos.LightOSError`` (a ``RuntimeError``) with ``errno``, ``reason`` and ``hint``.
"""
from ._lightos import InferenceSession, LightOSError, NodeArg, __version__, devices

__all__ = ["InferenceSession", "LightOSError", "NodeArg", "devices", "__version__"]
