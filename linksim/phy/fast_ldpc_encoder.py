"""Fast CPU encoder for Sionna's 5G NR LDPC codes (numba, parallel over codewords).

Hand-written because no library offers a fast CPU 5G NR LDPC encoder: Sionna's
:class:`~sionna.phy.fec.ldpc.LDPC5GEncoder` encodes with gathers over dense
index tables in torch (several large temporaries per call), which costs more
than the rest of an otherwise fast CPU link.  Sionna's encoder remains the
reference (this module is tested bit for bit against it) and the path to use on
CUDA.

:class:`FastLDPC5GEncoder` produces exactly what ``encoder(bits)`` produces
(``rv=None``): filler bits, the systematic "RU" encoding with Sionna's
sub-matrices ``A``, ``B^-1``, ``C1``, ``C2``, removal of the filler bits,
puncturing of the first ``2Z`` systematic bits, truncation to ``n`` bits and the
output interleaver (when the encoder has ``num_bits_per_symbol``).

How it is fast
--------------
The code is quasi-cyclic: every ``Z x Z`` block of Sionna's sub-matrices is a
sum of circulant permutation matrices (one for ``A``, ``C1``, ``C2``; one or
two for the blocks of ``B^-1``).  The block/shift lists are extracted from the
very index tables Sionna's encoder gathers with (``_pcm_a_ind``, ...), and it is
verified that every block is *exactly* the sum of the extracted circulants
(a :class:`ValueError` otherwise).  One circulant times a length-``Z`` block of
bits is a cyclic shift, so each XOR is two contiguous loops over ``uint8``
arrays that LLVM vectorises.  Only the parity blocks whose bits are transmitted
are computed (at rate 1/2 most extension parity rows are never sent).  The
kernel is JIT-compiled by numba (``cache=True``: the compile cost, a few
seconds per input dtype, is paid once per machine), releases the GIL and runs
in parallel over chunks of codewords (``numba.prange``;
``numba.set_num_threads`` is respected, nothing is set globally here).
"""

from __future__ import annotations

from typing import List, Optional, Tuple

import numba
import numpy as np
import torch
from numba import njit, prange

from sionna.phy.fec.ldpc.encoding import LDPC5GEncoder

from .kernel_bits import kernel_bits

__all__ = ["FastLDPC5GEncoder"]


# ---------------------------------------------------------------------------
# numba kernels
# ---------------------------------------------------------------------------
@njit(cache=True, nogil=True, inline="always")
def _xor_shift(buf, dst, src, sh, z):
    """buf[dst + i] ^= buf[src + (i + sh) % z] for i < z: a circulant with shift
    ``sh`` (Sionna's lifting: row i has its one in column (i + sh) % z) applied
    to the block at ``src`` and added to the block at ``dst``.  Two contiguous
    loops (no modulo) over slice views: indexing ``buf`` itself with offsets
    keeps LLVM from vectorising (~15x slower)."""
    m = z - sh
    d = buf[dst:dst + z]
    s1 = buf[src + sh:src + z]
    for i in range(m):
        d[i] ^= s1[i]
    d2 = buf[dst + m:dst + z]
    s2 = buf[src:src + sh]
    for i in range(sh):
        d2[i] ^= s2[i]


@njit(cache=True, nogil=True, inline="always")
def _not_binary(v):
    return (v != 0) & (v != 1)


