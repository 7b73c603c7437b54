"""HSC's complementary representation: eqs. (8), (14), (19)-(21) checked numerically."""

from __future__ import annotations

import pytest
import torch

from linksim.codecs.hsc.cr import (
    complementary_basis,
    complementary_representation,
    error_matrix,
    load_eta,
    recompose,
    residual_energy,
    split_representation,
)


def _pair(seed: int, b: int = 5, c: int = 1, h: int = 12, w: int = 12, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(b, c, h, w, generator=g, dtype=dtype)
    x_hat = (x + 0.3 * torch.randn(b, c, h, w, generator=g, dtype=dtype)).clamp(0, 1)
    return x, x_hat


def _hsc(x, x_hat, a):
    cr = complementary_representation(a, x)
    a_rx, ax = split_representation(cr, x.shape[1], x.shape[2])
    return recompose(a_rx, ax, x_hat)


def _sse(x, y):
    return (x - y).square().flatten(1).sum(dim=1)


@pytest.mark.parametrize("d", [0, 1, 3, 6, 11])
def test_error_is_the_tail_eigenvalue_sum_eq19(d):
    x, x_hat = _pair(d)
    x_tilde = _hsc(x, x_hat, complementary_basis(x, x_hat, d))
    torch.testing.assert_close(_sse(x, x_tilde), residual_energy(x, x_hat, d), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("d", [1, 4, 8])
def test_eigenvectors_beat_random_orthonormal_projections(d):
    x, x_hat = _pair(100 + d)
    best = _sse(x, _hsc(x, x_hat, complementary_basis(x, x_hat, d)))
    g = torch.Generator().manual_seed(d)
    for _ in range(20):
        q, _ = torch.linalg.qr(torch.randn(x.shape[0], x.shape[2], d, generator=g, dtype=x.dtype))
        other = _sse(x, _hsc(x, x_hat, q.transpose(-1, -2)))
        assert torch.all(best <= other + 1e-12)


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_full_rank_cr_recovers_the_image(dtype, tol):
    x, x_hat = _pair(7, dtype=dtype)
    x_tilde = _hsc(x, x_hat, complementary_basis(x, x_hat, x.shape[2]))
    torch.testing.assert_close(x_tilde, x, rtol=0, atol=tol)


def test_error_non_increasing_in_d():
    x, x_hat = _pair(3)
    errs = [_sse(x, _hsc(x, x_hat, complementary_basis(x, x_hat, d))) for d in range(x.shape[2] + 1)]
    for a, b in zip(errs, errs[1:]):
        assert torch.all(b <= a + 1e-12)
    assert torch.all(errs[-1] < 1e-20)
    torch.testing.assert_close(errs[0], _sse(x, x_hat))  # d = 0: SR only


def test_rgb_shares_one_basis_built_from_the_mean_error_matrix():
    x, x_hat = _pair(11, c=3, h=10, w=14)
    d = 4
    a = complementary_basis(x, x_hat, d)
    assert a.shape == (5, d, 10)
    torch.testing.assert_close(a @ a.transpose(-1, -2), torch.eye(d, dtype=x.dtype).expand(5, d, d))
    cr = complementary_representation(a, x)
    assert cr.shape == (5, d, 10 + 3 * 14)
    x_tilde = _hsc(x, x_hat, a)
    # summed over channels, the error is C times the tail of the channel-mean error matrix
    torch.testing.assert_close(_sse(x, x_tilde), 3 * residual_energy(x, x_hat, d), rtol=1e-10, atol=1e-12)
    assert error_matrix(x, x_hat).shape == (5, 10, 10)


def test_rows_are_sorted_by_eigenvalue():
    x, x_hat = _pair(5)
    a = complementary_basis(x, x_hat, 12)
    bmat = error_matrix(x, x_hat)
    energies = torch.einsum("bdh,bhk,bdk->bd", a, bmat, a)
    assert torch.all(energies[:, :-1] >= energies[:, 1:] - 1e-12)


def test_eta_matches_eq21():
    # grey L x L: (k/R + 2dL) / L^2
    assert load_eta(128, 0, (1, 28, 28)) == pytest.approx(128 / 0.8 / 784)
    assert load_eta(128, 5, (1, 28, 28), rate=0.5) == pytest.approx((256 + 2 * 5 * 28) / 784)


def test_bad_rank_is_refused():
    x, x_hat = _pair(1)
    with pytest.raises(ValueError, match="d: must be in"):
        complementary_basis(x, x_hat, 13)
