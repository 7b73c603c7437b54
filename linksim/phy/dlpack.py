"""The PHY boundary: turn any array a codec hands over into a torch tensor.

linksim's physical layer is PyTorch (Sionna 2.x). Codecs written with other
array libraries hand over their arrays through DLPack: ``torch.from_dlpack``
wraps the producer's memory without a copy whenever the devices allow.

Accepted inputs of :func:`as_tensor`:

* ``torch.Tensor`` -- returned as is (same object, no copy);
* ``numpy.ndarray`` and NumPy scalars -- shared with ``torch.from_numpy`` when the
  array is writable and natively ordered; otherwise copied (see below);
* any object implementing ``__dlpack__`` (JAX, CuPy, TensorFlow >= 2.12 eager
  tensors, Paddle, ...) -- ``torch.from_dlpack``, zero-copy;
* a legacy DLPack capsule (``PyCapsule`` named ``"dltensor"``, e.g. from
  ``tf.experimental.dlpack.to_dlpack``) -- ``torch.from_dlpack``, zero-copy.

Anything else raises ``TypeError`` naming the received type.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = ["as_tensor"]


def _numpy_to_tensor(a: np.ndarray) -> torch.Tensor:
    """NumPy array -> CPU tensor, sharing memory where that is safe."""
    if a.dtype.hasobject or a.dtype.kind in "USVMm":
        raise TypeError(
            f"as_tensor: NumPy arrays of dtype {a.dtype} cannot become a torch tensor"
        )
    if not a.dtype.isnative:
        # torch only understands the machine's byte order: convert (a copy).
        a = a.astype(a.dtype.newbyteorder("="))
    if not a.flags.writeable:
        # A read-only array (np.broadcast_to, a memory-mapped file opened 'r', an
        # array exported by another library as immutable) must not be shared:
        # torch tensors are always writable, so an in-place op on the tensor
        # would silently write into memory its owner promised nobody would
        # modify (torch.from_numpy only warns about it). Copy instead.
        a = np.array(a, order="C", copy=True)
    elif any(s < 0 for s in a.strides) or any(s % a.itemsize for s in a.strides):
        # torch.from_numpy / DLPack cannot describe negative strides (a[::-1]) or
        # strides that are not a multiple of the element size (views into
        # structured arrays): fall back to a contiguous copy.
        a = np.ascontiguousarray(a)
    try:
        # Positive, element-aligned strides (including non-contiguous slices
        # such as a[:, ::2]) are shared as a strided tensor view.
        return torch.from_numpy(a)
    except TypeError as exc:  # dtypes torch does not support (e.g. float128)
        raise TypeError(
            f"as_tensor: NumPy arrays of dtype {a.dtype} cannot become a torch tensor ({exc})"
        ) from exc


def as_tensor(x: Any, device: torch.device | str | None = None) -> torch.Tensor:
    """Turn a torch tensor, a NumPy array or a DLPack-capable array into a tensor.

    Args:
        x: ``torch.Tensor``; ``numpy.ndarray`` (or NumPy scalar); any object with
            ``__dlpack__`` (JAX, CuPy, TensorFlow, ...); or a DLPack ``PyCapsule``.
            Shape and dtype are kept as they are (no casting).
        device: where the result must live (``"cpu"``, ``"cuda"``, ``"cuda:1"``,
            a ``torch.device``); ``None`` keeps the input's device.

    Returns:
        A ``torch.Tensor`` with the same shape and element type. It shares memory
        with ``x`` (zero-copy) when ``x`` is a tensor, a writable natively ordered
        NumPy array with non-negative strides, or a DLPack producer, and no device
        move is needed; otherwise it is a copy. Autograd history of a torch input is
        kept.

    Raises:
        TypeError: ``x`` is none of the above (the message names its type), or a
            NumPy array whose dtype torch cannot represent (object, strings...).
    """
    if isinstance(x, torch.Tensor):
        t = x
    elif isinstance(x, (np.ndarray, np.generic)):
        t = _numpy_to_tensor(np.asarray(x))
    elif hasattr(x, "__dlpack__") or type(x).__name__ == "PyCapsule":
        t = torch.from_dlpack(x)
    else:
        raise TypeError(
            "as_tensor: expected a torch.Tensor, a numpy.ndarray or an object "
            f"implementing __dlpack__, received {type(x).__module__}.{type(x).__qualname__}"
        )
    if device is not None:
        t = t.to(torch.device(device))
    return t
