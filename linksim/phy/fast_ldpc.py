"""Fast CPU decoder for Sionna's 5G NR LDPC codes (numba, parallel over codewords).

:class:`FastLDPC5GDecoder` decodes exactly the codes produced by
``sionna.phy.fec.ldpc.LDPC5GEncoder(k, n[, num_bits_per_symbol])``: 5G NR base
graphs 1 and 2, every lifting size, with Sionna's rate matching (filler /
shortened bits, puncturing of the first ``2Z`` systematic bits, truncation to
``n`` bits and the optional output interleaver).  The graph is built once from
``encoder.pcm``; the kernels are JIT-compiled by numba (``cache=True``, so the
compile cost is paid once per machine), release the GIL and run in parallel
over codewords (``numba.prange``; ``numba.set_num_threads`` is respected).

Conventions (identical to Sionna's ``LDPC5GDecoder``)
-----------------------------------------------------
* Input ``llr_ch`` holds *logits* ``log(p(b=1)/p(b=0))`` of the ``n``
  transmitted bits, shape ``[..., n]``, in transmission order (i.e. after the
  output interleaver if the encoder has ``num_bits_per_symbol``).
* Internally LLRs ``log(p(b=0)/p(b=1))`` are used: the input is clipped to
  ``+-llr_max`` and negated.  The ``2Z`` punctured systematic positions get LLR
  0, filler (shortened) positions get ``+llr_max`` (known zero), the rate-
  matching buffer positions that were not transmitted get LLR 0.
* As in Sionna, the trailing degree-1 parity nodes that are punctured are
  pruned together with their check nodes (they cannot carry information; a zero
  syndrome of the pruned matrix is equivalent to the hard decisions extending
  uniquely to a full mother codeword with zero syndrome).
* Hard decision: bit = 1 iff the posterior LLR is ``<= 0``.
* All messages are clipped to ``+-llr_max`` (v2c and c2v), like Sionna.

Schedules
---------
``"flooding"``
    All check nodes, then all variable nodes, per iteration -- the message
    passing of Sionna's ``LDPCBPDecoder``.  It reproduces Sionna's float32
    arithmetic operation by operation, including its edge orders and the
    summation order of torch's reductions (probed at run time, see
    :func:`torch_sum_tree`): with ``minsum`` / ``offset-minsum`` and early
    stopping off the hard decisions equal Sionna's bit for bit.
    ``boxplus-phi`` evaluates ``phi(x) = log(e^x + 1) - log(e^x - 1)`` in
    float32 steps exactly as Sionna does, with correctly rounded exp/log; it is
    bit-exact w.r.t. Sionna's decoder using correctly rounded exp/log, while
    torch's own vectorised float32 exp/log are off by one ulp in ~1-2 % of the
    evaluations, so versus stock Sionna a few bits of codewords that neither
    decoder decodes can differ (about 1 codeword in 10^4 in the waterfall; BP
    is chaotic on non-converging codewords).
``"layered"``
    Row-layered schedule: the Z check nodes of one base-graph row (which share
    no variable node) are updated together and the posteriors are updated
    immediately.  Vectorised over the Z rows of a layer using the quasi-cyclic
    structure.  Needs about half the iterations of flooding and reaches a lower
    BLER.  Its ``boxplus-phi`` uses the same phi formula with faster float32
    exp/log (a few ulp, like torch's).

Implementation: one codeword per thread at a time (``prange`` over chunks of
codewords, early stopping per codeword); messages are kept in a check-node
group layout (slot-major, check nodes of equal degree / of one layer together)
so that all inner loops are long contiguous loops that LLVM vectorises; the
variable-node side of flooding uses gathers/scatters, layered uses the
circulant shifts.

Check-node rules
----------------
``"boxplus-phi"`` (exact BP via phi, as Sionna), ``"minsum"``,
``"offset-minsum"`` (``max(min - offset, 0)``, Sionna's ``offset`` is 0.5) and
``"normalized-minsum"`` (``normalization * min``; not in Sionna).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import numba
import numpy as np
import scipy.sparse as sp
import torch
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic

from sionna.phy.fec.ldpc.encoding import LDPC5GEncoder

__all__ = ["FastLDPC5GDecoder", "FastDecodeResult", "torch_sum_tree", "SIONNA_OFFSET"]

#: Offset used by Sionna's ``cn_update_offset_minsum`` (its default ``offset=0.5``).
SIONNA_OFFSET = 0.5

_CN_RULES = {"boxplus-phi": 0, "minsum": 1, "offset-minsum": 2, "normalized-minsum": 3}
_SCHEDULES = ("flooding", "layered")

# Sionna's phi clipping for float32 (sionna.phy.fec.ldpc.decoding.cn_update_phi)
_PHI_LO = np.float32(8.5e-8)
_PHI_HI = np.float32(16.635532)
_BIG = np.float32(3.0e38)


# ---------------------------------------------------------------------------
# Vectorisable float64 exp / log (no libm calls, so LLVM can SIMD-ise them)
# ---------------------------------------------------------------------------
@intrinsic
def _f64_bits(typingctx, x):  # pragma: no cover - compiled
    if x != types.float64:
        return None
    sig = types.int64(types.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return sig, codegen


@intrinsic
def _bits_f64(typingctx, x):  # pragma: no cover - compiled
    if x != types.int64:
        return None
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return sig, codegen


_LN2_HI = 6.93147180369123816490e-01  # low 32 bits zero: k * _LN2_HI is exact
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e00
_SQRT_HALF_BITS = 0x3FE6A09E667F3BCD
_E2, _E3, _E4, _E5, _E6, _E7, _E8, _E9, _E10, _E11 = (1.0 / math.factorial(i) for i in range(2, 12))


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _exp64(x):
    """exp(x) for 0 <= x <= 30, relative error ~1e-15 (Taylor degree 11)."""
    kf = np.floor(x * _INV_LN2 + 0.5)
    r = (x - kf * _LN2_HI) - kf * _LN2_LO
    p = _E11
    p = p * r + _E10
    p = p * r + _E9
    p = p * r + _E8
    p = p * r + _E7
    p = p * r + _E6
    p = p * r + _E5
    p = p * r + _E4
    p = p * r + _E3
    p = p * r + _E2
    p = p * r + 1.0
    p = p * r + 1.0
    return _bits_f64(_f64_bits(p) + (np.int64(kf) << 52))


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _log64(y):
    """log(y) for positive normal y, relative error ~1e-15 (atanh series)."""
    ix = _f64_bits(y)
    k = (ix - _SQRT_HALF_BITS) >> 52
    m = _bits_f64(ix - (k << 52))  # in [sqrt(1/2), sqrt(2))
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    p = 1.0 / 17.0
    p = p * z + 1.0 / 15.0
    p = p * z + 1.0 / 13.0
    p = p * z + 1.0 / 11.0
    p = p * z + 1.0 / 9.0
    p = p * z + 1.0 / 7.0
    p = p * z + 1.0 / 5.0
    p = p * z + 1.0 / 3.0
    p = p * z
    kd = np.float64(k)
    return kd * _LN2_HI + (kd * _LN2_LO + (2.0 * s + 2.0 * s * p))


@njit(cache=True, nogil=True, error_model="numpy")
def _phi_inplace(buf):
    """buf[i] <- phi(buf[i]) exactly as Sionna's float32 ``_phi``: clip to
    [8.5e-8, 16.635532], e = exp(x), log(e + 1) - log(e - 1), every step
    rounded to float32, with correctly rounded exp/log (float64 evaluation).
    exp and log run in separate loops (vectorises better)."""
    for i in range(buf.shape[0]):
        x = min(max(buf[i], _PHI_LO), _PHI_HI)
        buf[i] = np.float32(_exp64(np.float64(x)))
    for i in range(buf.shape[0]):
        e = buf[i]
        a = np.float32(_log64(np.float64(e + np.float32(1.0))))
        b = np.float32(_log64(np.float64(e - np.float32(1.0))))
        buf[i] = a - b


@intrinsic
def _f32_bits(typingctx, x):  # pragma: no cover - compiled
    if x != types.float32:
        return None
    sig = types.int32(types.float32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(32))

    return sig, codegen


@intrinsic
def _bits_f32(typingctx, x):  # pragma: no cover - compiled
    if x != types.int32:
        return None
    sig = types.float32(types.int32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return sig, codegen


_F_INV_LN2 = np.float32(1.4426950408889634)
_F_LN2_HI = np.float32(0.693145751953125)  # 16 significant bits: k * hi exact
_F_LN2_LO = np.float32(1.4286068203094172e-06)
_F_SQRT_HALF_BITS = np.int32(0x3F3504F3)
_F = [np.float32(1.0 / math.factorial(i)) for i in range(8)]
_F0, _F1, _F2, _F3, _F4, _F5, _F6, _F7 = _F
_FL3, _FL5, _FL7, _FL9, _FL11 = (np.float32(1.0 / i) for i in (3, 5, 7, 9, 11))


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _exp32(x):
    """float32 exp for |x| < 80, ~1-2 ulp (Cody-Waite + Taylor 7), 16 SIMD lanes."""
    kf = np.floor(x * _F_INV_LN2 + np.float32(0.5))
    r = (x - kf * _F_LN2_HI) - kf * _F_LN2_LO
    p = _F7
    p = p * r + _F6
    p = p * r + _F5
    p = p * r + _F4
    p = p * r + _F3
    p = p * r + _F2
    p = p * r + _F1
    p = p * r + _F0
    return _bits_f32(np.int32(_f32_bits(p) + (np.int32(kf) << np.int32(23))))


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _log32(y):
    """float32 log for positive normal y, ~1-2 ulp (atanh series), 16 SIMD lanes."""
    ix = _f32_bits(y)
    k = np.int32(np.int32(ix - _F_SQRT_HALF_BITS) >> np.int32(23))
    m = _bits_f32(np.int32(ix - np.int32(k << np.int32(23))))
    f = m - np.float32(1.0)
    s = f / (np.float32(2.0) + f)
    z = s * s
    p = _FL11
    p = p * z + _FL9
    p = p * z + _FL7
    p = p * z + _FL5
    p = p * z + _FL3
    p = p * z
    kf = np.float32(k)
    s2 = s + s
    return kf * _F_LN2_HI + (kf * _F_LN2_LO + (s2 + s2 * p))


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _phi32(x):
    """phi(x) = log((e^x + 1) / (e^x - 1)) for x >= 0 in float32, with the clipping of
    _phi_inplace and float32 exp/log that are a few ulp off (the layered schedule is
    not meant to reproduce Sionna bit for bit), and one log of the ratio instead of
    a difference of two logs: a third less work, and more accurate where phi is small
    (the difference of two logs near 16.6 cancels to a multiple of their ulp, 1.9e-6,
    while phi(16.6) = 1.2e-7). The clipping keeps e - 1 >= 2**-23 > 0.  Inlined into
    the layered kernel's loops, which are compiled with fastmath "contract" only: LLVM
    fuses the polynomial steps into FMAs (phi 1.6x faster on AVX2, 1e-6 relative
    difference) but does not reassociate, which would break the Cody-Waite range
    reduction of _exp32."""
    x = min(max(x, _PHI_LO), _PHI_HI)
    e = _exp32(x)
    return _log32((e + np.float32(1.0)) / (e - np.float32(1.0)))


# ---------------------------------------------------------------------------
# Kernels.  Messages live in "check-node group" layout: the check nodes are
# partitioned into groups of equal degree d (flooding: one group per degree;
# layered: one group per base-graph row), and the message of slot s of the
# jj-th check node of a group starting at offset `off` with `ng` nodes is at
# off + s * ng + jj.  All inner loops are long flat loops over the nodes of a
# group, which LLVM vectorises (the variable-node side uses gathers/scatters).
# ---------------------------------------------------------------------------
@njit(cache=True, nogil=True, error_model="numpy")
def _fill_llr(llr_ch, cw, src, llr_max, out):
    """Rate recovery: internal LLRs log(p0/p1), clipped; src[i] >= 0: index of
    the received logit, -1: punctured / not transmitted (0), -2: filler bit."""
    zero = np.float32(0.0)
    for i in range(src.shape[0]):
        s = src[i]
        if s >= 0:
            x = llr_ch[cw, s]
            out[i] = -min(max(x, -llr_max), llr_max)
        elif s == -1:
            out[i] = zero
        else:
            out[i] = llr_max


@njit(cache=True, nogil=True, error_model="numpy")
def _cn_update_minsum(msg, off, ng, d, llr_max, alpha, beta, m1, m2, sg):
    """Sionna's cn_update_offset_minsum (beta=offset, alpha=1) / minsum (beta=0)
    and normalized min-sum (beta=0, alpha<1), in place on one check-node group.
    (Inner loops index slice views by the loop variable so that LLVM sees
    contiguous accesses and vectorises them.)"""
    zero = np.float32(0.0)
    one = np.float32(1.0)
    m1 = m1[:ng]
    m2 = m2[:ng]
    sg = sg[:ng]
    for jj in range(ng):
        m1[jj] = _BIG
        m2[jj] = _BIG
        sg[jj] = one
    for s in range(d):
        row = msg[off + s * ng: off + (s + 1) * ng]
        for jj in range(ng):
            x = row[jj]
            sg[jj] = -sg[jj] if x < zero else sg[jj]
            a = abs(x)
            c1 = m1[jj]
            lt = a < c1
            m2[jj] = c1 if lt else min(m2[jj], a)
            m1[jj] = a if lt else c1
    for jj in range(ng):
        # Sionna computes the second minimum as (m2 - m1) + m1
        m2[jj] = (m2[jj] - m1[jj]) + m1[jj]
    for s in range(d):
        row = msg[off + s * ng: off + (s + 1) * ng]
        for jj in range(ng):
            x = row[jj]
            a = abs(x)
            mag = m2[jj] if a == m1[jj] else m1[jj]
            mag = max(mag - beta, zero) * alpha
            y = (-sg[jj] if x < zero else sg[jj]) * mag
            row[jj] = min(max(y, -llr_max), llr_max)


@njit(cache=True, nogil=True, error_model="numpy")
def _tree_sum(sc, n, d, ops):
    """Apply the summation-tree program for degree d to the registers
    sc[r*n:(r+1)*n] (leaves r < d); returns the view holding the result."""
    for t in range(d - 1):
        ra = sc[ops[d, t, 0] * n: ops[d, t, 0] * n + n]
        rb = sc[ops[d, t, 1] * n: ops[d, t, 1] * n + n]
        rc = sc[(d + t) * n: (d + t) * n + n]
        for i in range(n):
            rc[i] = ra[i] + rb[i]
    return sc[(2 * d - 2) * n: (2 * d - 1) * n]


@njit(cache=True, nogil=True, error_model="numpy")
def _cn_update_phi(msg, off, ng, d, llr_max, ops, sc, sg, tmp):
    """Sionna's cn_update_phi in place on one check-node group; the phi values
    are summed in torch's reduction order given by the tree program `ops`."""
    zero = np.float32(0.0)
    one = np.float32(1.0)
    sg = sg[:ng]
    tmp = tmp[:ng]
    for jj in range(ng):
        sg[jj] = one
    for s in range(d):
        row = msg[off + s * ng: off + (s + 1) * ng]
        reg = sc[s * ng: (s + 1) * ng]
        for jj in range(ng):
            x = row[jj]
            sg[jj] = -sg[jj] if x < zero else sg[jj]
            reg[jj] = abs(x)
        _phi_inplace(reg)
    tot = _tree_sum(sc, ng, d, ops)
    for s in range(d):
        row = msg[off + s * ng: off + (s + 1) * ng]
        reg = sc[s * ng: (s + 1) * ng]
        for jj in range(ng):
            tmp[jj] = tot[jj] - reg[jj]
        _phi_inplace(tmp)
        for jj in range(ng):
            x = row[jj]
            y = (-sg[jj] if x < zero else sg[jj]) * tmp[jj]
            row[jj] = min(max(y, -llr_max), llr_max)


