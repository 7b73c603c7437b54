"""Tests of linksim.phy.dlpack.as_tensor."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch.utils.dlpack import to_dlpack

from linksim.phy.dlpack import as_tensor


def test_torch_tensor_passes_through():
    x = torch.randn(3, 4, requires_grad=True)
    assert as_tensor(x) is x


def test_writable_numpy_shares_memory():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    t = as_tensor(a)
    assert t.dtype == torch.float32 and t.shape == (3, 4)
    assert np.shares_memory(t.numpy(), a)
    a[0, 0] = 42.0
    assert t[0, 0] == 42.0


def test_non_contiguous_numpy_is_shared_as_strided_view():
    a = np.arange(24, dtype=np.float64).reshape(4, 6)
    view = a[:, ::2]
    t = as_tensor(view)
    np.testing.assert_array_equal(t.numpy(), view)
    a[1, 2] = -1.0
    assert t[1, 1] == -1.0


def test_read_only_numpy_is_copied_without_warning():
    a = np.arange(6, dtype=np.int64).reshape(2, 3)
    a.setflags(write=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch.from_numpy would warn: not writable
        t = as_tensor(a)
    np.testing.assert_array_equal(t.numpy(), a)
    assert not np.shares_memory(t.numpy(), a)
    t[0, 0] = 99  # writing the copy leaves the read-only array alone
    assert a[0, 0] == 0


def test_broadcast_negative_strides_and_big_endian_numpy():
    b = np.broadcast_to(np.arange(3.0), (4, 3))  # read-only, zero strides
    np.testing.assert_array_equal(as_tensor(b).numpy(), b)
    r = np.arange(5.0)[::-1]
    np.testing.assert_array_equal(as_tensor(r).numpy(), r)
    be = np.arange(4, dtype=">f4")
    t = as_tensor(be)
    assert t.dtype == torch.float32
    np.testing.assert_array_equal(t.numpy(), be)


def test_numpy_scalar_and_bool():
    t = as_tensor(np.float32(2.5))
    assert t.shape == () and t.item() == 2.5
    assert as_tensor(np.array([True, False])).dtype == torch.bool


class _Producer:
    """A foreign array (think JAX / CuPy) speaking only the DLPack protocol."""

    def __init__(self, t: torch.Tensor) -> None:
        self._t = t

    def __dlpack__(self, **kwargs):
        return self._t.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self._t.__dlpack_device__()


def test_dlpack_protocol_object_is_zero_copy():
    base = torch.arange(6, dtype=torch.float32)
    t = as_tensor(_Producer(base))
    assert torch.equal(t, base)
    assert t.data_ptr() == base.data_ptr()


def test_dlpack_capsule():
    base = torch.arange(4, dtype=torch.int32)
    t = as_tensor(to_dlpack(base))
    assert torch.equal(t, base) and t.data_ptr() == base.data_ptr()


def test_device_argument():
    a = np.ones((2, 2), dtype=np.float32)
    t = as_tensor(a, device="cpu")
    assert t.device.type == "cpu"
    t = as_tensor(torch.zeros(2), device=torch.device("cpu"))
    assert t.device.type == "cpu"
    if torch.cuda.is_available():
        assert as_tensor(a, device="cuda").device.type == "cuda"


@pytest.mark.parametrize("bad", [[1.0, 2.0], 3.0, "abc", None, {"a": 1}])
def test_other_types_raise_type_error(bad):
    with pytest.raises(TypeError, match=type(bad).__name__):
        as_tensor(bad)


def test_unsupported_numpy_dtype_raises_type_error():
    with pytest.raises(TypeError, match="dtype"):
        as_tensor(np.array(["a", "b"]))
    with pytest.raises(TypeError, match="dtype"):
        as_tensor(np.array([object()]))
