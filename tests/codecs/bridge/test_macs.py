"""MACS (eq. 4-6): gated InfoNCE against hand and torch computations; the module's shapes and range."""

from __future__ import annotations

import math

import torch

from linksim.codecs.bridge import MACS, gated_info_nce


def test_gated_info_nce_with_unit_gates_is_standard_info_nce_by_hand():
    s = torch.tensor([[2.0, 0.0], [1.0, 1.0]])
    row0 = -math.log(math.exp(2.0) / (math.exp(2.0) + 1.0))
    row1 = math.log(2.0)  # equal logits: -log(1/2)
    expected = (row0 + row1) / 2
    assert math.isclose(float(gated_info_nce(s)), expected, rel_tol=1e-6)
    assert math.isclose(float(gated_info_nce(s, torch.ones(2, 2))), expected, rel_tol=1e-6)


def test_gated_info_nce_with_unit_gates_equals_torch_cross_entropy():
    gen = torch.Generator().manual_seed(1)
    s = torch.randn(16, 16, generator=gen) * 3
    reference = torch.nn.functional.cross_entropy(s, torch.arange(16))
    assert torch.allclose(gated_info_nce(s, torch.ones(16, 16)), reference, atol=1e-6)


def test_a_gate_acts_as_an_inverse_temperature():
    gen = torch.Generator().manual_seed(2)
    s = torch.randn(8, 8, generator=gen)
    g = torch.rand(8, 8, generator=gen)
    # eq. (4) is the cross-entropy of g * s, element by element
    manual = -(torch.log_softmax(g * s, dim=1).diagonal()).mean()
    assert torch.allclose(gated_info_nce(s, g), manual, atol=1e-6)
    # a uniform gate 1/tau equals InfoNCE at temperature tau
    assert torch.allclose(gated_info_nce(s, torch.full((8, 8), 0.5)), gated_info_nce(s / 2.0), atol=1e-6)


def test_macs_module_shapes_gate_range_and_pairs():
    torch.manual_seed(0)
    macs = MACS(("video", "audio", "text"), latent_dim=6, proj_dim=4, gate_hidden=8)
    z = {m: torch.randn(5, t, 6) for m, t in (("video", 4), ("audio", 2), ("text", 3))}
    s, g = macs.similarity_and_gate(z["video"].mean(1), z["audio"].mean(1))
    assert s.shape == g.shape == (5, 5)
    assert bool(((g > 0) & (g <= 1)).all())
    per = macs.per_pair(z)
    assert set(per) == {"video-audio", "video-text", "audio-text"}
    assert torch.isclose(macs(z), torch.stack(list(per.values())).mean())


def test_macs_training_aligns_paired_features():
    # two views of the same latent: MACS should learn to match them, far below log N
    gen = torch.Generator().manual_seed(3)
    torch.manual_seed(3)
    macs = MACS(("a", "b"), latent_dim=8, proj_dim=8, gate_hidden=8)
    opt = torch.optim.Adam(macs.parameters(), lr=1e-2)
    mix_a, mix_b = torch.randn(8, 8, generator=gen), torch.randn(8, 8, generator=gen)
    for _ in range(150):
        u = torch.randn(32, 8, generator=gen)
        loss = macs({"a": (u @ mix_a)[:, None], "b": (u @ mix_b)[:, None]})
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.3 * math.log(32)