@njit(cache=True, nogil=True, inline="always")
def _interleave(pre, out, m):
    """out[t * m + i] = pre[i * L + t] (L = len(out) // m): Sionna's output
    interleaver (38.212 5.4.2.2) is this transpose of ``[m, L]``.  Written out
    for the usual QAM orders so that every loop is contiguous in ``t`` and
    vectorises (a generic inner loop over ``i`` is ~15x slower)."""
    n = out.shape[0]
    L = n // m
    if m == 1:
        for t in range(n):
            out[t] = pre[t]
    elif m == 2:
        s0, s1 = pre[0:L], pre[L:2 * L]
        for t in range(L):
            out[2 * t] = s0[t]
            out[2 * t + 1] = s1[t]
    elif m == 4:
        s0, s1, s2, s3 = pre[0:L], pre[L:2 * L], pre[2 * L:3 * L], pre[3 * L:4 * L]
        for t in range(L):
            out[4 * t] = s0[t]
            out[4 * t + 1] = s1[t]
            out[4 * t + 2] = s2[t]
            out[4 * t + 3] = s3[t]
    elif m == 6:
        s0, s1, s2 = pre[0:L], pre[L:2 * L], pre[2 * L:3 * L]
        s3, s4, s5 = pre[3 * L:4 * L], pre[4 * L:5 * L], pre[5 * L:6 * L]
        for t in range(L):
            out[6 * t] = s0[t]
            out[6 * t + 1] = s1[t]
            out[6 * t + 2] = s2[t]
            out[6 * t + 3] = s3[t]
            out[6 * t + 4] = s4[t]
            out[6 * t + 5] = s5[t]
    elif m == 8:
        s0, s1, s2, s3 = pre[0:L], pre[L:2 * L], pre[2 * L:3 * L], pre[3 * L:4 * L]
        s4, s5, s6, s7 = pre[4 * L:5 * L], pre[5 * L:6 * L], pre[6 * L:7 * L], pre[7 * L:8 * L]
        for t in range(L):
            out[8 * t] = s0[t]
            out[8 * t + 1] = s1[t]
            out[8 * t + 2] = s2[t]
            out[8 * t + 3] = s3[t]
            out[8 * t + 4] = s4[t]
            out[8 * t + 5] = s5[t]
            out[8 * t + 6] = s6[t]
            out[8 * t + 7] = s7[t]
    else:
        for i in range(m):
            s = pre[i * L:(i + 1) * L]
            for t in range(L):
                out[t * m + i] = s[t]


@njit(cache=True, nogil=True, parallel=True)
def _encode_kernel(bits, out, z, work_len, zero_start, ops, runs, m, nchunks, bad):
    """Encode ``bits [N, k]`` into ``out [N, n_out]``.

    Work buffer (one per chunk, mother-codeword order): information bits at
    ``[0, k)``, filler zeros at ``[k, k_b Z)`` (written once, never touched
    again), then the parity blocks and a 4Z scratch block for ``A s``; the
    region ``[zero_start, work_len)`` is cleared per codeword and the ops
    ``(dst, src, shift)`` XOR-accumulate circulant products into it, stage by
    stage (A s -> scratch, B^-1 scratch -> p_a, C1 s + C2 p_a -> p_b).
    Rate matching: the contiguous ``runs`` ``(pre_start, src_start, length)``
    copy the transmitted bits into ``pre`` (filler removal, puncturing,
    truncation), then :func:`_interleave` with ``m`` (1: none) writes ``out``.
    ``bad[c]`` is set when chunk ``c`` met a non-binary input value.
    """
    n_cw, k = bits.shape
    n_out = out.shape[1]
    n_ops = ops.shape[0]
    n_runs = runs.shape[0]
    for c in prange(nchunks):
        c0 = c * n_cw // nchunks
        c1 = (c + 1) * n_cw // nchunks
        buf = np.zeros(work_len, np.uint8)
        pre = np.empty(n_out, np.uint8)
        flag = False
        for w in range(c0, c1):
            row = bits[w]
            for i in range(k):
                v = row[i]
                flag |= _not_binary(v)
                buf[i] = np.uint8(v)
            buf[zero_start:] = 0
            for o in range(n_ops):
                _xor_shift(buf, ops[o, 0], ops[o, 1], ops[o, 2], z)
            for q in range(n_runs):
                p0, s0, ln = runs[q, 0], runs[q, 1], runs[q, 2]
                pre[p0:p0 + ln] = buf[s0:s0 + ln]
            _interleave(pre, out[w], m)
        bad[c] = flag


def _copy_runs(pos: np.ndarray) -> np.ndarray:
    """Split ``pre[j] = buf[pos[j]]`` into contiguous copies ``(pre_start,
    src_start, length)`` (two for a rate-matched codeword: before and after the
    filler bits)."""
    pos = np.asarray(pos, np.int64)
    cuts = np.flatnonzero(np.diff(pos) != 1) + 1
    starts = np.concatenate([[0], cuts])
    ends = np.concatenate([cuts, [pos.shape[0]]])
    return np.stack([starts, pos[starts], ends - starts], axis=1).astype(np.int64)


