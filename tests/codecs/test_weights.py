"""Weights files: state and architecture in one safetensors file."""

from __future__ import annotations

import pytest
import torch

from linksim.codecs.weights import read_weights, save_weights


class _Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(3, 2)
        self.register_buffer("counts", torch.arange(4, dtype=torch.int64))


@pytest.mark.parametrize("half", [False, True])
def test_round_trip_keeps_kind_config_extra_and_integer_buffers(tmp_path, half):
    m = _Tiny()
    path = save_weights(m, tmp_path / "sub" / "w.safetensors", "tiny", '{"width": 3}', half=half, extra={"step": 7})
    meta, state = read_weights(path, "tiny weights", "tiny")
    assert meta["linksim"] == "tiny" and meta["config"] == '{"width": 3}' and meta["extra"] == '{"step": 7}'
    assert state["lin.weight"].dtype == torch.float32 and state["counts"].dtype == torch.int64
    torch.testing.assert_close(state["lin.weight"], m.lin.weight.detach(), atol=1e-3 if half else 0, rtol=0)
    assert torch.equal(state["counts"], m.counts)
    m2 = _Tiny()
    m2.load_state_dict(state)


def test_errors_name_the_file_and_what_is_wrong(tmp_path):
    path = save_weights(_Tiny(), tmp_path / "w.safetensors", "tiny", "{}")
    with pytest.raises(ValueError, match="hsc adapters: .*w.safetensors holds no hsc-ncr model"):
        read_weights(path, "hsc adapters", "hsc-ncr")
    with pytest.raises(FileNotFoundError, match="bridge weights: no such file"):
        read_weights(tmp_path / "none.safetensors", "bridge weights")
