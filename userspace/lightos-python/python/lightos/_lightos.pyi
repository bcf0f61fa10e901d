"""Type stubs of the extension module behind ``lightos``."""
from os import PathLike
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

__version__: str

class LightOSError(RuntimeError):
    """A LightOS failure."""

    errno: Optional[int]
    """The errno a system call returned (``EINVAL`` for a bad argument), or None."""
    reason: str
    """What went wrong; the kernel's own words where it gave some."""
    hint: str
    """What to do about it."""

def devices(node: str = "/dev/lightos") -> List[Dict[str, Any]]:
    """The backends that run primitives: the kernel's (name, backend_id, kind, ops, dtypes,
    deterministic_ops, load, jobs, errors, temperature_c, thermal_state, power_w), or without ``node`` one
    entry ``name="local"`` whose ``kind`` says it is the CPU backend in this process."""

class NodeArg:
    """An input or output of a model, as onnxruntime's ``NodeArg``."""

    name: str
    shape: List[Union[int, str]]
    """Sizes; a string for a symbolic dimension."""
    type: str
    """``tensor(float)`` or ``tensor(int64)``."""

class InferenceSession:
    """An onnxruntime-style session over LightOS."""

    def __init__(
        self,
        path_or_bytes: Union[str, "PathLike[str]", bytes],
        device: str = "auto",
        passes: str = "all",
        threads: int = 2,
        node: str = "/dev/lightos",
    ) -> None:
        """Loads, optimizes and (for fixed input shapes) compiles the model for ``device``:
        ``"auto"``, ``"local"``, ``"governor"`` or a backend's name. Raises LightOSError."""
    def get_inputs(self) -> List[NodeArg]: ...
    def get_outputs(self) -> List[NodeArg]: ...
    @property
    def device(self) -> Optional[str]:
        """Where it runs, in words; None until compiled."""
    def run(
        self,
        output_names: Optional[Sequence[str]],
        input_feed: Dict[str, np.ndarray],
        out: Optional[Sequence[np.ndarray]] = None,
    ) -> List[np.ndarray]:
        """Runs once; float32 outputs in ``output_names``' order (all when None). Feeds must have
        the input's dtype (float32, or int64 for token ids); a non-contiguous array is copied.
        Ctrl-C stops the run between primitives (through the kernel: after the batch of 16 in
        flight) and raises KeyboardInterrupt; the session stays usable. ``out``: one writable,
        C-contiguous float32 array per output asked for, of its shape, which receive the results
        and are returned."""
    def profile(self) -> List[Dict[str, Any]]:
        """The last run's primitives in order: node, op, primitive, device, time_us."""
    def close(self) -> None:
        """Releases the session's buffers; later calls raise LightOSError."""

DType = Union[str, type, np.dtype]

class Tensor:
    """A typed window on a buffer: ``numpy.asarray(t)`` is a writable view of its bytes (no copy),
    ``np.from_dlpack(t)`` too (versioned DLPack capsules)."""

    @property
    def shape(self) -> Tuple[int, ...]: ...
    @property
    def dtype(self) -> str:
        """``float32``, ``float16``, ``bfloat16``, ``int8``, ``uint8``, ``int32`` or ``int64``."""
    @property
    def nbytes(self) -> int: ...
    @property
    def address(self) -> int:
        """Its first element's address in this process (a view's ``ctypes.data``)."""
    @property
    def offset(self) -> int:
        """Its byte offset in its buffer."""
    @property
    def __array_interface__(self) -> Dict[str, Any]: ...
    def __dlpack__(
        self,
        *,
        stream: Optional[Any] = None,
        max_version: Optional[Tuple[int, int]] = None,
        dl_device: Optional[Tuple[int, int]] = None,
        copy: Optional[bool] = None,
    ) -> Any:
        """A DLPack capsule of these bytes (zero-copy; ``copy=True`` raises BufferError)."""
    def __dlpack_device__(self) -> Tuple[int, int]:
        """``(1, 0)``: host memory."""
    def view(self, shape: Sequence[int], dtype: Optional[DType] = None, offset: int = 0) -> "Tensor":
        """Another window on the same buffer; LightOSError when it does not fit."""
    def numpy(self) -> np.ndarray:
        """``numpy.asarray(self)``: a view."""

class Buffer(Tensor):
    """Memory a Context allocated (whole pages), viewed as one tensor."""

    @property
    def handle(self) -> Optional[int]:
        """The kernel's handle; None in process or once the context closed."""
    @property
    def size(self) -> int:
        """Bytes allocated (whole pages through the kernel)."""

class Context:
    """Buffers and single primitives, through /dev/lightos or (without it) in this process."""

    device: str
    """Where its primitives run, in words."""
    closed: bool
    def __init__(self, device: str = "auto", node: str = "/dev/lightos") -> None:
        """``device``: ``"auto"`` (the kernel's routing), a backend's name, or ``"local"``."""
    def buffer(
        self,
        nbytes: Optional[int] = None,
        *,
        shape: Optional[Sequence[int]] = None,
        dtype: Optional[DType] = None,
    ) -> Buffer:
        """``nbytes`` zeroed bytes (uint8), or room for ``shape`` of ``dtype`` (float32)."""
    def run(
        self, op: str, inputs: Sequence[Tensor], out: Tensor, *, axis: Optional[int] = None
    ) -> Tensor:
        """One primitive (matmul, add, mul, relu, gelu, softmax, exp, tanh, sigmoid, sqrt, erf,
        reciprocal, neg, sub, div, max, min, pow) into ``out``; waits for it and returns ``out``."""
    def close(self) -> None:
        """Destroys the buffers' handles; NumPy views stay valid (the mappings keep the pages)."""
    def __enter__(self) -> "Context": ...
    def __exit__(self, *exc: Any) -> bool: ...

def from_dlpack(x: Any, ctx: Optional[Context] = None) -> Tensor:
    """A tensor of ``x``'s memory when it lies in a LightOS buffer, else a copy in a new buffer
    of ``ctx`` (a default Context when None)."""

def thermal(node: str = "/dev/lightos") -> List[Dict[str, Any]]:
    """Every device with a thermal guard (name, state, temperature_c, throttle_c, shutdown_c,
    power_mw, throttles, shutdowns, …); empty without the kernel module."""

class ThermalEvents(Iterator[Dict[str, Any]]):
    """Thermal events (seq, time_ns, backend_id, device, kind, temperature_c, laser_limit_mw)."""

    lost: int
    """Events the kernel's log overwrote before they were read."""
    def __next__(self) -> Dict[str, Any]: ...

def thermal_events(
    timeout: Optional[float] = None, after: Optional[int] = None, node: str = "/dev/lightos"
) -> ThermalEvents:
    """Events from now on (or after ``after``); the iterator ends after ``timeout`` seconds
    without one. LightOSError (ENOENT) without the kernel module."""