@njit(cache=True, nogil=True, error_model="numpy")
def _groups_syndrome_ok(hd, pos, g_off, g_n, g_d, par):
    """True iff every check node has even parity; hd[pos[m]] is the hard
    decision of the variable node of message slot m."""
    for g in range(g_n.shape[0]):
        ng = g_n[g]
        off = g_off[g]
        pr = par[:ng]
        for jj in range(ng):
            pr[jj] = 0
        for s in range(g_d[g]):
            prow = pos[off + s * ng: off + (s + 1) * ng]
            for jj in range(ng):
                pr[jj] ^= hd[prow[jj]]
        acc = np.uint8(0)
        for jj in range(ng):
            acc |= pr[jj]
        if acc != 0:
            return False
    return True


@njit(cache=True, nogil=True, error_model="numpy")
def _flood_chunk(c0, c1, llr_ch, src_g, llr_max, num_iter, early_stop, rule, alpha, beta,
                 cg_off, cg_n, cg_d, cn_vg, vg_start, vg_d, vg_soff, vidx,
                 vn_ops, cn_ops, info_pos, sc_size, out_bits, out_ok, out_it):
    n_vn = src_g.shape[0]
    n_e = cn_vg.shape[0]
    g_max = 1
    for g in range(cg_n.shape[0]):
        g_max = max(g_max, cg_n[g])
    for h in range(vg_d.shape[0]):
        g_max = max(g_max, vg_start[h + 1] - vg_start[h])
    msg = np.empty(n_e, np.float32)
    llr = np.empty(n_vn, np.float32)
    hd = np.zeros(n_vn, np.uint8)
    sc = np.empty(sc_size, np.float32)
    xv_buf = np.empty(g_max, np.float32)
    m1 = np.empty(g_max, np.float32)
    m2 = np.empty(g_max, np.float32)
    sg = np.empty(g_max, np.float32)
    par = np.empty(g_max, np.uint8)
    zero = np.float32(0.0)
    k = info_pos.shape[0]

    for cw in range(c0, c1):
        _fill_llr(llr_ch, cw, src_g, llr_max, llr)
        for m in range(n_e):
            msg[m] = llr[cn_vg[m]]
        ok = False
        it_used = 0
        for it in range(num_iter):
            # ---- check-node update (v2c -> c2v, in place)
            for g in range(cg_n.shape[0]):
                if rule == 0:
                    _cn_update_phi(msg, cg_off[g], cg_n[g], cg_d[g], llr_max, cn_ops, sc, sg,
                                   xv_buf)
                else:
                    _cn_update_minsum(msg, cg_off[g], cg_n[g], cg_d[g], llr_max, alpha, beta,
                                      m1, m2, sg)
            # ---- variable-node update (c2v -> v2c, in place), torch's sum order
            for h in range(vg_d.shape[0]):
                v0 = vg_start[h]
                nv = vg_start[h + 1] - v0
                d = vg_d[h]
                soff = vg_soff[h]
                xv = xv_buf[:nv]
                lv = llr[v0: v0 + nv]
                hv = hd[v0: v0 + nv]
                for s in range(d):
                    ix = vidx[soff + s * nv: soff + (s + 1) * nv]
                    reg = sc[s * nv: (s + 1) * nv]
                    for vv in range(nv):
                        reg[vv] = msg[ix[vv]]
                if d > 0:
                    tot = _tree_sum(sc, nv, d, vn_ops)
                    for vv in range(nv):
                        xv[vv] = tot[vv] + lv[vv]
                else:
                    for vv in range(nv):
                        xv[vv] = zero + lv[vv]
                for vv in range(nv):
                    hv[vv] = np.uint8(1) if xv[vv] <= zero else np.uint8(0)
                for s in range(d):
                    ix = vidx[soff + s * nv: soff + (s + 1) * nv]
                    reg = sc[s * nv: (s + 1) * nv]
                    for vv in range(nv):
                        y = xv[vv] - reg[vv]
                        msg[ix[vv]] = min(max(y, -llr_max), llr_max)
            it_used = it + 1
            if early_stop or it_used == num_iter:
                ok = _groups_syndrome_ok(hd, cn_vg, cg_off, cg_n, cg_d, par)
                if early_stop and ok:
                    break
        for i in range(k):
            out_bits[cw, i] = hd[info_pos[i]]
        out_ok[cw] = ok
        out_it[cw] = it_used


