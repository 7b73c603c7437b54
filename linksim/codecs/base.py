"""The one face every codec shows: streams in, streams out.

A codec turns a batch of samples into a :class:`Message` of named streams. Each
stream travels either digitally (a :class:`DigitalPayload` of bits) or analog (an
:class:`AnalogPayload` of real values), as its :class:`Transport` says; the runner
carries every stream over the PHY and hands the codec what arrived
(:class:`ReceivedStreams`), and the codec returns a :class:`Reconstruction`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Literal, Protocol

import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator

from linksim.phy.code_blocks import DEFAULT_MAX_BLOCK_BITS, check_code_rate
from linksim.phy.modulation import MODULATIONS
from linksim.phy.payload import is_valid_dtype

if TYPE_CHECKING:
    from linksim.metrics.table import Metric

Path_ = Literal["digital", "analog"]
Nonfinite = Literal["zero", "clamp", "keep"]
AnalogEqualizer = Literal["unbiased", "mmse"]


class StreamOverride(BaseModel):
    """A scenario's ``codecs[i].streams.<name>`` section: every field optional; one left out
    keeps the codec's default for that stream."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    path: Path_ | None = Field(default=None, description="digital (bits: LDPC, QAM) or analog (real values, two "
                               "per resource element; only streams the codec allows)")
    modulation: Literal["bpsk", "qpsk", "qam16", "qam64", "qam256"] | None = Field(
        default=None, description="QAM order of a digital stream")
    code_rate: float | None = Field(default=None, description="LDPC rate in [0.2, 0.95], or 1.0 = uncoded")
    ldpc_iterations: int | None = Field(default=None, ge=1, le=200, description="largest number of LDPC decoder "
                                        "iterations")
    dtype: str | None = Field(default=None, description="float16 | float32 | float64 (IEEE bits) | uint<N> (N-bit "
                              "uniform quantisation, N in 1..32); only streams with a numeric payload")
    nonfinite: Nonfinite | None = Field(default=None, description="what the decoder of a float payload does with the "
                                        "NaN/inf values bit errors make: keep them, zero them, or clamp (every value "
                                        "into the codec's declared range)")
    analog_equalizer: AnalogEqualizer | None = Field(
        default=None, description="analog path: what the receiver returns per symbol, the unbiased estimate y/h "
        "(zero-mean error of variance no_eff; unbounded in deep fades) or the MMSE estimate (y/h)/(1 + no_eff) "
        "(biased towards 0, lowest mean squared error)")

    @field_validator("code_rate")
    @classmethod
    def _rate(cls, v: float | None) -> float | None:
        if v is not None:
            check_code_rate(v)
        return v

    @field_validator("dtype")
    @classmethod
    def _dtype(cls, v: str | None) -> str | None:
        if v is not None and not is_valid_dtype(v):
            raise ValueError(f"unknown dtype '{v}' (float16 | float32 | float64 | uint1..uint32)")
        return v


@dataclass(frozen=True)
class Transport:
    """How one stream crosses the PHY (a stream's defaults with the scenario's overrides)."""

    path: Path_ = "digital"
    modulation: str = "qam16"
    code_rate: float = 0.5
    ldpc_iterations: int = 20
    dtype: str | None = None
    nonfinite: Nonfinite = "keep"
    analog_equalizer: AnalogEqualizer = "unbiased"

    def __post_init__(self) -> None:
        if self.modulation not in MODULATIONS:
            raise ValueError(f"modulation: unknown '{self.modulation}'")
        check_code_rate(self.code_rate)

    def override(self, o: StreamOverride | None) -> "Transport":
        """These defaults with every field the scenario set replaced."""
        if o is None:
            return self
        fields = {k: v for k, v in o.model_dump().items() if v is not None}
        return Transport(**{**self.__dict__, **fields})

    def link_key(self) -> tuple:
        """What determines the PHY link this stream needs (streams that agree share one)."""
        if self.path == "analog":
            return ("analog", self.analog_equalizer)
        return ("digital", self.modulation, self.code_rate, self.ldpc_iterations)


@dataclass
class DigitalPayload:
    """A digital stream: ``bits`` ``[B, L]`` float32 0/1, optional ``lengths`` ``[B]`` valid bits."""

    bits: torch.Tensor
    lengths: torch.Tensor | None = None


@dataclass
class AnalogPayload:
    """An analog stream: ``values`` ``[B, *shape]`` real, sent two values per complex symbol."""

    values: torch.Tensor


Payload = DigitalPayload | AnalogPayload
Message = dict[str, Payload]