# ---------------------------------------------------------------------------
# circulant decomposition of Sionna's gather tables
# ---------------------------------------------------------------------------
def _circulant_blocks(ind: np.ndarray, n_rows: int, n_cols: int, z: int,
                      name: str) -> List[Tuple[int, int, int]]:
    """Decompose the 0/1 matrix that Sionna's ``_matmul_gather`` applies.

    :param ind: Sionna's gather table ``[n_rows, n_max]`` (column indices,
        ``n_cols`` = padding that gathers a zero).
    :return: ``(row_block, col_block, shift)`` triples, one per circulant;
        the matrix equals (mod 2) the sum of these circulants exactly.
    :raises ValueError: if some ``Z x Z`` block is not a sum of circulants.
    """
    ind = np.asarray(ind, np.int64)
    if ind.ndim != 2 or ind.shape[0] != n_rows or n_rows % z or n_cols % z:
        raise ValueError(f"Sionna's table {name} has an unexpected shape {ind.shape}.")
    rows, slots = np.nonzero(ind < n_cols)
    cols = ind[rows, slots]
    if np.any(cols < 0):
        raise ValueError(f"Sionna's table {name} has negative indices.")
    # Sionna sums the gathered bits and reduces mod 2 at the end: an index that
    # appears twice in a row cancels; keep the entries of odd multiplicity.
    key, cnt = np.unique(rows * n_cols + cols, return_counts=True)
    key = key[cnt % 2 == 1]
    rows, cols = key // n_cols, key % n_cols
    rb, ri, cb, ci = rows // z, rows % z, cols // z, cols % z
    d = (ci - ri) % z
    # Each entry belongs to exactly one (row block, column block, shift) group;
    # a group is a full circulant iff it has z entries (one per row of the
    # block, as the entries are distinct), so the block is exactly the sum of
    # the circulants of its full groups iff every group is full.
    gkey, gcnt = np.unique((rb * (n_cols // z) + cb) * z + d, return_counts=True)
    if np.any(gcnt != z):
        raise ValueError(
            f"Sionna's {name} is not a sum of {z}x{z} circulants (not quasi-cyclic).")
    sh = gkey % z
    blk = gkey // z
    return [(int(b // (n_cols // z)), int(b % (n_cols // z)), int(s)) for b, s in zip(blk, sh)]


def _check_out(out, shape: tuple, device: torch.device) -> None:
    """``out`` must be a C-contiguous CPU float32 tensor of ``shape`` (and the
    input on the CPU too, as the result is written in place)."""
    if (not isinstance(out, torch.Tensor) or out.dtype != torch.float32 or out.device.type != "cpu"
            or device.type != "cpu" or tuple(out.shape) != tuple(shape) or not out.is_contiguous()):
        raise ValueError(f"out must be a contiguous CPU float32 tensor of shape {tuple(shape)} "
                         "(and bits on the CPU).")


class FastLDPC5GEncoder:
    """Fast CPU encoder for Sionna's 5G NR LDPC codes (see module docstring).

    Encodes exactly what ``encoder(bits)`` gives (``rv=None``), including rate
    matching and the optional output interleaver.

    :param encoder: the ``sionna.phy.fec.ldpc.LDPC5GEncoder`` to reproduce (its
        base graph, lifting size, sub-matrices, ``n`` and
        ``num_bits_per_symbol`` are used; it is not called).

    :input bits: ``[..., k]``, `torch.Tensor` of 0/1 values (float32, float64,
        float16, uint8, bool or any integer dtype; any device, encoding runs on
        the CPU).

    :output cw: ``[..., n]``, `torch.float32` 0/1 codeword bits on the device
        of ``bits`` (Sionna returns the dtype of ``bits``; the values agree).

    :raises ValueError: if the last dimension of ``bits`` is not ``k`` or a
        value is neither 0 nor 1.
    """

    def __init__(self, encoder: LDPC5GEncoder) -> None:
        if not isinstance(encoder, LDPC5GEncoder):
            raise ValueError("encoder must be a sionna.phy.fec.ldpc.LDPC5GEncoder.")
        self._encoder = encoder
        k, n, z = int(encoder.k), int(encoder.n), int(encoder.z)
        k_ldpc, n_ldpc = int(encoder.k_ldpc), int(encoder.n_ldpc)
        k_b = k_ldpc // z
        if k_b * z != k_ldpc or n_ldpc % z:
            raise ValueError("encoder: k_ldpc and n_ldpc must be multiples of z.")
        m_b = n_ldpc // z - k_b  # check-node rows of the base graph
        self._k, self._n, self._z = k, n, z
        self._k_b, self._m_b = k_b, m_b
        k_filler = k_ldpc - k
        if not 0 < 2 * z <= k:
            raise ValueError("encoder: expected 0 < 2z <= k (the punctured bits are systematic).")

        # --- the circulants of A [4Z, k_b Z], B^-1 [4Z, 4Z], C1, C2 [(m_b-4)Z, .]
        # from the gather tables Sionna's _encode_fast itself uses
        def table(attr):
            return np.asarray(getattr(encoder, attr).detach().cpu().numpy(), np.int64)

        g = 4
        self._blk_a = _circulant_blocks(table("_pcm_a_ind"), g * z, k_b * z, z, "A")
        self._blk_b = _circulant_blocks(table("_pcm_b_inv_ind"), g * z, g * z, z, "B^-1")
        self._blk_c1 = _circulant_blocks(table("_pcm_c1_ind"), (m_b - g) * z, k_b * z, z, "C1")
        self._blk_c2 = _circulant_blocks(table("_pcm_c2_ind"), (m_b - g) * z, g * z, z, "C2")

        # --- rate matching: transmitted bit j (before interleaving) <- mother-
        # codeword position (Sionna: c_no_filler = c without [k, k_ldpc);
        # c_rm = c_no_filler[2Z:]; out = c_rm[:n], then [..., out_int])
        pre = np.arange(n, dtype=np.int64) + 2 * z  # position in c_no_filler
        pre = np.where(pre < k, pre, pre + k_filler)  # position in the mother codeword
        if pre[-1] >= n_ldpc:
            raise ValueError(f"n={n} exceeds the rate-matching buffer ({encoder.n_cb_comp} bits).")
        m = encoder.num_bits_per_symbol
        self._m = 1 if m is None else int(m)
        if m is not None:
            # the kernel interleaves as the transpose of [m, n/m]; make sure it
            # is Sionna's permutation: out[t*m + i] = pre[out_int[t*m + i]] = pre[i*n/m + t]
            perm = np.asarray(encoder.out_int.detach().cpu().numpy(), np.int64)
            expect = np.arange(n).reshape(self._m, n // self._m).T.ravel()
            if n % self._m or not np.array_equal(perm, expect):
                raise ValueError("encoder.out_int is not the 38.212 output interleaver.")

        # parity blocks needed: every column block up to the last one sent
        n_col_blocks = int(pre.max()) // z + 1
        m_ext = min(max(n_col_blocks - k_b - g, 0), m_b - g)
        self._m_ext = m_ext
        self._plan = self._make_plan(m_ext, pre, self._m)
        self._plan_full = None  # built on demand by mother_codeword_numpy

    # ------------------------------------------------------------------ helpers
    def _make_plan(self, m_ext: int, pre_pos: np.ndarray, m: int):
        """Ops and buffer layout computing p_a and the first ``m_ext`` extension
        parity blocks; ``pre_pos`` (mother-codeword positions) are the bits
        sent, before the output interleaver of ``m`` bits per symbol."""
        z, k_b, g = self._z, self._k_b, 4
        par = k_b * z  # first parity position
        tmp = (k_b + g + m_ext) * z  # scratch for A s
        ops = []
        ops += [(tmp + r * z, c * z, s) for r, c, s in self._blk_a]
        ops += [(par + r * z, tmp + c * z, s) for r, c, s in self._blk_b]
        # p_b: keep only the rows that are sent; group the ops by destination
        ext = [(par + (g + r) * z, c * z, s) for r, c, s in self._blk_c1 if r < m_ext]
        ext += [(par + (g + r) * z, par + c * z, s) for r, c, s in self._blk_c2 if r < m_ext]
        ext.sort(key=lambda t: t[0])
        ops += ext
        ops = np.asarray(ops, np.int64).reshape(-1, 3)
        runs = _copy_runs(pre_pos)
        if int((runs[:, 1] + runs[:, 2]).max()) > tmp:
            raise ValueError("Internal error: a transmitted bit lies outside the computed blocks.")
        return ops, tmp + g * z, par, runs, m

    def _run(self, bits: np.ndarray, out: np.ndarray, plan) -> None:
        ops, work_len, zero_start, runs, m = plan
        n_cw = bits.shape[0]
        if n_cw == 0:
            return
        nchunks = max(1, min(n_cw, 4 * numba.get_num_threads()))
        bad = np.zeros(nchunks, np.bool_)
        _encode_kernel(bits, out, self._z, work_len, zero_start, ops, runs, m, nchunks, bad)
        if bad.any():
            raise ValueError("bits must contain only 0 and 1.")

    def _check_numpy(self, bits: np.ndarray) -> np.ndarray:
        bits = np.asarray(bits)
        if bits.ndim != 2 or bits.shape[1] != self._k:
            raise ValueError(f"bits must have shape [N, k] with k={self._k}, got {bits.shape}.")
        if bits.dtype == np.bool_:
            bits = bits.view(np.uint8)
        if bits.dtype not in (np.uint8, np.float32):
            raise ValueError(f"bits must be uint8, bool or float32, got {bits.dtype}.")
        return np.ascontiguousarray(bits)

    # --------------------------------------------------------------- properties
    @property
    def encoder(self) -> LDPC5GEncoder:
        """The Sionna encoder this encoder reproduces."""
        return self._encoder

    @property
    def k(self) -> int:
        """Number of information bits per codeword."""
        return self._k

    @property
    def n(self) -> int:
        """Number of codeword bits (after rate matching)."""
        return self._n

    @property
    def num_parity_blocks(self) -> int:
        """Parity blocks (of Z bits) computed per codeword: the 4 core blocks
        plus the extension blocks that are (at least partly) transmitted."""
        return 4 + self._m_ext

    # ------------------------------------------------------------------- encode
    def __call__(self, bits: torch.Tensor, out: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Encode.

        :param bits: ``[..., k]`` 0/1 tensor.
        :param out: optional C-contiguous CPU `torch.float32` tensor ``[..., n]``
            (same leading shape as ``bits``) to write the codewords into, e.g.
            a reused buffer: a fresh one above glibc's mmap threshold (32 MiB,
            batch >= ~2400 here) costs page faults on every call.  Only for
            CPU ``bits``.
        :output cw: ``[..., n]`` `torch.float32` codeword bits (``out`` if given).
        """
        if isinstance(bits, torch.Tensor) and (bits.dim() < 1 or bits.shape[-1] != self._k):
            raise ValueError(f"bits must have shape [..., k] with k={self._k}, got {tuple(bits.shape)}.")
        x = kernel_bits(bits, self._k, "bits")
        device = bits.device
        lead = tuple(bits.shape[:-1])
        if out is not None:
            _check_out(out, lead + (self._n,), device)
            self._run(x, out.view(-1, self._n).numpy(), self._plan)
            return out
        cw = torch.empty((x.shape[0], self._n), dtype=torch.float32)
        self._run(x, cw.numpy(), self._plan)
        return cw.reshape(lead + (self._n,)).to(device)

    def encode_numpy(self, bits: np.ndarray) -> np.ndarray:
        """Encode a NumPy array.

        :param bits: ``[N, k]`` 0/1 array, `np.uint8` (also bool or float32).
        :output cw: ``[N, n]`` `np.uint8` codeword bits.
        """
        bits = self._check_numpy(bits)
        out = np.empty((bits.shape[0], self._n), np.uint8)
        self._run(bits, out, self._plan)
        return out

    def mother_codeword_numpy(self, bits: np.ndarray) -> np.ndarray:
        """The full mother codeword before rate matching (for verification).

        :param bits: ``[N, k]`` 0/1 array, `np.uint8` (also bool or float32).
        :output c: ``[N, n_ldpc]`` `np.uint8`: information bits, filler zeros
            and all parity bits; ``encoder.pcm @ c = 0 (mod 2)``.
        """
        bits = self._check_numpy(bits)
        if self._plan_full is None:
            n_ldpc = (self._k_b + self._m_b) * self._z
            self._plan_full = self._make_plan(self._m_b - 4, np.arange(n_ldpc), 1)
        out = np.empty((bits.shape[0], (self._k_b + self._m_b) * self._z), np.uint8)
        self._run(bits, out, self._plan_full)
        return out

    def __repr__(self) -> str:
        return (f"FastLDPC5GEncoder(k={self._k}, n={self._n}, z={self._z}, "
                f"num_bits_per_symbol={self._encoder.num_bits_per_symbol})")