@njit(cache=True, nogil=True, error_model="numpy", parallel=True)
def _flood_kernel(llr_ch, src_g, llr_max, num_iter, early_stop, rule, alpha, beta,
                  cg_off, cg_n, cg_d, cn_vg, vg_start, vg_d, vg_soff, vidx,
                  vn_ops, cn_ops, info_pos, sc_size, nchunks, out_bits, out_ok, out_it):
    n_cw = llr_ch.shape[0]
    for ch in prange(nchunks):
        c0 = (n_cw * ch) // nchunks
        c1 = (n_cw * (ch + 1)) // nchunks
        if c1 > c0:
            _flood_chunk(c0, c1, llr_ch, src_g, llr_max, num_iter, early_stop, rule, alpha,
                         beta, cg_off, cg_n, cg_d, cn_vg, vg_start, vg_d, vg_soff, vidx,
                         vn_ops, cn_ops, info_pos, sc_size, out_bits, out_ok, out_it)


@njit(cache=True, nogil=True, error_model="numpy")
def _layered_syndrome_ok(post, z, lg_off, lg_n, lg_d, ls_col, ls_shift, par):
    """Zero syndrome of the hard decisions (post <= 0), QC layout."""
    zero = np.float32(0.0)
    for g in range(lg_n.shape[0]):
        ng = lg_n[g]
        pr = par[:ng]
        for jj in range(ng):
            pr[jj] = 0
        for s in range(lg_d[g]):
            base = ls_col[lg_off[g] + s] * z
            sh = ls_shift[lg_off[g] + s]
            n1 = min(ng, z - sh)
            pa = post[base + sh: base + sh + n1]
            for i in range(n1):
                pr[i] ^= np.uint8(1) if pa[i] <= zero else np.uint8(0)
            pb = post[base: base + ng - n1]
            prb = pr[n1:]
            for i in range(ng - n1):
                prb[i] ^= np.uint8(1) if pb[i] <= zero else np.uint8(0)
        acc = np.uint8(0)
        for jj in range(ng):
            acc |= pr[jj]
        if acc != 0:
            return False
    return True


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})
def _layered_chunk(c0, c1, llr_ch, src, llr_max, num_iter, early_stop, rule, alpha, beta,
                   z, lg_off, lg_n, lg_d, ls_col, ls_shift, n_post, k, out_bits, out_ok, out_it):
    """Layered decoding of codewords c0..c1-1.  Layer g = base-graph row with
    lg_n[g] <= z check nodes and lg_d[g] circulant blocks; block s of the layer
    (slot s) has block column ls_col and shift ls_shift: check node i of the
    layer is connected to variable node ls_col*z + (i + shift) % z.  The c2v
    messages of layer g, slot s are stored at rmsg[(lg_off[g] + s) * z + i]."""
    n_vn = src.shape[0]
    g_max = 1
    d_max = 1
    for g in range(lg_n.shape[0]):
        g_max = max(g_max, lg_n[g])
        d_max = max(d_max, lg_d[g])
    post = np.zeros(n_post, np.float32)
    rmsg = np.empty(ls_col.shape[0] * z, np.float32)
    q_buf = np.empty(d_max * z, np.float32)
    ph_buf = np.empty(d_max * z, np.float32)
    m1_buf = np.empty(g_max, np.float32)
    m2_buf = np.empty(g_max, np.float32)
    tot_buf = np.empty(g_max, np.float32)
    idx_buf = np.empty(g_max, np.int32)
    sp_buf = np.empty(g_max, np.uint8)
    par = np.empty(g_max, np.uint8)
    zero = np.float32(0.0)

    for cw in range(c0, c1):
        _fill_llr(llr_ch, cw, src, llr_max, post[:n_vn])
        for m in range(rmsg.shape[0]):
            rmsg[m] = zero
        ok = False
        it_used = 0
        for it in range(num_iter):
            for g in range(lg_n.shape[0]):
                ng = lg_n[g]
                d = lg_d[g]
                off = lg_off[g]
                sp_ = sp_buf[:ng]
                # ---- extrinsic v2c messages q = posterior - old c2v
                for s in range(d):
                    base = ls_col[off + s] * z
                    sh = ls_shift[off + s]
                    n1 = min(ng, z - sh)
                    rr = rmsg[(off + s) * z: (off + s) * z + ng]
                    qq = q_buf[s * z: s * z + ng]
                    pa = post[base + sh: base + sh + n1]
                    for i in range(n1):
                        qq[i] = pa[i] - rr[i]
                    pb = post[base: base + ng - n1]
                    qb = qq[n1:]
                    rb = rr[n1:]
                    for i in range(ng - n1):
                        qb[i] = pb[i] - rb[i]
                for jj in range(ng):
                    sp_[jj] = 0
                if rule == 0:
                    tot = tot_buf[:ng]
                    for jj in range(ng):
                        tot[jj] = zero
                    # one fused loop per slot and direction (phi inlined): no extra
                    # passes over the messages
                    for s in range(d):
                        qq = q_buf[s * z: s * z + ng]
                        pp = ph_buf[s * z: s * z + ng]
                        for jj in range(ng):
                            x = qq[jj]
                            sp_[jj] ^= np.uint8(1) if x < zero else np.uint8(0)
                            ph = _phi32(min(abs(x), llr_max))
                            pp[jj] = ph
                            tot[jj] += ph
                    for s in range(d):
                        qq = q_buf[s * z: s * z + ng]
                        pp = ph_buf[s * z: s * z + ng]
                        rr = rmsg[(off + s) * z: (off + s) * z + ng]
                        for jj in range(ng):
                            x = qq[jj]
                            mag = min(_phi32(tot[jj] - pp[jj]), llr_max)
                            neg = sp_[jj] ^ (np.uint8(1) if x < zero else np.uint8(0))
                            rn = -mag if neg != 0 else mag
                            rr[jj] = rn
                            qq[jj] = x + rn
                else:
                    m1 = m1_buf[:ng]
                    m2 = m2_buf[:ng]
                    idx = idx_buf[:ng]
                    for jj in range(ng):
                        m1[jj] = _BIG
                        m2[jj] = _BIG
                        idx[jj] = 0
                    for s in range(d):
                        qq = q_buf[s * z: s * z + ng]
                        for jj in range(ng):
                            x = qq[jj]
                            sp_[jj] ^= np.uint8(1) if x < zero else np.uint8(0)
                            a = min(abs(x), llr_max)
                            c1_ = m1[jj]
                            lt = a < c1_
                            m2[jj] = c1_ if lt else min(m2[jj], a)
                            idx[jj] = np.int32(s) if lt else idx[jj]
                            m1[jj] = a if lt else c1_
                    for jj in range(ng):
                        m1[jj] = min(max(m1[jj] - beta, zero) * alpha, llr_max)
                        m2[jj] = min(max(m2[jj] - beta, zero) * alpha, llr_max)
                    for s in range(d):
                        qq = q_buf[s * z: s * z + ng]
                        rr = rmsg[(off + s) * z: (off + s) * z + ng]
                        for jj in range(ng):
                            x = qq[jj]
                            mag = m2[jj] if idx[jj] == s else m1[jj]
                            neg = sp_[jj] ^ (np.uint8(1) if x < zero else np.uint8(0))
                            rn = -mag if neg != 0 else mag
                            rr[jj] = rn
                            qq[jj] = x + rn
                # ---- posteriors (the check nodes of a layer share no variable node)
                for s in range(d):
                    base = ls_col[off + s] * z
                    sh = ls_shift[off + s]
                    n1 = min(ng, z - sh)
                    qq = q_buf[s * z: s * z + ng]
                    pa = post[base + sh: base + sh + n1]
                    for i in range(n1):
                        pa[i] = qq[i]
                    pb = post[base: base + ng - n1]
                    qb = qq[n1:]
                    for i in range(ng - n1):
                        pb[i] = qb[i]
            it_used = it + 1
            if early_stop or it_used == num_iter:
                ok = _layered_syndrome_ok(post, z, lg_off, lg_n, lg_d, ls_col, ls_shift, par)
                if early_stop and ok:
                    break
        for i in range(k):
            out_bits[cw, i] = np.uint8(1) if post[i] <= zero else np.uint8(0)
        out_ok[cw] = ok
        out_it[cw] = it_used