@dataclass(frozen=True)
class ReceiverCSI:
    """What the receiver of one stream knows about the channel, for a batch of ``B`` samples.

    :ivar snr_db: ``[B]`` float32 the receiver's estimate of Es/N0 per data resource
        element [dB] (the noise variance it equalised with).
    :ivar no_eff: analog streams: ``[B, *shape]`` float32 effective noise variance of the
        complex symbol each received value travelled on, as the equaliser computed it
        (``N0 / |h|^2``, plus the channel-estimation error variance with LS CSI), in units
        of the unit-power symbols, i.e. ``1 / SNR_eff`` per value (linear; the two values
        of one symbol share it). It is the variance of the *unbiased* estimate's error
        whichever ``analog_equalizer`` the stream uses. None for digital streams.
    """

    snr_db: torch.Tensor
    no_eff: torch.Tensor | None = None


class ReceivedStreams(dict):
    """What arrived: ``stream name -> tensor`` (bits ``[B, L]`` for digital streams, a real
    tensor ``[B, *shape]`` for analog ones), and in :attr:`csi` what the receiver knows
    about each stream's channel (:class:`ReceiverCSI`): the SNR estimate and, per received
    analog value, the effective noise variance. A CSI-aware decoder reads
    ``received.csi[name]``; ``received[name]`` is all a plain decoder needs.
    """

    def __init__(self, streams: Any = (), csi: dict[str, ReceiverCSI] | None = None) -> None:
        super().__init__(streams)
        self.csi: dict[str, ReceiverCSI] = dict(csi or {})


@dataclass
class Reconstruction:
    """What the codec made of what arrived.

    :ivar x_hat: ``[B, C, H, W]`` reconstruction (same layout as the input batch).
    :ivar rates: counted events per sample as ``name -> (events [B], trials [B])``, e.g.
        ``nonfinite_rate``: non-finite floats among the floats received, or
        ``fallback_rate``: samples whose payload could not be decoded (trials 1).
    :ivar metrics: extra per-sample metrics ``name -> [B]`` a codec computes itself.
    :ivar texts: texts of a codec that sends text, ``"sent"`` and ``"received"`` -> ``B``
        strings, for text-aware metrics (``clip_score``, ``caption_cer``).
    """

    x_hat: torch.Tensor
    rates: dict[str, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)
    metrics: dict[str, torch.Tensor] = field(default_factory=dict)
    texts: dict[str, list[str]] = field(default_factory=dict)


class PointMetric(Protocol):
    """A metric a codec computes over a whole point (e.g. a linear probe fitted on every
    sample): :meth:`update` after each batch, :meth:`compute` once at the end."""

    def update(self, x: Any, sent: Message, received: ReceivedStreams, rec: Any) -> None:
        """One batch: the input ``x`` (images ``[B, C, H, W]`` or a multimodal batch), what was
        sent, what arrived, and the codec's reconstruction."""

    def compute(self) -> float | torch.Tensor | None:
        """A float (one value for the point, reported without interval), per-sample values
        ``[N]`` (reported as their mean with a Student-t interval), or None (no row)."""


