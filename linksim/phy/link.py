"""Link: the whole physical layer in one call.

:class:`Link` assembles what a scenario assembles for one stream -- the OFDM grid
(scenario defaults), a channel model, an :class:`~linksim.phy.transceiver.OFDMTransceiver`
and a :class:`~linksim.phy.digital_link.DigitalLink` or
:class:`~linksim.phy.analog_link.AnalogLink` -- so that a payload crosses the PHY with
one call and no scenario file::

    link = Link("rayleigh", modulation="qam16", code_rate=0.5, csi="ls")
    out = link(bits, snr_db=10.0)      # out.bits, out.ber, out.bler, out.channel_uses

Randomness (noise, fading) comes from Sionna's generators (``sionna.phy.config``).
With ``seed=None`` a link draws from them as any Sionna block does. With an integer
``seed`` the ``k``-th call of the link (k = 0, 1, ...) runs with Sionna reseeded to a
seed derived from ``(seed, k)``, and Sionna's and torch's global generator states are
restored afterwards: two links built with the same seed give the same sequence of
outputs for the same inputs, successive calls are independent draws, and the caller's
own random streams (``torch.randn``, other Sionna blocks) are left untouched.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import sionna
import torch
from pydantic import ValidationError

from .analog_link import AnalogLink
from .channels import ChannelModel, ChannelParams, build_channel, channel_class
from .code_blocks import DEFAULT_MAX_BLOCK_BITS
from .digital_link import DigitalLink
from .dlpack import as_tensor
from .modulation import bits_per_symbol
from .ofdm import OFDMGrid
from .ofdm_params import OFDMParams
from .snr import noise_variance
from .transceiver import OFDMTransceiver, make_transceiver

__all__ = ["Link", "LinkOutput", "DigitalLinkOutput", "AnalogLinkOutput", "OFDMParams"]

Path = Literal["digital", "analog"]


# -- outputs -------------------------------------------------------------------------------
@dataclass(frozen=True)
class LinkOutput:
    """What every :class:`Link` call returns, for a batch of ``B`` samples.

    :ivar channel_uses: ``[B]`` int64 data resource elements each sample needs (pilots
        and the last slot's padding excluded) -- the number a scenario budget counts.
    :ivar esn0_db: ``[B]`` float32 Es/N0 per data resource element that was applied [dB]
        (differs from the call's ``snr_db`` when that was an Eb/N0).
    """

    channel_uses: torch.Tensor
    esn0_db: torch.Tensor


@dataclass(frozen=True)
class DigitalLinkOutput(LinkOutput):
    """Output of a digital :class:`Link` for ``B`` payloads of ``L`` bits.

    :ivar bits: ``[B, L]`` received bits, 0/1, in the dtype of the bits sent.
    :ivar bit_errors: ``[B]`` int64 bit errors within each sample's length.
    :ivar num_bits: ``[B]`` int64 payload bits counted per sample (``lengths``, or ``L``).
    :ivar block_errors: ``[B]`` int64 code blocks with at least one payload bit error.
    :ivar num_blocks: ``[B]`` int64 code blocks carrying payload bits of each sample.
    :ivar crc_ok: ``[B, C]`` bool CRC24B check per code block (all True when uncoded).
    """

    bits: torch.Tensor
    bit_errors: torch.Tensor
    num_bits: torch.Tensor
    block_errors: torch.Tensor
    num_blocks: torch.Tensor
    crc_ok: torch.Tensor

    @property
    def ber_per_sample(self) -> torch.Tensor:
        """``[B]`` float32 bit error rate per sample (NaN for a sample of length 0)."""
        return self.bit_errors.to(torch.float32) / self.num_bits.to(torch.float32)

    @property
    def bler_per_sample(self) -> torch.Tensor:
        """``[B]`` float32 code-block error rate per sample (NaN for a sample of length 0)."""
        return self.block_errors.to(torch.float32) / self.num_blocks.to(torch.float32)

    @property
    def ber(self) -> float:
        """Bit error rate over the whole batch: total errors / total bits (NaN without bits)."""
        n = int(self.num_bits.sum())
        return int(self.bit_errors.sum()) / n if n else math.nan

    @property
    def bler(self) -> float:
        """Code-block error rate over the whole batch (NaN without blocks)."""
        n = int(self.num_blocks.sum())
        return int(self.block_errors.sum()) / n if n else math.nan


@dataclass(frozen=True)
class AnalogLinkOutput(LinkOutput):
    """Output of an analog :class:`Link` for ``B`` samples.

    :ivar values: ``[B, *shape]`` received real values, same shape as sent, in the dtype
        sent (float32 for integer or bool input); differentiable w.r.t. the input.
    :ivar symbol_mse: ``[B]`` float32 mean squared error per complex symbol, in units of
        the power-normalised symbols (about 1 / effective SNR); detached.
    :ivar no_eff: ``[B, *shape]`` float32 the receiver's CSI per received value: the
        effective noise variance of its symbol (``N0/|h|^2`` plus the estimation error),
        in units of the power-normalised symbols; detached.
    """

    values: torch.Tensor
    symbol_mse: torch.Tensor
    no_eff: torch.Tensor

    @property
    def mean_symbol_mse(self) -> float:
        """Symbol MSE averaged over the batch."""
        return float(self.symbol_mse.mean())


# -- the link ------------------------------------------------------------------------------
class Link(torch.nn.Module):
    """The PHY of one stream in one call: OFDM grid + channel + transceiver + link.

    Builds an :class:`~linksim.phy.ofdm.OFDMGrid` (the scenario defaults: 72 subcarriers,
    14 OFDM symbols, 30 kHz, cyclic prefix 6, pilots on OFDM symbols 2 and 11, i.e.
    864 data resource elements per slot), the channel model, an
    :class:`~linksim.phy.transceiver.OFDMTransceiver` and a
    :class:`~linksim.phy.digital_link.DigitalLink` (bits -> CRC + 5G LDPC -> QAM -> OFDM
    -> channel -> CSI -> LMMSE -> LLRs -> bits) or an
    :class:`~linksim.phy.analog_link.AnalogLink` (real values paired into complex
    symbols, power-normalised, sent straight onto the grid; differentiable).

    Every channel model has unit average gain, so ``snr_db`` is the average received
    Es/N0 per data resource element [dB]; with ``snr_type="ebn0"`` (digital only) it is
    the energy per *information* bit, Es/N0 = Eb/N0 * bits_per_symbol * code_rate.

    :param channel: a channel model name (``awgn``, ``rayleigh``, ``tdl``, ``cdl``,
        ``umi``, ``uma``), or a mapping with the fields of a scenario's ``channels:``
        entry, e.g. ``{"model": "tdl", "profile": "A", "delay_spread_s": 100e-9}``
        (validated by the model's pydantic ``Params``), or such a ``Params`` instance.
    :param path: ``digital`` (default) or ``analog``.
    :param modulation: ``bpsk | qpsk | qam16 | qam64 | qam256`` (digital; default ``qam16``).
    :param code_rate: 5G LDPC rate in [0.2, 0.95], or 1.0 for uncoded (digital; default 0.5).
    :param ldpc_iterations: maximum decoder iterations (digital; default 20).
    :param max_block_bits: largest LDPC information block, CRC included (digital; default 3840).
    :param csi: ``perfect`` (default) or ``ls`` (least squares on the pilots, interpolated).
    :param snr_type: ``esn0`` (default) or ``ebn0`` (digital only): what ``snr_db`` means.
    :param decoder: LDPC decoder, ``auto`` (linksim's numba decoder on a CPU, Sionna's on
        CUDA), ``fast`` or ``sionna``.
    :param implementation: the other PHY blocks, ``auto`` (linksim's fast SISO transceiver,
        QAM, CRC, LDPC encoder and scrambling on a CPU, Sionna's blocks on CUDA), ``fast`` or
        ``sionna``; both give the same statistics.
    :param demapper: ``app`` (exact LLRs, default) or ``maxlog`` (digital only).
    :param ls_error_variance: with ``csi="ls"``: ``flat`` (N0, as Sionna reports it; default)
        or ``per_position`` (the interpolation's true error variance; fast transceiver).
    :param analog_equalizer: analog only: ``unbiased`` (``y/h``, default) or ``mmse``
        (``(y/h) / (1 + no_eff)``, lowest mean squared error); see
        :class:`~linksim.phy.analog_link.AnalogLink`.
    :param device: ``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda`` or ``cuda:N``.
        Inputs are moved there; outputs live there.
    :param seed: ``None``: draw from Sionna's global generators. An int in [0, 2**63):
        the k-th call uses a seed derived from ``(seed, k)`` and leaves the global
        generators as they were (see the module docstring).
    :param ofdm: overrides of the grid fields (:class:`OFDMParams`), e.g. ``{"fft_size": 128}``.

    :raises ValueError: one line naming the bad parameter (``channel.delay_spread_s: ...``).

    :input x: digital: ``[B, L]`` payload bits, 0/1, any integer, bool or float dtype;
        analog: ``[B, ...]`` real values. A torch tensor or any DLPack array (NumPy,
        JAX, CuPy, ...); non-contiguous views are fine.
    :input snr_db: a number, or ``[B]`` values (one per sample; a sequence or an array) [dB];
        see above.
    :input lengths: digital only, optional ``[B]`` valid bits per sample; the rest of
        each row is padding, sent but not counted.
    :input seed: optional int: this call uses exactly this Sionna seed (the stream of
        a seeded link does not advance).
    :output: :class:`DigitalLinkOutput` or :class:`AnalogLinkOutput`.

    :ivar grid: the :class:`~linksim.phy.ofdm.OFDMGrid`.
    :ivar link: the :class:`~linksim.phy.digital_link.DigitalLink` or
        :class:`~linksim.phy.analog_link.AnalogLink` doing the work.
    :ivar channel_params: the validated channel fields (``label()`` names it in results).
    :ivar device: the resolved device string (``cpu`` or ``cuda:N``), fixed at construction.
    """

    def __init__(
        self,
        channel: str | Mapping[str, Any] | ChannelParams = "awgn",
        *,
        path: Path = "digital",
        modulation: str | None = None,
        code_rate: float | None = None,
        ldpc_iterations: int | None = None,
        max_block_bits: int | None = None,
        csi: Literal["perfect", "ls"] = "perfect",
        snr_type: Literal["esn0", "ebn0"] = "esn0",
        decoder: Literal["auto", "fast", "sionna"] = "auto",
        implementation: Literal["auto", "fast", "sionna"] = "auto",
        demapper: Literal["app", "maxlog"] = "app",
        ls_error_variance: Literal["flat", "per_position"] = "flat",
        analog_equalizer: Literal["unbiased", "mmse"] | None = None,
        device: str | torch.device = "auto",
        seed: int | None = None,
        ofdm: Mapping[str, Any] | OFDMParams | None = None,
    ) -> None:
        super().__init__()
        if path not in ("digital", "analog"):
            raise ValueError(f"path: must be 'digital' or 'analog', got {path!r}")
        if snr_type not in ("esn0", "ebn0"):
            raise ValueError(f"snr_type: must be 'esn0' or 'ebn0', got {snr_type!r}")
        if decoder not in ("auto", "fast", "sionna"):
            raise ValueError(f"decoder: must be 'auto', 'fast' or 'sionna', got {decoder!r}")
        if csi not in ("perfect", "ls"):
            raise ValueError(f"csi: must be 'perfect' or 'ls', got {csi!r}")
        if implementation not in ("auto", "fast", "sionna"):
            raise ValueError(f"implementation: must be 'auto', 'fast' or 'sionna', got {implementation!r}")
        if demapper not in ("app", "maxlog"):
            raise ValueError(f"demapper: must be 'app' or 'maxlog', got {demapper!r}")
        if ls_error_variance not in ("flat", "per_position"):
            raise ValueError(f"ls_error_variance: must be 'flat' or 'per_position', got {ls_error_variance!r}")
        if ls_error_variance == "per_position" and csi != "ls":
            raise ValueError("ls_error_variance: 'per_position' applies to csi='ls' only")
        if ls_error_variance == "per_position" and implementation == "sionna":
            raise ValueError("ls_error_variance: 'per_position' needs implementation 'fast' or 'auto'")
        if analog_equalizer not in (None, "unbiased", "mmse"):
            raise ValueError(f"analog_equalizer: must be 'unbiased' or 'mmse', got {analog_equalizer!r}")
        if analog_equalizer is not None and path != "analog":
            raise ValueError("analog_equalizer: only applies to path 'analog' (this link is digital)")
        if path == "analog":
            # digital-only options are refused rather than ignored, as unknown scenario fields are
            given = {"modulation": modulation, "code_rate": code_rate, "ldpc_iterations": ldpc_iterations,
                     "max_block_bits": max_block_bits, "demapper": None if demapper == "app" else demapper}
            for name, value in given.items():
                if value is not None:
                    raise ValueError(f"{name}: only applies to path 'digital' (this link is analog)")
            if snr_type != "esn0":
                raise ValueError("snr_type: 'ebn0' needs path 'digital' (an analog link has no bits)")
        self.path: Path = path
        self.snr_type = snr_type
        self.seed = _check_seed(seed, "seed")
        self._calls = 0
        self.device = _resolve_device(device)
        ofdm_params = _validate_ofdm(ofdm)
        self.grid = OFDMGrid(ofdm_params.fft_size, ofdm_params.num_ofdm_symbols, ofdm_params.subcarrier_spacing_hz,
                             ofdm_params.cyclic_prefix_length, ofdm_params.pilot_ofdm_symbol_indices,
                             device=self.device)
        self.channel_params = _validate_channel(channel)
        on_cuda = torch.device(self.device).type == "cuda"
        if implementation == "auto":  # as a scenario's phy.implementation: auto
            implementation = "sionna" if on_cuda else "fast"
        receiver = "fast" if ls_error_variance == "per_position" else implementation
        transceiver = make_transceiver(self.grid, build_channel(self.channel_params, self.grid), csi, receiver,
                                       ls_error_variance)
        self.link: DigitalLink | AnalogLink
        if path == "analog":
            self.link = AnalogLink(transceiver, analog_equalizer or "unbiased")
            self.bits_per_symbol, self.code_rate = 0, None
        else:
            modulation = "qam16" if modulation is None else modulation
            self.bits_per_symbol = bits_per_symbol(modulation)  # ValueError naming modulation
            self.code_rate = 0.5 if code_rate is None else float(code_rate)
            if decoder == "auto":  # as a scenario's phy.decoder: auto
                decoder = "sionna" if torch.device(self.device).type == "cuda" else "fast"
            self.link = DigitalLink(
                transceiver, modulation, self.code_rate,
                20 if ldpc_iterations is None else int(ldpc_iterations), decoder=decoder,
                max_block_bits=DEFAULT_MAX_BLOCK_BITS if max_block_bits is None else int(max_block_bits),
                implementation=implementation, demapper=demapper,
            )

    @property
    def transceiver(self) -> OFDMTransceiver:
        """The grid + channel + receiver (one module, owned by :attr:`link`)."""
        return self.link.transceiver

    @property
    def channel(self) -> ChannelModel:
        """The channel model."""
        return self.link.transceiver.channel

    # -- resources ----------------------------------------------------------------------
    def channel_uses(self, num_bits_or_values: int) -> int:
        """Data resource elements one sample needs, as the runner and budgets count them.

        :param num_bits_or_values: payload bits (digital) or real values (analog) of one sample.
        :return: data resource elements (complex symbols) per sample, pilots and the last
            slot's padding excluded.
        """
        n = int(num_bits_or_values)
        if n < 0:
            raise ValueError(f"num_bits_or_values: must be >= 0, got {n}")
        if isinstance(self.link, AnalogLink):
            return self.link.channel_uses(n)
        return self.link.plan(n).channel_uses if n > 0 else 0

    # -- simulation ---------------------------------------------------------------------
    def forward(self, x: Any, snr_db: Any, lengths: Any = None, *, seed: int | None = None) -> LinkOutput:
        """Send a batch over the link (see the class docstring for inputs and units)."""
        call_seed = _check_seed(seed, "seed")
        advance = call_seed is None and self.seed is not None
        if advance:
            call_seed = _derive_seed(self.seed, self._calls)
        x = as_tensor(x, device=self.device)
        if x.dim() < 1:
            raise ValueError("x: expected a batch [B, ...], got a scalar")
        no, esn0_db = self._noise(snr_db, x.shape[0], x.device)
        if isinstance(self.link, AnalogLink):
            if lengths is not None:
                raise ValueError("lengths: only the digital path takes lengths")
            with _sionna_seed(call_seed):
                r = self.link(x, no)
            self._calls += advance  # a call refused before it ran draws nothing
            return AnalogLinkOutput(r.channel_uses, esn0_db, r.values, r.symbol_mse, r.no_eff)
        if x.is_complex() or x.dim() != 2:
            raise ValueError(f"bits: expected real 0/1 values of shape [batch, num_bits], got {tuple(x.shape)} {x.dtype}")
        if bool(((x != 0) & (x != 1)).any()):
            raise ValueError("bits: every value must be 0 or 1")
        with _sionna_seed(call_seed):
            r = self.link(x, no, lengths)
        self._calls += advance
        return DigitalLinkOutput(r.channel_uses, esn0_db, r.bits.to(x.dtype), r.bit_errors, r.num_bits,
                                 r.block_errors, r.num_blocks, r.crc_ok)

    def _noise(self, snr_db: Any, batch: int, device: torch.device) -> tuple[float | torch.Tensor, torch.Tensor]:
        """N0 (a float, or ``[B]`` float32) and the applied Es/N0 ``[B]`` [dB] for ``snr_db``."""
        m, r = (self.bits_per_symbol, self.code_rate) if self.snr_type == "ebn0" else (1, 1.0)
        # N0 at 0 dB carries the Eb/N0 -> Es/N0 offset; noise_variance keeps the convention in one place
        n0_at_0db = noise_variance(0.0, self.snr_type, m, r)
        offset_db = -10.0 * math.log10(n0_at_0db)
        if isinstance(snr_db, (int, float)) and not isinstance(snr_db, bool):
            snr = torch.tensor(float(snr_db))
        else:
            try:
                snr = torch.tensor([float(v) for v in snr_db]) if isinstance(snr_db, (list, tuple)) else as_tensor(snr_db)
            except (TypeError, ValueError):
                raise ValueError(f"snr_db: expected a number or [B] values [dB], got {snr_db!r:.80}") from None
        if snr.is_complex() or snr.dtype == torch.bool:
            raise ValueError(f"snr_db: expected real values [dB], got {snr.dtype}")
        snr = snr.to(device=device, dtype=torch.float32)
        if snr.dim() > 1 or (snr.dim() == 1 and snr.shape[0] != batch):
            raise ValueError(f"snr_db: expected a number or {batch} values (one per sample), got shape {tuple(snr.shape)}")
        if not bool(torch.isfinite(snr).all()):
            raise ValueError("snr_db: must be finite")
        esn0_db = (snr + offset_db).expand(batch).clone()
        if snr.dim() == 0:
            return noise_variance(float(snr), self.snr_type, m, r), esn0_db
        return n0_at_0db * torch.pow(10.0, -snr / 10.0), esn0_db

    def extra_repr(self) -> str:
        return f"path={self.path}, channel={self.channel_params.label()}, device={self.device}, seed={self.seed}"


# -- helpers ------------------------------------------------------------------------------
def _resolve_device(device: str | torch.device) -> str:
    """The device string Sionna accepts (``cpu`` or ``cuda:N``; Sionna refuses a bare ``cuda``)."""
    if isinstance(device, str) and device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device: must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device: {str(device)!r} requested but no CUDA device is available (use 'auto' or 'cpu')")
        return f"cuda:{dev.index if dev.index is not None else torch.cuda.current_device()}"
    if dev.type != "cpu":
        raise ValueError(f"device: Sionna runs on 'cpu' or 'cuda', got {str(device)!r}")
    return "cpu"


def _validate_ofdm(ofdm: Mapping[str, Any] | OFDMParams | None) -> OFDMParams:
    if ofdm is None:
        return OFDMParams()
    if isinstance(ofdm, OFDMParams):
        return ofdm
    if not isinstance(ofdm, Mapping):
        raise ValueError(f"ofdm: expected a mapping of grid fields, got {type(ofdm).__name__}")
    try:
        return OFDMParams.model_validate(dict(ofdm))
    except ValidationError as e:
        raise ValueError(_one_line(e, "ofdm")) from None


def _validate_channel(channel: str | Mapping[str, Any] | ChannelParams) -> ChannelParams:
    if isinstance(channel, ChannelParams):
        fields = channel.model_dump()
    elif isinstance(channel, str):
        fields = {"model": channel}
    elif isinstance(channel, Mapping):
        fields = dict(channel)
    else:
        raise ValueError(f"channel: expected a model name or a mapping like {{'model': 'tdl'}}, got {type(channel).__name__}")
    model = fields.get("model")
    if not isinstance(model, str):
        raise ValueError("channel.model: missing (a model name such as 'awgn', 'rayleigh' or 'tdl')")
    try:
        cls = channel_class(model)
    except ValueError as e:
        raise ValueError(f"channel.model: {e}") from None
    try:
        return cls.Params.model_validate(fields)
    except ValidationError as e:
        raise ValueError(_one_line(e, "channel")) from None


def _one_line(err: ValidationError, prefix: str) -> str:
    """A pydantic error as one line per field, joined: ``channel.delay_spread_s: ...``."""
    parts = []
    for e in err.errors():
        path = [str(p) for p in e["loc"]]
        msg = "unknown field" if e["type"] == "extra_forbidden" else e["msg"].removeprefix("Value error, ")
        head, sep, rest = msg.partition(": ")
        if not path and sep and head.isidentifier():  # a model validator names its field in the message
            path, msg = [head], rest
        parts.append(f"{'.'.join([prefix, *path])}: {msg}")
    return "; ".join(dict.fromkeys(parts))


def _check_seed(seed: Any, name: str) -> int | None:
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise ValueError(f"{name}: must be None or an int in [0, 2**63), got {seed!r}")
    return int(seed)


def _derive_seed(seed: int, call: int) -> int:
    """Seed of a link's ``call``-th draw: a hash, so that nearby seeds give unrelated streams."""
    return int.from_bytes(hashlib.sha256(f"{seed}|{call}".encode()).digest()[:8], "little") % (2**63)


@contextmanager
def _sionna_seed(seed: int | None) -> Iterator[None]:
    """Run with Sionna reseeded to ``seed``, then put every generator back as it was.

    Setting ``sionna.phy.config.seed`` replaces Sionna's generators *and* reseeds torch's
    default CPU/CUDA generators; both are saved and restored so that a seeded link has no
    effect on the caller's random streams. ``None``: nothing is touched.
    """
    if seed is None:
        yield
        return
    cfg = sionna.phy.config
    saved_seed = cfg.seed
    saved_rngs = {d: cfg.torch_rng(d).get_state() for d in cfg.available_devices}
    saved_np, saved_py = getattr(cfg, "_np_rng", None), getattr(cfg, "_py_rng", None)
    saved_cpu = torch.random.get_rng_state()
    saved_cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    cfg.seed = seed
    try:
        yield
    finally:
        cfg.seed = saved_seed  # the generators are new objects again: give them their old states
        for d, state in saved_rngs.items():
            cfg.torch_rng(d).set_state(state)
        if hasattr(cfg, "_np_rng"):
            cfg._np_rng, cfg._py_rng = saved_np, saved_py
        torch.random.set_rng_state(saved_cpu)
        if saved_cuda is not None:
            torch.cuda.set_rng_state_all(saved_cuda)