@njit(cache=True, nogil=True, error_model="numpy", parallel=True)
def _layered_kernel(llr_ch, src, llr_max, num_iter, early_stop, rule, alpha, beta,
                    z, lg_off, lg_n, lg_d, ls_col, ls_shift, n_post, k, nchunks,
                    out_bits, out_ok, out_it):
    n_cw = llr_ch.shape[0]
    for ch in prange(nchunks):
        c0 = (n_cw * ch) // nchunks
        c1 = (n_cw * (ch + 1)) // nchunks
        if c1 > c0:
            _layered_chunk(c0, c1, llr_ch, src, llr_max, num_iter, early_stop, rule, alpha,
                           beta, z, lg_off, lg_n, lg_d, ls_col, ls_shift, n_post, k,
                           out_bits, out_ok, out_it)


# ---------------------------------------------------------------------------
# torch reduction order (for bit-exact emulation of Sionna's sums)
# ---------------------------------------------------------------------------
_TREE_CACHE: Dict[int, Optional[object]] = {}


def _probe_lca_sizes(d: int) -> np.ndarray:
    """For every pair of slots (i, j) of a ``[..., d]`` float32 ``torch.sum(dim=-1)``,
    the number of leaves below their lowest common ancestor in torch's reduction
    tree.  Probe: x_i = 2^30, x_j = -2^30, all others 1; the ones absorbed in
    a partial sum that contains +-2^30 before the two cancel are lost."""
    pairs = list(itertools.combinations(range(d), 2))
    rows = max(4096, len(pairs))
    x = np.ones((rows, d), np.float32)
    rr = np.arange(rows)
    pi = np.array([p[0] for p in pairs])[rr % len(pairs)]
    pj = np.array([p[1] for p in pairs])[rr % len(pairs)]
    x[rr, pi] = 2.0**30
    x[rr, pj] = -(2.0**30)
    s = torch.from_numpy(x).reshape(1, rows, d).sum(dim=2).numpy().ravel()
    lca = np.zeros((d, d), np.int64)
    for r, (i, j) in enumerate(pairs):
        lca[i, j] = lca[j, i] = d - int(round(float(s[r])))
    return lca


