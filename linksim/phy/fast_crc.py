"""Fast CPU CRC (encode and check) bit-exact with Sionna's ``CRCEncoder`` / ``CRCDecoder``.

Hand-written because Sionna computes a CRC as a dense float matrix product
``[..., k] x [k, L]`` (plus a generator matrix rebuilt whenever ``k``
changes), which is slow on a CPU for long blocks.  Sionna's blocks remain the
reference (tested bit for bit) and the path to use on CUDA.

Sionna's CRC (38.212 5.1) is the plain polynomial remainder: zero initial
register, no reflection, no final XOR, first bit = highest power; the ``L``
parity bits are appended most significant first.  The CRC is linear in the
bits: with ``n = k + L``, the parity of ``b`` is ``b(x) x^L mod p(x)`` =
XOR over the set bits ``i`` of ``x^(n-1-i) mod p(x)``.  These ``n`` powers
are precomputed once per length (as ``L``-bit integers, cached), so a row costs
one branch-free pass over its bits (a select and an XOR per bit) that LLVM
vectorises -- several times faster than a byte-wise table, whose packing of
bits into bytes and serial register updates do not vectorise.  The check
computes the same sum over the whole word ``[payload, parity]`` (the powers of
the parity positions are ``x^j`` for ``j < L``, i.e. the parity itself): it is
zero exactly when the received parity equals the parity of the payload, i.e.
when Sionna's ``CRCDecoder`` reports ``crc_valid``.

The kernels are JIT-compiled by numba (``cache=True``), release the GIL and run
in parallel over rows (``numba.prange``; ``numba.set_num_threads`` is
respected, nothing is set globally here).
"""

from __future__ import annotations

from typing import Optional, Tuple, Union

import numba
import numpy as np
import torch
from numba import njit, prange

from sionna.phy.fec.crc import CRCEncoder

from .kernel_bits import kernel_bits

__all__ = ["FastCRC", "FastCRC24B"]


# ---------------------------------------------------------------------------
# numba kernels
# ---------------------------------------------------------------------------
@njit(cache=True, nogil=True, inline="always")
def _not_binary(v):
    return (v != 0) & (v != 1)


@njit(cache=True, nogil=True, parallel=True)
def _crc_encode_kernel(bits, out, powers, crc_len, nchunks, bad):
    """``out[w] = [bits[w], crc(bits[w])]`` with ``powers[i] = x^(n-1-i) mod p``
    (``n = k + crc_len``); ``bad[c]``: chunk ``c`` met a non-binary value."""
    n_rows, k = bits.shape
    for c in prange(nchunks):
        r0 = c * n_rows // nchunks
        r1 = (c + 1) * n_rows // nchunks
        flag = False
        for w in range(r0, r1):
            row = bits[w]
            orow = out[w]
            acc = np.int32(0)
            for i in range(k):
                v = row[i]
                flag |= _not_binary(v)
                orow[i] = v
                acc ^= powers[i] if v != 0 else np.int32(0)
            for j in range(crc_len):
                orow[k + j] = (acc >> (crc_len - 1 - j)) & 1
        bad[c] = flag


@njit(cache=True, nogil=True, parallel=True)
def _crc_check_kernel(bits, ok, powers, nchunks, bad):
    """``ok[w]``: the remainder of the whole word ``bits[w]`` (payload and
    parity) is zero."""
    n_rows, n_bits = bits.shape
    for c in prange(nchunks):
        r0 = c * n_rows // nchunks
        r1 = (c + 1) * n_rows // nchunks
        flag = False
        for w in range(r0, r1):
            row = bits[w]
            acc = np.int32(0)
            for i in range(n_bits):
                v = row[i]
                flag |= _not_binary(v)
                acc ^= powers[i] if v != 0 else np.int32(0)
            ok[w] = acc == 0
        bad[c] = flag


@njit(cache=True, nogil=True)
def _powers(low, crc_len, n):
    """``out[n - 1 - j] = x^j mod p(x)`` for ``j < n``, as ``crc_len``-bit
    integers; ``p(x) = x^crc_len + low(x)``."""
    out = np.empty(n, np.int32)
    r = np.int64(1)
    top = np.int64(1) << crc_len
    for j in range(n):
        out[n - 1 - j] = r
        r <<= 1
        if r & top:
            r ^= top | low
    return out


def _pol_low(pol: np.ndarray) -> int:
    """``p(x) - x^L`` as an ``L``-bit integer from Sionna's ``crc_pol`` (``L + 1``
    coefficients, highest power first)."""
    pol = np.asarray(pol, np.int64).ravel()
    crc_len = pol.shape[0] - 1
    if not 1 <= crc_len <= 30 or pol[0] != 1 or np.any((pol != 0) & (pol != 1)):
        raise ValueError("crc_pol must be 0/1 with a leading one and degree 1..30.")
    low = 0
    for b in pol[1:]:
        low = (low << 1) | int(b)
    return low


