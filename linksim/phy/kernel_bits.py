"""The one conversion of a 0/1 torch tensor into what linksim's numba bit kernels read
(the CRC and the LDPC encoder): a C-contiguous ``[N, last]`` float32 or uint8 NumPy array
on the CPU, with any other dtype checked for 0/1 first."""

from __future__ import annotations

import numpy as np
import torch


def kernel_bits(x: torch.Tensor, last: int, name: str) -> np.ndarray:
    """``[..., last]`` 0/1 tensor -> C-contiguous ``[N, last]`` float32 or uint8 array.

    float32 and uint8 pass unchanged (the kernels check them); bool is viewed as uint8; other
    dtypes are checked here (0.99999999 in float64 would round to 1 in float32) and cast.

    :raises ValueError: ``x`` is not a real tensor, or holds values other than 0 and 1.
    """
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor.")
    if x.is_complex():
        raise ValueError(f"{name} must be real.")
    x = x.detach().reshape(-1, last)
    if x.device.type != "cpu":
        x = x.cpu()
    if x.dtype == torch.bool:
        x = x.view(torch.uint8)
    elif x.dtype not in (torch.float32, torch.uint8):
        if not bool(((x == 0) | (x == 1)).all()):
            raise ValueError(f"{name} must contain only 0 and 1.")
        x = x.to(torch.uint8)
    return x.contiguous().numpy()
