"""AnalogLink: real values paired into complex symbols placed straight onto the grid."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch

from .dlpack import as_tensor
from .transceiver import OFDMTransceiver


@dataclass(frozen=True)
class AnalogLinkResult:
    """What came out of an :class:`AnalogLink` for a batch of ``B`` samples.

    :ivar values: ``[B, *shape]`` received real tensor, same shape and dtype as sent
        (float32 when integer or bool values were sent).
    :ivar symbol_mse: ``[B]`` mean squared error per complex symbol, in units of the
        normalised (unit average power) symbols: an estimate of the effective 1/SNR.
    :ivar channel_uses: ``[B]`` int64 data resource elements per sample (padding excluded).
    :ivar no_eff: ``[B, *shape]`` float32 effective noise variance of the complex symbol each
        received value travelled on, as the equaliser computed it (``N0 / |h|^2`` plus the
        channel-estimation error variance), in units of the normalised symbols: the
        receiver's per-value CSI, ``1 / SNR_eff`` (detached). It describes the unbiased
        estimate's error with either equaliser.
    """

    values: torch.Tensor
    symbol_mse: torch.Tensor
    channel_uses: torch.Tensor
    no_eff: torch.Tensor


class AnalogLink(torch.nn.Module):
    """DeepJSCC-style analog transmission of a real tensor.

    Each sample's values (flattened, C order) are paired into complex symbols
    ``v[2i] + j v[2i+1]`` (an odd count is padded with one zero), scaled to average
    power 1 per symbol, sent over the grid, equalised and scaled back. The per-sample
    scale is side information the receiver is assumed to know (a learned codec
    normalises its output itself, so the scale is then 1). The whole path is
    differentiable: gradients reach ``x`` through the channel and the equaliser.

    The equaliser gives per symbol the unbiased estimate ``z = y h* / |h|^2`` (with the
    estimated ``h`` under LS CSI) and its error variance ``no_eff``. ``equalizer``
    chooses what is returned:

    * ``unbiased``: ``z`` itself; its error has variance ``no_eff = N0/|h|^2``, whose
      mean over Rayleigh fading is infinite (deep fades).
    * ``mmse``: ``z / (1 + no_eff)``, the linear MMSE estimate of a unit-power symbol,
      biased towards 0 in fades; its error variance is ``no_eff / (1 + no_eff) < 1``,
      on Rayleigh fading with perfect CSI ``N0 e^N0 E1(N0)`` on average.

    :param transceiver: the grid + channel + receiver to use.
    :param equalizer: ``unbiased`` (default) or ``mmse``.
    """

    def __init__(self, transceiver: OFDMTransceiver, equalizer: Literal["unbiased", "mmse"] = "unbiased") -> None:
        super().__init__()
        if equalizer not in ("unbiased", "mmse"):
            raise ValueError(f"equalizer: must be 'unbiased' or 'mmse', got {equalizer!r}")
        self.transceiver = transceiver
        self.equalizer = equalizer

    def channel_uses(self, num_values: int) -> int:
        """Complex symbols (data resource elements) for ``num_values`` real values."""
        return -(-int(num_values) // 2)

    def forward(self, x: Any, no: Any) -> AnalogLinkResult:
        """Transmit a batch.

        :param x: ``[B, *shape]`` real values: a torch tensor or any DLPack array (NumPy,
            JAX, CuPy, ...), any float dtype (integers and bools are sent as float32).
        :param no: noise variance per complex resource element, ``1 / (Es/N0)`` (linear):
            a number, or ``[B]`` values (one per sample).
        """
        x = as_tensor(x)  # any DLPack producer; a torch tensor keeps its autograd graph
        if not isinstance(no, (int, float)):
            no = as_tensor(no)
        if x.dim() < 2 or x.shape[0] < 1 or x[0].numel() < 1:
            raise ValueError(f"x: expected shape [batch, ...] with values, got {tuple(x.shape)}")
        if x.is_complex():
            raise ValueError("x: the analog link takes a real tensor (it pairs values itself)")
        if not x.is_floating_point():  # integer / bool values: returning them truncated would be useless
            x = x.to(torch.float32)
        dev = self.transceiver.grid.device
        batch, shape, dtype = x.shape[0], x.shape[1:], x.dtype
        flat = x.to(device=dev, dtype=torch.float32).reshape(batch, -1)
        num_values = flat.shape[1]
        if num_values % 2:
            flat = torch.nn.functional.pad(flat, (0, 1))
        # pairs (v[2i], v[2i+1]) are the real and imaginary parts: a view, no copy (and the
        # backward of view_as_complex / view_as_real is a view too, unlike stacking parts)
        z = torch.view_as_complex(flat.contiguous().reshape(batch, -1, 2))
        power = 2.0 * flat.square().mean(dim=1, keepdim=True)  # mean |z|^2 per sample
        # An all-zero sample has nothing to normalise; send it as is.
        scale = torch.sqrt(torch.where(power > 0, power, torch.ones_like(power)))
        z_norm = z * (1.0 / scale)
        z_hat, no_eff = self.transceiver(z_norm, no)
        no_eff = no_eff.detach().to(torch.float32).expand(z_hat.shape)  # CSI: not a function of x
        if self.equalizer == "mmse":
            z_hat = z_hat * (1.0 / (1.0 + no_eff))
        with torch.no_grad():
            err = z_hat - z_norm
            symbol_mse = (err.real.square() + err.imag.square()).mean(dim=1)
        values = torch.view_as_real(z_hat * scale).reshape(batch, -1)[:, :num_values]
        # both values of a symbol share its no_eff
        value_no_eff = no_eff.repeat_interleave(2, dim=1)[:, :num_values]
        uses = torch.full((batch,), self.channel_uses(num_values), dtype=torch.int64, device=dev)
        return AnalogLinkResult(values.reshape(batch, *shape).to(dtype), symbol_mse, uses,
                                value_no_eff.reshape(batch, *shape))