def _tree_from_lca(lca: np.ndarray):
    d = lca.shape[0]
    clusters = {i: (frozenset([i]), i) for i in range(d)}
    while len(clusters) > 1:
        found = None
        for a, b in itertools.combinations(sorted(clusters), 2):
            sa, sb = clusters[a][0], clusters[b][0]
            tgt = len(sa) + len(sb)
            if all(lca[i, j] == tgt for i in sa for j in sb):
                found = (a, b)
                break
        if found is None:
            return None
        a, b = found
        sa, na = clusters.pop(a)
        sb, nb = clusters.pop(b)
        clusters[min(a, b)] = (sa | sb, (na, nb))
    return next(iter(clusters.values()))[1]


def _eval_tree(node, x: np.ndarray) -> np.ndarray:
    if isinstance(node, (int, np.integer)):
        return x[..., node]
    return (_eval_tree(node[0], x) + _eval_tree(node[1], x)).astype(np.float32)


def torch_sum_tree(d: int):
    """Binary summation tree that ``torch.sum(dim=-1)`` uses for a contiguous
    float32 ``[..., d]`` tensor on this machine (nested 2-tuples of slot
    indices), or ``None`` if it could not be identified (then sequential
    summation is used and flooding is not guaranteed bit-exact w.r.t. Sionna).
    The tree is inferred with cancellation probes and verified on random data."""
    if d in _TREE_CACHE:
        return _TREE_CACHE[d]
    tree = None
    if d == 1:
        tree = 0
    elif d > 1:
        tree = _tree_from_lca(_probe_lca_sizes(d))
        if tree is not None:
            gen = torch.Generator().manual_seed(1234)
            for shape in ((1, 3001, d), (7, 333, d), (64, 97, d)):
                xt = torch.randn(shape, generator=gen) * torch.rand(shape, generator=gen) * 10
                if not np.array_equal(_eval_tree(tree, xt.numpy()), xt.sum(dim=2).numpy()):
                    tree = None
                    break
    _TREE_CACHE[d] = tree
    return tree


