"""LPIPS (Zhang et al. 2018, v0.1, AlexNet backbone) from published weight files.

Hand-written on purpose: torchmetrics' ``LearnedPerceptualImagePatchSimilarity`` builds
its backbone with torchvision, which has no build for this CPU torch. The network
here is the same computation (torchmetrics' vendored ``lpips`` / the reference
``lpips`` package): scaling layer, AlexNet ``features`` up to relu5, unit-normalised
channels, squared differences weighted by the learned 1x1 heads, spatial mean, sum
over the five layers. Weights:

- backbone: torchvision's ImageNet AlexNet file ``alexnet-owt-7be5be79.pth``
  (keys ``features.<i>.weight/bias``; other keys are ignored);
- heads: LPIPS v0.1 ``alex.pth`` (keys ``lin<k>.model.1.weight``), by default the copy
  shipped inside torchmetrics.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from linksim.pretrained import ModelUnavailable, load_state_dict

#: torchvision's AlexNet ``features`` layers: (index, in, out, kernel, stride, padding)
_CONVS = [(0, 3, 64, 11, 4, 2), (3, 64, 192, 5, 1, 2), (6, 192, 384, 3, 1, 1), (8, 384, 256, 3, 1, 1),
          (10, 256, 256, 3, 1, 1)]
#: LPIPS taps the ReLU after each conv; a max-pool precedes conv 2 and conv 3
_POOL_BEFORE = {3, 6}
#: LPIPS' scaling layer (ImageNet statistics in [-1, 1] units)
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)
#: AlexNet needs this many pixels per side for five non-empty feature maps
MIN_SIDE = 64


def default_heads_path() -> Path:
    """LPIPS v0.1 AlexNet heads shipped with torchmetrics."""
    import torchmetrics

    return Path(torchmetrics.__file__).parent / "functional" / "image" / "lpips_models" / "alex.pth"


class LPIPSAlex(nn.Module):
    """LPIPS distance with the AlexNet backbone.

    :input x, y: ``[B, 3, H, W]`` images in [0, 1] (grey ``[B, 1, H, W]`` is repeated to RGB;
        sides under 64 pixels are upsampled bilinearly, as AlexNet needs them).
    :output: ``[B]`` distances (0 = identical), float32.
    """

    def __init__(self) -> None:
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(i, o, k, s, p) for _, i, o, k, s, p in _CONVS)
        self.heads = nn.ModuleList(nn.Conv2d(o, 1, 1, bias=False) for _, _, o, *_ in _CONVS)
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1))

    def load_weights(self, backbone: dict[str, torch.Tensor], heads: dict[str, torch.Tensor]) -> None:
        """Load torchvision AlexNet ``features.*`` and LPIPS ``lin<k>.model.1.weight`` tensors.

        :raises KeyError / RuntimeError: a missing key or a wrong shape.
        """
        for conv, (idx, *_) in zip(self.convs, _CONVS):
            conv.weight.data.copy_(backbone[f"features.{idx}.weight"])
            conv.bias.data.copy_(backbone[f"features.{idx}.bias"])
        for k, head in enumerate(self.heads):
            head.weight.data.copy_(heads[f"lin{k}.model.1.weight"])

    def _features(self, x: torch.Tensor) -> list[torch.Tensor]:
        h = (2 * x - 1 - self.shift) / self.scale
        out = []
        for conv, (idx, *_) in zip(self.convs, _CONVS):
            if idx in _POOL_BEFORE:
                h = F.max_pool2d(h, kernel_size=3, stride=2)
            h = F.relu(conv(h))
            out.append(h)
        return out

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1:
            x, y = x.expand(-1, 3, -1, -1), y.expand(-1, 3, -1, -1)
        if min(x.shape[-2:]) < MIN_SIDE:
            size = [max(MIN_SIDE, s) for s in x.shape[-2:]]
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
            y = F.interpolate(y, size=size, mode="bilinear", align_corners=False)
        fx, fy = self._features(x), self._features(y)
        total = 0
        for head, a, b in zip(self.heads, fx, fy):
            a = a / (a.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10)
            b = b / (b.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10)
            total = total + head((a - b) ** 2).mean(dim=(1, 2, 3))
        return total


def load_lpips(backbone_path: str, heads_path: str | None, device: torch.device) -> LPIPSAlex:
    """:class:`LPIPSAlex` with weights from ``backbone_path`` and ``heads_path`` (default: torchmetrics' copy)."""
    how = ("download https://download.pytorch.org/models/alexnet-owt-7be5be79.pth and set "
           "metric_models.lpips_backbone to its path")
    backbone = load_state_dict(backbone_path, "metric_models.lpips_backbone (AlexNet for lpips)", how)
    heads_file = heads_path or str(default_heads_path())
    heads = load_state_dict(heads_file, "metric_models.lpips_heads (LPIPS v0.1 alex.pth)",
                            "set metric_models.lpips_heads to the lpips package's weights/v0.1/alex.pth")
    net = LPIPSAlex()
    try:
        net.load_weights(backbone, heads)
    except (KeyError, RuntimeError) as e:
        raise ModelUnavailable(f"metric_models.lpips_backbone / lpips_heads: not AlexNet / LPIPS v0.1 weights "
                               f"({type(e).__name__}: {str(e).splitlines()[0][:120]}); {how}") from None
    return net.to(device).eval()
