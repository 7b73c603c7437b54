"""Shared codebook (eq. 7-11): nearest code, straight-through gradient, eq. (9), usage reset."""

from __future__ import annotations

import math

import torch

from linksim.codecs.bridge import SharedCodebook


def _codebook(codes, modalities=("video", "audio", "text"), window=3) -> SharedCodebook:
    vq = SharedCodebook(modalities, size=len(codes), dim=len(codes[0]), commitment=0.25, reset_window=window)
    with torch.no_grad():
        vq.codebook.copy_(torch.tensor(codes, dtype=torch.float32))
    return vq


def test_nearest_code_per_time_step():
    vq = _codebook([[0.0, 0.0], [1.0, 1.0], [-2.0, 0.0]])
    z = torch.tensor([[[0.2, 0.1], [0.9, 1.4], [-1.2, 0.1]]])
    q = vq(z)
    assert q.indices.tolist() == [[0, 1, 2]]
    assert torch.equal(q.z_hat, vq.codebook[torch.tensor([[0, 1, 2]])].detach())


def test_gradient_passes_straight_through():
    vq = _codebook([[0.0, 0.0], [1.0, 1.0]])
    z = torch.tensor([[[0.2, 0.1], [0.7, 0.8]]], requires_grad=True)
    w = torch.tensor([[[1.0, -2.0], [3.0, 0.5]]])
    (vq(z).z_hat * w).sum().backward()
    assert torch.equal(z.grad, w)  # eq. (8): the quantiser is the identity backwards
    assert vq.codebook.grad is None  # z_hat carries no gradient to the codes


def test_vq_loss_and_its_gradients_by_hand():
    vq = _codebook([[0.0, 0.0], [1.0, 1.0]])
    z = torch.tensor([[[0.2, 0.1]]], requires_grad=True)
    q = vq(z)
    loss = vq.loss(z, q.codes)
    # ||z - e_0||^2 = 0.05; codebook term 0.05 + 0.25 * commitment term 0.05
    assert math.isclose(float(loss.detach()), 0.05 * 1.25, rel_tol=1e-6)
    loss.backward()
    # the codebook term moves only the code, the commitment term only z
    assert torch.allclose(vq.codebook.grad[0], 2 * (torch.tensor([0.0, 0.0]) - z.detach()[0, 0]))
    assert torch.allclose(z.grad[0, 0], 2 * 0.25 * (z.detach()[0, 0] - torch.tensor([0.0, 0.0])))


def test_codes_used_by_one_modality_are_reset_after_the_window_and_shared_codes_kept():
    codes = [[float(i), 0.0] for i in range(6)]
    vq = _codebook(codes, window=3)
    before = vq.codebook.detach().clone()
    gen = torch.Generator().manual_seed(0)
    steps = [
        {"video": torch.tensor([[0, 1]]), "audio": torch.tensor([[0, 2]]), "text": torch.tensor([[0]])},
        {"video": torch.tensor([[1, 4]]), "audio": torch.tensor([[2]]), "text": torch.tensor([[0]])},
        # code 4: video at step 2, text at step 3 -> shared within the window (eq. 10)
        {"video": torch.tensor([[1]]), "audio": torch.tensor([[2]]), "text": torch.tensor([[4, 0]])},
    ]
    assert not vq.record_usage(steps[0], gen).any()  # window not full yet: nothing reset
    assert not vq.record_usage(steps[1], gen).any()
    reset = vq.record_usage(steps[2], gen)
    # 0 (three modalities) and 4 (two) are kept; 1 (video only), 2 (audio only), 3 and 5 (unused) are re-drawn
    assert reset.tolist() == [False, True, True, True, False, True]
    assert torch.equal(vq.codebook[0], before[0]) and torch.equal(vq.codebook[4], before[4])
    for i in (1, 2, 3, 5):
        assert not torch.equal(vq.codebook[i], before[i])
    # fresh codes get a full window: the next step resets nothing even though they are unused
    assert not vq.record_usage({"video": torch.tensor([[0]]), "audio": torch.tensor([[0]])}, gen).any()


def test_reset_codes_are_drawn_from_a_standard_normal():
    vq = SharedCodebook(("a", "b"), size=4000, dim=8, reset_window=1)
    with torch.no_grad():
        vq.codebook.zero_()
    vq.record_usage({"a": torch.tensor([0])}, torch.Generator().manual_seed(0))  # all but none are exclusive
    fresh = vq.codebook.detach()
    # 32,000 N(0, 1) draws: mean within 5/sqrt(n), variance within 5 * sqrt(2/n) of 1
    n = fresh.numel()
    assert abs(float(fresh.mean())) < 5 / math.sqrt(n)
    assert abs(float(fresh.var()) - 1.0) < 5 * math.sqrt(2 / n)
