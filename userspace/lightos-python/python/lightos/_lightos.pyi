"""Type stubs of the extension module behind ``lightos``."""
from os import PathLike
from typing import Any, Dict, List, Optional, Sequence, Union

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
    deterministic_ops, load, jobs, errors, temperature_c, thermal_state), or without ``node`` one
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