class FastCRC:
    """Fast CPU CRC encoder and checker, bit-exact with Sionna's
    ``CRCEncoder`` / ``CRCDecoder`` (see module docstring).

    :param crc: a ``sionna.phy.fec.crc.CRCEncoder`` (its polynomial is used) or
        the name of a 38.212 polynomial: ``"CRC24A"``, ``"CRC24B"``,
        ``"CRC24C"``, ``"CRC16"``, ``"CRC11"``, ``"CRC6"``.
    :param k: number of payload bits, or `None` to accept any length (like
        Sionna's encoder without ``k``).  Taken from ``crc`` when it is a
        ``CRCEncoder`` built with a fixed ``k``.

    :meth:`encode`:

    :input bits: ``[..., k]`` `torch.Tensor` of 0/1 values (float32, float64,
        uint8, bool or integer; any device, computed on the CPU).
    :output x_crc: ``[..., k + crc_length]`` `torch.float32` (payload followed
        by the parity bits, highest power first), on the device of ``bits``.

    :meth:`check`:

    :input x_crc: ``[..., k + crc_length]`` `torch.Tensor` of 0/1 values.
    :output bits: ``[..., k]`` `torch.float32`, the payload: like Sionna's, a
        view of ``x_crc`` when that is float32 (on its device), else a copy.
    :output ok: ``[...]`` `torch.bool`, the CRC is valid: Sionna's
        ``CRCDecoder`` output ``crc_valid`` (shape ``[..., 1]``) squeezed of its
        last dimension.

    Both raise :class:`ValueError` on a wrong last dimension or values other
    than 0 and 1.
    """

    def __init__(self, crc: Union[CRCEncoder, str] = "CRC24B", k: Optional[int] = None) -> None:
        if isinstance(crc, CRCEncoder):
            self._sionna = crc
            if k is None and getattr(crc, "_fixed_k", False):
                k = crc._k
        elif isinstance(crc, str):
            self._sionna = CRCEncoder(crc)
        else:
            raise ValueError("crc must be a sionna CRCEncoder or a 38.212 CRC name such as 'CRC24B'.")
        if k is not None and (isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0):
            raise ValueError(f"k must be an int >= 0 or None, got {k!r}.")
        self._k = None if k is None else int(k)
        self._pol = np.asarray(self._sionna.crc_pol, np.int64)
        self._crc_len = int(self._sionna.crc_length)
        self._low = _pol_low(self._pol)
        self._powers_cache = {}  # word length n -> x^(n-1-i) mod p

    # --------------------------------------------------------------- properties
    @property
    def crc_degree(self) -> str:
        """Name of the polynomial, e.g. ``"CRC24B"``."""
        return self._sionna.crc_degree

    @property
    def crc_length(self) -> int:
        """Number of parity bits ``L``."""
        return self._crc_len

    @property
    def crc_pol(self) -> np.ndarray:
        """Polynomial coefficients, highest power first (Sionna's ``crc_pol``)."""
        return self._pol.copy()

    @property
    def k(self) -> Optional[int]:
        """Fixed number of payload bits, or `None` (any)."""
        return self._k

    def _check_k(self, k: int, name: str, shape) -> None:
        if k < 0 or (self._k is not None and k != self._k):
            want = "k" if name == "bits" else "k + crc_length"
            val = self._k if name == "bits" else (None if self._k is None else self._k + self._crc_len)
            raise ValueError(f"{name} must have shape [..., {want}] with {want}={val}, got {tuple(shape)}.")

    def _powers(self, n: int) -> np.ndarray:
        pw = self._powers_cache.get(n)
        if pw is None:
            pw = _powers(self._low, self._crc_len, n)
            if len(self._powers_cache) >= 64:  # lengths are few in practice; bound the memory anyway
                self._powers_cache.clear()
            self._powers_cache[n] = pw
        return pw

    @staticmethod
    def _nchunks(n_rows: int) -> int:
        return max(1, min(n_rows, 4 * numba.get_num_threads()))

    # ------------------------------------------------------------------ encode
    def encode(self, bits: torch.Tensor, out: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Append the CRC.

        :param bits: ``[..., k]`` 0/1 tensor.
        :param out: optional C-contiguous CPU `torch.float32` tensor
            ``[..., k + crc_length]`` to write into (a reused buffer avoids the
            page faults of a fresh large allocation).  Only for CPU ``bits``.
        :output x_crc: ``[..., k + crc_length]`` `torch.float32` (``out`` if given).
        """
        if not isinstance(bits, torch.Tensor) or bits.dim() < 1:
            raise ValueError("bits must be a torch.Tensor of shape [..., k].")
        k = int(bits.shape[-1])
        self._check_k(k, "bits", bits.shape)
        x = kernel_bits(bits, k, "bits")
        shape = tuple(bits.shape[:-1]) + (k + self._crc_len,)
        if out is not None:
            if (not isinstance(out, torch.Tensor) or out.dtype != torch.float32
                    or out.device.type != "cpu" or bits.device.type != "cpu"
                    or tuple(out.shape) != shape or not out.is_contiguous()):
                raise ValueError(f"out must be a contiguous CPU float32 tensor of shape {shape} "
                                 "(and bits on the CPU).")
            self._encode_into(x, out.view(-1, k + self._crc_len).numpy())
            return out
        x_crc = torch.empty((x.shape[0], k + self._crc_len), dtype=torch.float32)
        self._encode_into(x, x_crc.numpy())
        return x_crc.reshape(shape).to(bits.device)

    def encode_numpy(self, bits: np.ndarray) -> np.ndarray:
        """Append the CRC to the rows of a NumPy array.

        :param bits: ``[N, k]`` 0/1 array, `np.uint8` (also bool or float32).
        :output x_crc: ``[N, k + crc_length]``, same dtype as ``bits`` (uint8 for bool).
        """
        x = self._numpy_input(bits)
        self._check_k(x.shape[1], "bits", x.shape)
        out = np.empty((x.shape[0], x.shape[1] + self._crc_len), x.dtype)
        self._encode_into(x, out)
        return out

    def _encode_into(self, x: np.ndarray, out: np.ndarray) -> None:
        if x.shape[0] == 0:
            return
        nchunks = self._nchunks(x.shape[0])
        bad = np.zeros(nchunks, np.bool_)
        _crc_encode_kernel(x, out, self._powers(x.shape[1] + self._crc_len), self._crc_len, nchunks, bad)
        if bad.any():
            raise ValueError("bits must contain only 0 and 1.")

    # ------------------------------------------------------------------- check
    def check(self, x_crc: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Check the CRC and strip it.

        :param x_crc: ``[..., k + crc_length]`` 0/1 tensor.
        :output bits: ``[..., k]`` `torch.float32` payload (a view of ``x_crc``
            when that is float32).
        :output ok: ``[...]`` `torch.bool`, CRC valid.
        """
        if not isinstance(x_crc, torch.Tensor) or x_crc.dim() < 1:
            raise ValueError("x_crc must be a torch.Tensor of shape [..., k + crc_length].")
        n_bits = int(x_crc.shape[-1])
        self._check_k(n_bits - self._crc_len, "x_crc", x_crc.shape)
        x = kernel_bits(x_crc, n_bits, "x_crc")
        ok = torch.empty(x.shape[0], dtype=torch.bool)
        self._check_into(x, ok.numpy())
        dev = x_crc.device
        # the payload is a slice of the input, as in Sionna (no copy for float32)
        payload = x_crc[..., :n_bits - self._crc_len].detach().to(torch.float32)
        return payload, ok.reshape(tuple(x_crc.shape[:-1])).to(dev)

    def check_numpy(self, x_crc: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Check the CRC of the rows of a NumPy array and strip it.

        :param x_crc: ``[N, k + crc_length]`` 0/1 array, `np.uint8` (also bool or float32).
        :output bits: ``[N, k]``, a view of ``x_crc`` (bool as uint8).
        :output ok: ``[N]`` `np.bool_`.
        """
        x = self._numpy_input(x_crc)
        self._check_k(x.shape[1] - self._crc_len, "x_crc", x.shape)
        ok = np.empty(x.shape[0], np.bool_)
        self._check_into(x, ok)
        return x[:, :x.shape[1] - self._crc_len], ok

    def _check_into(self, x: np.ndarray, ok: np.ndarray) -> None:
        if x.shape[0] == 0:
            return
        nchunks = self._nchunks(x.shape[0])
        bad = np.zeros(nchunks, np.bool_)
        _crc_check_kernel(x, ok, self._powers(x.shape[1]), nchunks, bad)
        if bad.any():
            raise ValueError("x_crc must contain only 0 and 1.")

    @staticmethod
    def _numpy_input(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim != 2:
            raise ValueError(f"expected a 2-D array [N, bits], got shape {x.shape}.")
        if x.dtype == np.bool_:
            x = x.view(np.uint8)
        if x.dtype not in (np.uint8, np.float32):
            raise ValueError(f"expected uint8, bool or float32, got {x.dtype}.")
        return np.ascontiguousarray(x)

    def __repr__(self) -> str:
        return f"FastCRC({self.crc_degree!r}, k={self._k})"


class FastCRC24B(FastCRC):
    """:class:`FastCRC` with the 38.212 CRC24B polynomial (the code-block CRC).

    :param k: number of payload bits, or `None` (any).
    """

    def __init__(self, k: Optional[int] = None) -> None:
        super().__init__("CRC24B", k=k)