class CodecParams(BaseModel):
    """Base of every codec's ``params`` model: unknown keys are errors.

    A field that names a file or folder the codec reads is marked with :func:`input_path`
    (``weights: str | None = Field(None, json_schema_extra=input_path("file_or_name"))``):
    a scenario's relative value then resolves against the scenario file's folder, a missing
    one is a scenario error naming the field, and the file's bytes (a folder's file list,
    sizes and modification times) enter the fingerprint of every point of the codec.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)


#: the key :func:`input_path` sets in a field's ``json_schema_extra``
INPUT_PATH_KEY = "linksim_input"
#: what a marked field may name:
#: ``file`` a file; ``file_or_name`` a file, or a bare name the codec resolves itself (shipped
#: weights: no folder, no suffix, not a file next to the scenario); ``folder`` a folder;
#: ``model`` a hub id or a local folder (or file) for ``from_pretrained``: local when it
#: exists next to the scenario, starts with ``.``, ``/`` or ``~``, or has more than one ``/``
INPUT_PATH_KINDS = ("file", "file_or_name", "folder", "model")


def input_path(kind: str = "file") -> dict[str, str]:
    """``json_schema_extra`` that marks a params field (a ``str`` or ``str | None``) as naming
    an input file or folder of kind ``kind`` (one of :data:`INPUT_PATH_KINDS`)."""
    if kind not in INPUT_PATH_KINDS:
        raise ValueError(f"input_path: kind must be one of {', '.join(INPUT_PATH_KINDS)}, got {kind!r}")
    return {INPUT_PATH_KEY: kind}


def input_fields(model: type[BaseModel]) -> dict[str, str]:
    """``field name -> kind`` of every field of ``model`` marked with :func:`input_path`."""
    out = {}
    for name, info in model.model_fields.items():
        extra = info.json_schema_extra
        if isinstance(extra, dict) and extra.get(INPUT_PATH_KEY) in INPUT_PATH_KINDS:
            out[name] = str(extra[INPUT_PATH_KEY])
    return out


def stream_channel_uses(transports: dict[str, Transport], max_block_bits: int = DEFAULT_MAX_BLOCK_BITS
                        ) -> Callable[[str, int], int]:
    """``f(stream, payload_bits) -> data resource elements per sample`` for a codec's streams.

    A digital stream needs its coded bits (CRC and LDPC at the stream's rate, code-block
    segmentation) over the bits per symbol of its modulation; an analog stream takes
    ``payload_bits`` as its number of real values, two per resource element. Pilots and
    the last slot's padding are not counted, so the number does not depend on the grid.
    """
    from linksim.phy.code_blocks import plan_code_blocks
    from linksim.phy.modulation import bits_per_symbol

    def channel_uses(stream: str, payload_bits: int) -> int:
        t = transports[stream]
        if t.path == "analog":
            return -(-int(payload_bits) // 2)
        m = bits_per_symbol(t.modulation)
        return -(-plan_code_blocks(int(payload_bits), t.code_rate, m, max_block_bits).coded_bits // m)

    return channel_uses


@dataclass(frozen=True)
class CodecContext:
    """What a codec may know about the run, beyond its own params.

    :ivar device: torch device of the run.
    :ivar sample_shape: ``(C, H, W)`` of one input sample.
    :ivar channel_uses: ``f(stream, payload_bits) -> data resource elements`` for a
        digital stream under its transport (lets a codec fit a bandwidth budget); None:
        :func:`stream_channel_uses` of the codec's transports, filled in by :class:`Codec`.
    :ivar budget_channel_uses: the scenario's ``budget.channel_uses`` per sample, if any.
    :ivar seed: the scenario seed, for codecs that draw at construction.
    """

    device: torch.device
    sample_shape: tuple[int, ...]
    channel_uses: Callable[[str, int], int] | None = None
    budget_channel_uses: int | None = None
    seed: int = 0
    max_block_bits: int = DEFAULT_MAX_BLOCK_BITS


class Codec(torch.nn.Module):
    """Base class of all codecs, built-in or plugin: the runner knows codecs only through this face.

    A subclass declares ``Params`` (its ``params`` section) and ``default_streams``
    (stream name -> default :class:`Transport`), and implements :meth:`encode` and
    :meth:`decode`. ``analog_streams`` names the streams that may take the analog path,
    ``dtype_streams`` those whose values may be sent as another ``dtype``. A
    ``multimodal`` codec takes a :class:`~linksim.data.multimodal.MultimodalBatch`
    (video, audio, text) instead of images.

    Everything else is optional, with neutral defaults: metrics the codec computes
    itself (``provides_metrics`` with :meth:`sample_metrics` per sample or
    :meth:`point_metrics` over a whole point), previews for the sample grids
    (:meth:`preview`), a payload table for ``linksim validate`` (:meth:`payload_table`),
    lazy model loading (:meth:`load_models`), a data check (:meth:`check_data`) and the
    point's SNR for adaptive transmitters (:meth:`start_point`).
    """

    Params: ClassVar[type[CodecParams]] = CodecParams
    default_streams: ClassVar[dict[str, Transport]] = {}
    analog_streams: ClassVar[frozenset[str]] = frozenset()
    dtype_streams: ClassVar[frozenset[str]] = frozenset()
    multimodal: ClassVar[bool] = False
    #: metrics this codec computes itself: names already in the metric table (``psnr``) or
    #: :class:`~linksim.metrics.table.Metric` objects it adds to the table (its own metrics)
    provides_metrics: ClassVar[tuple["str | Metric", ...]] = ()
    #: what a scenario that lists no ``metrics`` reports for this codec (None: linksim's default)
    default_metrics: ClassVar[tuple[str, ...] | None] = None
    #: the registered name (set by the registry: ``raw``, ``tiny-ae``, ``mypkg.codecs:MyCodec``)
    type_name: ClassVar[str] = ""
    #: ``package.module:function`` of the codec's trainer, ``main(argv: list[str]) -> exit code``,
    #: run by ``linksim train <type> ...`` (imported only then); None: nothing to train
    trainer: ClassVar[str | None] = None

    @classmethod
    def provided_metric_names(cls) -> tuple[str, ...]:
        """Names of ``provides_metrics``."""
        return tuple(m if isinstance(m, str) else m.name for m in cls.provides_metrics)

    @classmethod
    def metric_problems(cls, params: CodecParams, metrics: list[str]) -> dict[str, str]:
        """Problems of the scenario's ``metrics`` with these ``params``, as ``params field -> message``
        (e.g. a similarity metric whose model the params do not name); empty when none."""
        return {}

    def __init__(self, params: CodecParams, transports: dict[str, Transport], context: CodecContext) -> None:
        super().__init__()
        if context.channel_uses is None:  # a hand-built context still counts real resource elements
            from dataclasses import replace

            context = replace(context, channel_uses=stream_channel_uses(transports, context.max_block_bits))
        self.params = params
        self.transports = transports
        self.context = context

    @classmethod
    def resolve_transports(cls, overrides: dict[str, StreamOverride]) -> dict[str, Transport]:
        """The codec's streams with the scenario's overrides applied.

        :raises ValueError: for a stream the codec does not have, or the analog path on
            a stream that cannot take it.
        """
        unknown = set(overrides) - set(cls.default_streams)
        if unknown:
            raise ValueError(
                f"unknown stream(s) {sorted(unknown)} (this codec has: {', '.join(cls.default_streams)})"
            )
        out = {}
        for name, default in cls.default_streams.items():
            t = default.override(overrides.get(name))
            if t.path == "analog" and name not in cls.analog_streams:
                raise ValueError(f"stream '{name}' cannot take the analog path")
            o = overrides.get(name)
            if o is not None and o.analog_equalizer is not None and t.path != "analog":
                raise ValueError(f"stream '{name}' is digital: 'analog_equalizer' applies to the analog path only")
            if t.dtype is not None and name not in cls.dtype_streams:
                raise ValueError(f"stream '{name}' has no numeric payload: 'dtype' does not apply to it")
            out[name] = t
        return out

    def check_data(self, data) -> None:
        """Raise ``ValueError`` naming the problem when this codec cannot code the run's data set
        (the runner asks before any point; e.g. frames of another size than the weights')."""

    def payload_bits(self) -> dict[str, int] | None:
        """Bits per sample of each digital stream when they do not depend on the data, else None."""
        return None

    def analog_values(self, stream: str) -> int | None:
        """Real values per sample of an analog ``stream`` when known without data (None: the
        sample's own size, as for ``raw``)."""
        return None

    def load_models(self) -> None:
        """Load heavy models now (the runner calls this before the first point, so that a
        missing model stops the run before any simulation); lazy codecs override it."""

    def start_point(self, snr_db: float) -> None:
        """Told by the runner before each point: its SNR [dB] (Es/N0 per data RE), which an
        adaptive transmitter may use (``caption_latent``'s ``auto`` mode)."""

    def encode(self, x: torch.Tensor) -> Message:
        """Turn ``x`` ``[B, C, H, W]`` (values in [0, 1]) into streams."""
        raise NotImplementedError

    def sample_metrics(self, x: Any, rec: Any) -> dict[str, torch.Tensor]:
        """Per-sample values ``name -> [B]`` of the metrics in ``provides_metrics`` that need
        the input ``x`` (metrics known at decode time may go into ``Reconstruction.metrics``
        instead). The runner keeps those the scenario asks for."""
        return {}

    def point_metrics(self, names: list[str]) -> dict[str, PointMetric]:
        """Fresh accumulators for the metrics among ``names`` (the scenario's, limited to
        ``provides_metrics``) that need every sample of a point; called at each point."""
        return {}

    def preview(self, rec: Any) -> torch.Tensor:
        """Images ``[B, C, H, W]`` in [0, 1] that show a reconstruction in the sample grids
        (default: ``rec.x_hat``; a video codec returns frame strips)."""
        return rec.x_hat

    def payload_table(self) -> list[dict] | None:
        """Rows for ``linksim validate``'s payload table (the caption+latent paper's Table 1),
        each ``{name, shape, data_type, bits, bytes, channel_uses, note}``; None: no table."""
        return None

    def decode(self, received: ReceivedStreams, sent: Message) -> Reconstruction:
        """Rebuild the batch from what arrived.

        ``sent`` is the transmitted message; a codec may read from it only what a real
        receiver knows through reliable signalling (shapes, payload lengths).
        """
        raise NotImplementedError