def _sequential_tree(d: int):
    node = 0
    for i in range(1, d):
        node = (node, i)
    return node


def _tree_programs(tree, d_max: int) -> np.ndarray:
    """ops[d, t] = (reg_a, reg_b): op t of the tree restricted to slots < d
    (Sionna pads with exact zeros, which do not change a float sum); leaves are
    registers 0..d-1, op t writes register d + t, the result is register 2d-2."""
    ops = np.zeros((d_max + 1, max(d_max - 1, 1), 2), np.int32)

    def prune(node, d):
        if isinstance(node, (int, np.integer)):
            return int(node) if node < d else None
        a, b = prune(node[0], d), prune(node[1], d)
        if a is None:
            return b
        if b is None:
            return a
        return (a, b)

    for d in range(1, d_max + 1):
        pruned = prune(tree, d)
        prog = []

        def emit(node):
            if isinstance(node, int):
                return node
            ra, rb = emit(node[0]), emit(node[1])
            prog.append((ra, rb))
            return d + len(prog) - 1

        emit(pruned)
        assert len(prog) == d - 1
        for t, (a, b) in enumerate(prog):
            ops[d, t] = (a, b)
    return ops


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class FastDecodeResult:
    """Output of :class:`FastLDPC5GDecoder`.

    :param bits: ``[..., k]`` float32 hard-decided information bits (0/1), on
        the device of the input.
    :param syndrome_ok: ``[...]`` bool, True iff the final hard decisions
        satisfy all parity checks (i.e. form a codeword of the mother code).
    :param iterations: ``[...]`` int32, BP iterations run for each codeword
        (``num_iter`` when early stopping is off or the codeword did not
        converge).
    """

    bits: torch.Tensor
    syndrome_ok: torch.Tensor
    iterations: torch.Tensor


class FastLDPC5GDecoder:
    """Fast CPU BP decoder for Sionna's 5G NR LDPC codes (see module docstring).

    :param encoder: the ``sionna.phy.fec.ldpc.LDPC5GEncoder`` whose codewords
        are decoded (its ``pcm``, lifting size, rate matching and optional
        output interleaver are used).
    :param cn_update: ``"boxplus-phi"`` (default), ``"minsum"``,
        ``"offset-minsum"`` or ``"normalized-minsum"``.
    :param schedule: ``"flooding"`` (Sionna's schedule, default) or
        ``"layered"``.
    :param num_iter: maximum number of BP iterations (>= 1).
    :param early_stop: stop a codeword as soon as the syndrome of its hard
        decisions is zero (checked after every iteration).
    :param llr_max: clipping value of the channel LLRs and of all messages.
    :param normalization: factor for ``"normalized-minsum"`` (0 < a <= 1).
    :param offset: offset for ``"offset-minsum"`` (>= 0, Sionna: 0.5).

    Call with ``llr_ch`` (``torch.Tensor [..., n]`` float logits
    ``log(p1/p0)``); returns a :class:`FastDecodeResult`.
    """

    def __init__(
        self,
        encoder: LDPC5GEncoder,
        cn_update: str = "boxplus-phi",
        schedule: str = "flooding",
        num_iter: int = 20,
        early_stop: bool = True,
        llr_max: float = 20.0,
        normalization: float = 0.75,
        offset: float = SIONNA_OFFSET,
    ) -> None:
        if not isinstance(encoder, LDPC5GEncoder):
            raise ValueError("encoder must be a sionna.phy.fec.ldpc.LDPC5GEncoder.")
        if cn_update not in _CN_RULES:
            raise ValueError(f"cn_update must be one of {sorted(_CN_RULES)}, got {cn_update!r}.")
        if schedule not in _SCHEDULES:
            raise ValueError(f"schedule must be one of {_SCHEDULES}, got {schedule!r}.")
        if isinstance(num_iter, bool) or not isinstance(num_iter, (int, np.integer)) or num_iter < 1:
            raise ValueError(f"num_iter must be an int >= 1, got {num_iter!r}.")
        if not isinstance(early_stop, (bool, np.bool_)):
            raise ValueError(f"early_stop must be bool, got {early_stop!r}.")
        if not _is_real(llr_max) or not llr_max > 0 or not math.isfinite(llr_max):
            raise ValueError(f"llr_max must be a finite float > 0, got {llr_max!r}.")
        if not _is_real(normalization) or not 0 < normalization <= 1:
            raise ValueError(f"normalization must be in (0, 1], got {normalization!r}.")
        if not _is_real(offset) or not 0 <= offset < llr_max:
            raise ValueError(f"offset must be in [0, llr_max), got {offset!r}.")

        self._encoder = encoder
        self._cn_update = cn_update
        self._schedule = schedule
        self._num_iter = int(num_iter)
        self._early_stop = bool(early_stop)
        self._llr_max = float(llr_max)
        self._normalization = float(normalization)
        self._offset = float(offset)
        rule = _CN_RULES[cn_update]
        self._rule = rule
        self._alpha = np.float32(normalization if rule == 3 else 1.0)
        self._beta = np.float32(offset if rule == 2 else 0.0)

        k, n, z = int(encoder.k), int(encoder.n), int(encoder.z)
        self._k, self._n, self._z = k, n, z
        n_ldpc, k_ldpc = int(encoder.n_ldpc), int(encoder.k_ldpc)

        pcm = encoder.pcm
        pcm = sp.csr_matrix(pcm) if not sp.issparse(pcm) else pcm.tocsr()
        if pcm.shape != (n_ldpc - k_ldpc, n_ldpc):
            raise ValueError("encoder.pcm has an unexpected shape.")

        # --- pruning of punctured degree-1 VNs, exactly as LDPC5GDecoder(prune_pcm=True)
        dv = np.asarray(pcm.sum(axis=0)).ravel()
        last_pos = n_ldpc
        for idx in range(n_ldpc - 1, 0, -1):
            if dv[idx] == 1:
                last_pos = idx
            else:
                break
        k_filler = k_ldpc - k
        nb_punc_bits = (n_ldpc - k_filler) - n - 2 * z
        n_pruned = int(max(last_pos, n_ldpc - nb_punc_bits))
        nb_pruned = n_ldpc - n_pruned
        if nb_pruned > 0:
            pcm = pcm[:-nb_pruned, :-nb_pruned]
        self._pcm_pruned = pcm
        self._n_pruned = n_pruned
        n_cn = pcm.shape[0]

        # --- map mother-code position -> index into received LLRs (-1: LLR 0, -2: filler)
        n_sys_rm = k - 2 * z
        buf_len = int(encoder.n_cb_comp) - nb_pruned
        buf_src = np.full(max(buf_len, 0), -1, np.int64)
        nb = min(n, buf_len)
        if encoder.num_bits_per_symbol is not None:
            out_int_inv = np.asarray(encoder.out_int_inv.cpu().numpy(), np.int64)
            buf_src[:nb] = out_int_inv[:nb]
        else:
            buf_src[:nb] = np.arange(nb)
        src = np.concatenate([
            np.full(2 * z, -1, np.int64),
            buf_src[:n_sys_rm],
            np.full(k_filler, -2, np.int64),
            buf_src[n_sys_rm:],
        ])
        if src.shape[0] != n_pruned:
            raise ValueError("Internal error: rate-recovery map has wrong length.")
        self._src = src.astype(np.int32)

        # --- edge arrays in Sionna's order (LDPCBPDecoder.__init__)
        cn_idx, vn_idx, _ = sp.find(pcm)
        order = np.argsort(vn_idx)
        cn_idx_s = cn_idx[order]
        vn_idx_s = vn_idx[order]
        v2c_perm = np.argsort(cn_idx_s)  # CN-order position -> VN-order edge
        v2c_perm_inv = np.argsort(v2c_perm)
        cn_sorted = cn_idx_s[v2c_perm]  # CN of each CN-order position
        cn_vn = vn_idx_s[v2c_perm]  # VN of each CN-order position
        cn_ptr = np.concatenate([[0], np.cumsum(np.bincount(cn_sorted, minlength=n_cn))])
        vn_ptr = np.concatenate([[0], np.cumsum(np.bincount(vn_idx_s, minlength=n_pruned))])
        self._num_edges = n_e = int(cn_idx.shape[0])
        dc = np.diff(cn_ptr)
        dv = np.diff(vn_ptr)
        dc_max, dv_max = int(dc.max()), int(dv.max())
        vtree, ctree = torch_sum_tree(dv_max), torch_sum_tree(dc_max)
        self._exact_sum_order = vtree is not None and ctree is not None
        self._vn_ops = _tree_programs(vtree if vtree is not None else _sequential_tree(dv_max), dv_max)
        self._cn_ops = _tree_programs(ctree if ctree is not None else _sequential_tree(dc_max), dc_max)

        # --- flooding layout: CN groups of equal degree, slot-major
        slot = np.arange(n_e) - cn_ptr[cn_sorted]  # Sionna CN slot of each CN-order position
        cg_off, cg_n, cg_d = [0], [], []
        cn_rank = np.empty(n_cn, np.int64)  # index of the CN inside its group
        cn_goff = np.empty(n_cn, np.int64)  # message offset of the CN's group
        cn_gn = np.empty(n_cn, np.int64)  # size of the CN's group
        for d in np.unique(dc):
            members = np.flatnonzero(dc == d)
            cn_rank[members] = np.arange(members.size)
            cn_goff[members] = cg_off[-1]
            cn_gn[members] = members.size
            cg_n.append(members.size)
            cg_d.append(int(d))
            cg_off.append(cg_off[-1] + members.size * int(d))
        mpos = cn_goff[cn_sorted] + slot * cn_gn[cn_sorted] + cn_rank[cn_sorted]
        v2m = mpos[v2c_perm_inv]  # message position of each Sionna VN-order edge
        # VN groups of equal degree (VNs in group order: vperm)
        vperm = np.lexsort((np.arange(n_pruned), dv))
        vrank = np.empty(n_pruned, np.int64)
        vrank[vperm] = np.arange(n_pruned)
        vg_start, vg_d, vg_soff = [0], [], [0]
        vidx = np.empty(n_e, np.int64)
        for d in np.unique(dv):
            vs = vperm[dv[vperm] == d]  # contiguous in group order
            nv = vs.size
            for t in range(int(d)):
                vidx[vg_soff[-1] + t * nv: vg_soff[-1] + (t + 1) * nv] = v2m[vn_ptr[vs] + t]
            vg_start.append(vg_start[-1] + nv)
            vg_d.append(int(d))
            vg_soff.append(vg_soff[-1] + nv * int(d))
        cn_vg = np.empty(n_e, np.int64)
        cn_vg[mpos] = vrank[cn_vn]
        self._cg_off = np.asarray(cg_off, np.int64)
        self._cg_n = np.asarray(cg_n, np.int32)
        self._cg_d = np.asarray(cg_d, np.int32)
        self._cn_vg = cn_vg.astype(np.uint32)
        self._vg_start = np.asarray(vg_start, np.int32)
        self._vg_d = np.asarray(vg_d, np.int32)
        self._vg_soff = np.asarray(vg_soff[:-1], np.int64)
        self._vidx = vidx.astype(np.uint32)
        self._src_g = self._src[vperm].copy()
        self._info_pos = vrank[:k].astype(np.uint32)
        sc = [(2 * d - 1) * nn for d, nn in zip(cg_d, cg_n)]
        sc += [(2 * d - 1) * (vg_start[h + 1] - vg_start[h]) for h, d in enumerate(vg_d)]
        self._sc_size = int(max([1] + sc))

        # --- layered layout: one group per base-graph row (Z check nodes)
        self._build_layers(pcm, z)

    # ------------------------------------------------------------------ helpers
    def _build_layers(self, pcm: sp.csr_matrix, z: int) -> None:
        """Layers = base-graph rows; each row of Z (last: fewer) check nodes
        consists of circulant blocks (column c, shift sh): check node i of the
        layer connects to variable node c*z + (i + sh) % z."""
        n_cn, n_vn = pcm.shape
        indptr, indices = pcm.indptr, pcm.indices
        lg_off, lg_n, lg_d, ls_col, ls_shift = [0], [], [], [], []
        for r0 in range(0, n_cn, z):
            rows = np.arange(r0, min(r0 + z, n_cn))
            deg = np.diff(indptr[rows[0]: rows[-1] + 2])
            d = int(deg[0])
            if np.any(deg != d):
                raise ValueError("encoder.pcm is not quasi-cyclic with lifting size z.")
            cols = np.stack([np.sort(indices[indptr[r]: indptr[r + 1]]) for r in rows])  # [ng, d]
            i = np.arange(rows.size)
            for s in range(d):
                c = int(cols[0, s]) // z
                sh = int(cols[0, s]) - c * z
                if not np.array_equal(cols[:, s], c * z + (i + sh) % z):
                    raise ValueError("encoder.pcm is not quasi-cyclic with lifting size z.")
                ls_col.append(c)
                ls_shift.append(sh)
            lg_n.append(rows.size)
            lg_d.append(d)
            lg_off.append(lg_off[-1] + d)
        self._lg_off = np.asarray(lg_off, np.int64)
        self._lg_n = np.asarray(lg_n, np.int64)
        self._lg_d = np.asarray(lg_d, np.int64)
        self._ls_col = np.asarray(ls_col, np.int64)
        self._ls_shift = np.asarray(ls_shift, np.int64)
        self._n_post = int(-(-n_vn // z) * z)

    # --------------------------------------------------------------- properties
    @property
    def encoder(self) -> LDPC5GEncoder:
        """The encoder whose code is decoded."""
        return self._encoder

    @property
    def k(self) -> int:
        """Number of information bits."""
        return self._k

    @property
    def n(self) -> int:
        """Number of transmitted codeword bits."""
        return self._n

    @property
    def num_iter(self) -> int:
        """Maximum number of BP iterations."""
        return self._num_iter

    @property
    def cn_update(self) -> str:
        """Check-node update rule."""
        return self._cn_update

    @property
    def schedule(self) -> str:
        """``"flooding"`` or ``"layered"``."""
        return self._schedule

    @property
    def early_stop(self) -> bool:
        """Whether decoding of a codeword stops at a zero syndrome."""
        return self._early_stop

    @property
    def llr_max(self) -> float:
        """LLR / message clipping value."""
        return self._llr_max

    @property
    def num_edges(self) -> int:
        """Edges of the (pruned) Tanner graph."""
        return self._num_edges

    @property
    def exact_sum_order(self) -> bool:
        """True if torch's float32 summation order was identified, i.e. the
        flooding schedule reproduces Sionna's additions bit for bit."""
        return self._exact_sum_order

    # ------------------------------------------------------------------- decode
    def __call__(self, llr_ch: torch.Tensor) -> FastDecodeResult:
        """Decode.

        :param llr_ch: ``[..., n]`` float tensor of channel logits
            ``log(p(b=1)/p(b=0))`` (any device; decoding runs on the CPU).
        :return: :class:`FastDecodeResult` with ``bits [..., k]`` (float32),
            ``syndrome_ok [...]`` (bool) and ``iterations [...]`` (int32), on
            the device of ``llr_ch``.
        """
        if not isinstance(llr_ch, torch.Tensor):
            raise ValueError("llr_ch must be a torch.Tensor.")
        if llr_ch.dim() < 1 or llr_ch.shape[-1] != self._n:
            raise ValueError(f"llr_ch must have shape [..., n] with n={self._n}, got {tuple(llr_ch.shape)}.")
        if not llr_ch.is_floating_point():
            raise ValueError("llr_ch must be a floating-point tensor.")
        device = llr_ch.device
        lead = tuple(llr_ch.shape[:-1])
        x = llr_ch.detach().reshape(-1, self._n).to(device="cpu", dtype=torch.float32)
        llr = np.ascontiguousarray(x.numpy())
        bits, ok, its = self.decode_numpy(llr)
        return FastDecodeResult(
            bits=torch.from_numpy(bits).to(torch.float32).reshape(lead + (self._k,)).to(device),
            syndrome_ok=torch.from_numpy(ok).reshape(lead).to(device),
            iterations=torch.from_numpy(its).reshape(lead).to(device),
        )

    def decode_numpy(self, llr: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Decode a C-contiguous float32 array ``[B, n]`` of logits.

        :return: ``(bits uint8 [B, k], syndrome_ok bool [B], iterations int32 [B])``.
        """
        llr = np.ascontiguousarray(llr, dtype=np.float32)
        if llr.ndim != 2 or llr.shape[1] != self._n:
            raise ValueError(f"llr must have shape [B, n] with n={self._n}.")
        n_cw = llr.shape[0]
        bits = np.zeros((n_cw, self._k), np.uint8)
        ok = np.zeros(n_cw, np.bool_)
        its = np.zeros(n_cw, np.int32)
        if n_cw == 0:
            return bits, ok, its
        threads = numba.get_num_threads()
        llr_max = np.float32(self._llr_max)
        nchunks = max(1, min(n_cw, 4 * threads))
        if self._schedule == "flooding":
            _flood_kernel(llr, self._src_g, llr_max, self._num_iter, self._early_stop, self._rule,
                          self._alpha, self._beta, self._cg_off, self._cg_n, self._cg_d,
                          self._cn_vg, self._vg_start, self._vg_d, self._vg_soff, self._vidx,
                          self._vn_ops, self._cn_ops, self._info_pos, self._sc_size, nchunks,
                          bits, ok, its)
        else:
            _layered_kernel(llr, self._src, llr_max, self._num_iter, self._early_stop, self._rule,
                            self._alpha, self._beta, self._z, self._lg_off, self._lg_n,
                            self._lg_d, self._ls_col, self._ls_shift, self._n_post, self._k,
                            nchunks, bits, ok, its)
        return bits, ok, its

    def __repr__(self) -> str:
        return (f"FastLDPC5GDecoder(k={self._k}, n={self._n}, cn_update={self._cn_update!r}, "
                f"schedule={self._schedule!r}, num_iter={self._num_iter}, "
                f"early_stop={self._early_stop}, llr_max={self._llr_max})")


def _is_real(x) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)
