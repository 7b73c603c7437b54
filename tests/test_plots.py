"""Tests for linksim.plots (figures are checked for existence and PNG validity)."""

import math

import pytest
import torch
from PIL import Image

from linksim.metrics.intervals import clopper_pearson
from linksim.plots import (
    is_accounting_metric,
    is_fidelity_metric,
    is_link_metric,
    plot_fidelity_vs_load,
    plot_results,
    safe_filename,
    save_sample_grid,
)

SNRS = [0.0, 5.0, 10.0, 15.0]


def _row(codec, channel, snr, metric, value, lo=None, hi=None, n=100, **extra):
    r = dict(codec=codec, channel=channel, snr_db=snr, metric=metric, value=value,
             ci_low=lo, ci_high=hi, n=n)
    r.update(extra)
    return r


def _rows(distance=False):
    rows = []
    for channel in ("awgn", "rayleigh"):
        for i, snr in enumerate(SNRS):
            extra = {"distance_m": 100.0 * (4 - i)} if distance else {}
            for codec in ("raw-f32", "j2k"):
                nbits = 10_000
                k = [3000, 400, 7, 0][i]  # last point: no error observed
                lo, hi = clopper_pearson(k, nbits)
                rows.append(_row(codec, channel, snr, "ber", k / nbits, lo, hi, nbits, **extra))
                rows.append(_row(codec, channel, snr, "ber/data", k / nbits, lo, hi, nbits, **extra))
                rows.append(_row(codec, channel, snr, "bler", min(1.0, 40 * k / nbits), float("nan"),
                                 float("nan"), 50, **extra))
                rows.append(_row(codec, channel, snr, "payload_bits", 25088.0, None, None, 1, **extra))
            for codec in ("raw-f32", "j2k", "raw-analog"):
                rows.append(_row(codec, channel, snr, "psnr", 10 + 2 * snr, 9 + 2 * snr, 11 + 2 * snr, 64, **extra))
                rows.append(_row(codec, channel, snr, "ssim", min(1, 0.3 + snr / 20), "", "", 64, **extra))
                rows.append(_row(codec, channel, snr, "mse", 10 ** (-snr / 10), None, None, 64, **extra))
                rows.append(_row(codec, channel, snr, "clip/score", 0.5, None, None, 64, **extra))
                rows.append(_row(codec, channel, snr, "lpips", float("nan"), None, None, 64, **extra))
                rows.append(_row(codec, channel, snr, "channel_uses", 392.0, None, None, 1, **extra))
    return rows


def _assert_png(path):
    assert path.is_file(), path
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        assert im.format == "PNG"
        assert im.size[0] > 50 and im.size[1] > 50
        return im.size


def test_metric_groups():
    for m in ("ber", "bler", "ber/data", "bler/caption"):
        assert is_link_metric(m) and not is_fidelity_metric(m)
    for m in ("channel_uses", "payload_bits", "payload_bits/data", "nonfinite_rate", "fallback_rate"):
        assert is_accounting_metric(m) and not is_fidelity_metric(m)
    for m in ("mse", "psnr", "ssim", "lpips", "clip/score"):
        assert is_fidelity_metric(m)
    assert safe_filename("ber/data") == "ber_data"
    assert "/" not in safe_filename("a/b\\c:d")


def test_plot_results_snr(tmp_path):
    written = plot_results(_rows(), tmp_path / "plots")
    names = {p.name for p in written}
    expected = {
        "ber_vs_snr.png", "bler_vs_snr.png", "ber_data_vs_snr.png",
        "psnr_vs_snr.png", "ssim_vs_snr.png", "mse_vs_snr.png", "clip_score_vs_snr.png",
        "psnr_vs_ber.png", "ssim_vs_ber.png", "mse_vs_ber.png", "clip_score_vs_ber.png",
    }
    assert names == expected
    for p in written:
        assert p.parent == tmp_path / "plots"
        _assert_png(p)
    # all-NaN metric and accounting rows produce no figure
    assert not list((tmp_path / "plots").glob("lpips*"))
    assert not list((tmp_path / "plots").glob("channel_uses*"))
    assert not list((tmp_path / "plots").glob("payload*"))


def test_plot_results_distance(tmp_path):
    rows = [r for r in _rows(distance=True) if r["metric"] in ("ber", "psnr", "payload_bits")]
    written = plot_results(rows, tmp_path)
    names = {p.name for p in written}
    assert names == {"ber_vs_distance.png", "psnr_vs_distance.png", "psnr_vs_ber.png"}
    # a distance sweep may leave snr_db empty (fresh NaN objects must still pair ber with psnr)
    for r in rows:
        r["snr_db"] = float("nan")
    names = {p.name for p in plot_results(rows, tmp_path / "nosnr")}
    assert names == {"ber_vs_distance.png", "psnr_vs_distance.png", "psnr_vs_ber.png"}
    for p in written:
        _assert_png(p)


def test_plot_results_analog_only_and_empty(tmp_path):
    rows = [r for r in _rows() if r["codec"] == "raw-analog"]
    names = {p.name for p in plot_results(rows, tmp_path)}
    # no BER rows at all: no link figure and no fidelity-vs-BER figure
    assert names == {"psnr_vs_snr.png", "ssim_vs_snr.png", "mse_vs_snr.png", "clip_score_vs_snr.png"}
    assert plot_results([], tmp_path / "empty") == []
    # BER all zero: nothing plottable on a log axis, skipped without error
    zero = [_row("c", "awgn", s, "ber", 0.0, 0.0, 1e-4) for s in SNRS]
    assert plot_results(zero, tmp_path / "zero") == []


def test_plot_results_csv_strings_and_inf(tmp_path):
    # rows as read back from a CSV: numbers are strings, empty CI is ''
    rows = [
        {k: ("" if v is None else str(v)) for k, v in r.items()}
        for r in _rows() if r["metric"] in ("ber", "psnr")
    ]
    rows.append(_row("raw-f32", "awgn", 20.0, "psnr", math.inf, None, None, 64))
    names = {p.name for p in plot_results(rows, tmp_path)}
    assert names == {"ber_vs_snr.png", "psnr_vs_snr.png", "psnr_vs_ber.png"}


def test_sample_grid_grows_with_rows(tmp_path):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(10, 1, 28, 28, generator=g)  # more than 8: only 8 columns shown
    bad = x.clone()
    bad[0, 0, :4] = float("nan")
    bad[1] = 3.0
    p1 = save_sample_grid(x, {"raw-f32 @ 10 dB": bad}, tmp_path / "a" / "g1.png", title="digits")
    p2 = save_sample_grid(
        x, {"raw-f32 @ 10 dB": bad, "raw-analog @ 0 dB": x * 0.5, "j2k @ 5 dB": x}, tmp_path / "g2.png"
    )
    w1, h1 = _assert_png(p1)
    w2, h2 = _assert_png(p2)
    assert h2 > h1 and w2 == w1
    # fewer columns, RGB
    rgb = torch.rand(3, 3, 16, 16, generator=g)
    p3 = save_sample_grid(rgb, {"x": rgb}, tmp_path / "g3.png")
    w3, _ = _assert_png(p3)
    assert w3 < w1
    with Image.open(p3) as im:
        assert im.convert("RGB").getextrema() != ((255, 255), (255, 255), (255, 255))


def test_sample_grid_rejects_bad_shapes(tmp_path):
    with pytest.raises(ValueError):
        save_sample_grid(torch.rand(2, 5, 8, 8), {}, tmp_path / "bad.png")
    with pytest.raises(ValueError):
        save_sample_grid(torch.rand(0, 1, 8, 8), {}, tmp_path / "bad.png")


def _load_rows(with_eta: bool):
    """SC (k grows) and HSC (d grows) at two SNRs: mse falls with the load."""
    rows = []
    for snr in (0.0, 30.0):
        for codec, load, mse in (("sc-k128", 0.2, 4e-3), ("sc-k256", 0.41, 3e-3),
                                 ("hsc-d2", 0.35, 1e-3), ("hsc-d8", 0.78, 4e-5)):
            rows.append(_row(codec, "awgn", snr, "mse", mse * (2 if snr == 0 else 1), mse / 2, mse * 2))
            rows.append(_row(codec, "awgn", snr, "channel_uses", 1000 * load, None, None))
            if with_eta:
                rows.append(_row(codec, "awgn", snr, "eta", load, load, load))
    return rows


@pytest.mark.parametrize("with_eta", [True, False])
def test_fidelity_vs_load_draws_one_line_per_series_and_snr(tmp_path, monkeypatch, with_eta):
    import linksim.plots as plots

    saved = []  # what each figure showed when it was saved (a figure is drawn on again for the next one)
    save = plots._save

    def snapshot(fig, path):
        (ax,) = fig.axes
        lines = {ln.get_label(): (list(ln.get_xdata()), list(ln.get_ydata())) for ln in ax.get_lines()}
        saved.append((lines, ax.get_xlabel(), ax.get_yscale()))
        return save(fig, path)

    monkeypatch.setattr(plots, "_save", snapshot)
    series = {"sc-k128": "SC", "sc-k256": "SC", "hsc-d2": "HSC", "hsc-d8": "HSC"}
    paths = plot_fidelity_vs_load(_load_rows(with_eta), series, tmp_path)
    # neither eta nor channel_uses is a y axis
    assert [p.name for p in paths] == ["mse_vs_channel_uses.png"] + (["mse_vs_eta.png"] if with_eta else [])
    with Image.open(paths[0]) as im:
        assert im.format == "PNG" and im.size[0] > 100
    for (lines, xlabel, yscale), scale, label in zip(saved, (1000, 1), ("channel uses", "load")):
        assert lines["HSC @ 30 dB"] == ([0.35 * scale, 0.78 * scale], [1e-3, 4e-5])  # sorted by load
        assert lines["SC @ 0 dB"] == ([0.2 * scale, 0.41 * scale], [8e-3, 6e-3])
        assert len(lines) == 4
        assert xlabel.startswith(label) and yscale == "log"


def _pixels(folder):
    import numpy as np

    out = {}
    for p in sorted(folder.glob("*.png")):
        with Image.open(p) as im:
            out[p.name] = np.asarray(im.convert("RGBA"))
    return out


@pytest.mark.parametrize("case", ["snr", "distance", "extremes", "load"])
def test_a_figure_drawn_again_draws_what_a_new_figure_draws(tmp_path, monkeypatch, case):
    """plot_results and plot_fidelity_vs_load clear and reuse one figure per shape: every PNG
    must be the one a new figure gives, pixel for pixel, whatever was drawn on it before
    (log after linear axes, notes, legends, bands, fewer panels, empty panels)."""
    import linksim.plots as plots

    rows = {"snr": _rows(), "distance": _rows(distance=True),
            "extremes": _rows() + [_row("a", "awgn", s, "mse", v, -1e308, 1e308)
                                   for s, v in zip(SNRS, [-1e300, 1e200, 0.0, 1.0])]
            + [_row("b", "rayleigh", 5.0, "ber", 0.0, 0.0, 3e-4)],
            "load": _load_rows(True)}[case]
    series = {"sc-k128": "SC", "sc-k256": "SC", "hsc-d2": "HSC", "hsc-d8": "HSC"}
    for reuse, folder in ((True, tmp_path / "reused"), (False, tmp_path / "fresh")):
        monkeypatch.setattr(plots, "_REUSE_FIGURES", reuse)
        if case == "load":
            plot_fidelity_vs_load(rows, series, folder)
        else:
            plot_results(rows, folder)
    reused, fresh = _pixels(tmp_path / "reused"), _pixels(tmp_path / "fresh")
    assert len(fresh) > 1 and reused.keys() == fresh.keys()
    for name in fresh:
        assert reused[name].shape == fresh[name].shape and (reused[name] == fresh[name]).all(), name


def test_fidelity_vs_load_needs_a_series_of_two(tmp_path):
    assert plot_fidelity_vs_load(_load_rows(True), {}, tmp_path) == []
    assert plot_fidelity_vs_load(_load_rows(True), {"sc-k128": "SC", "hsc-d2": "HSC"}, tmp_path) == []
    assert not list(tmp_path.iterdir())


def test_extreme_values_draw_without_overflow_warnings(tmp_path):
    """Values matplotlib's axis arithmetic overflows on (|v| > ~1e250 on a log axis, ~1e307 on a
    linear one) are omitted as non-finite, without a RuntimeWarning or a failure."""
    import warnings

    rows = [_row("a", "awgn", s, "ber", v, v / 2, min(2 * v, 1.0)) for s, v in zip(SNRS, [0.3, 1e-320, 1e-300, 1e-12])]
    rows += [_row("a", "awgn", 20.0, "ber", 1e308, 1e-308, 1e308), _row("a", "awgn", 1e308, "ber", 0.1)]
    rows += [_row("a", "awgn", s, "psnr", v, v - 1, v + 1) for s, v in zip(SNRS, [1e308, -1e308, 20.0, 30.0])]
    rows += [_row("a", "awgn", s, "mse", v) for s, v in zip(SNRS, [1e308, 1e250, 1e-3, 1e-320])]
    rows += [_row("b", "awgn", s, "mse", v, -1e308, 1e308) for s, v in zip(SNRS, [-1e300, 1e200, 0.0, 1.0])]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        written = plot_results(rows, tmp_path)
    assert {p.name for p in written} >= {"ber_vs_snr.png", "psnr_vs_snr.png", "mse_vs_snr.png"}
    for p in written:
        _assert_png(p)


def _interrupting_savefig(self, fname, *args, **kwargs):
    """A save cut short by Ctrl-C (or SIGTERM) half-way through the PNG."""
    partial = b"\x89PNG\r\n\x1a\n" + b"\0" * 10
    if hasattr(fname, "write"):
        fname.write(partial)
    else:
        with open(fname, "wb") as fh:
            fh.write(partial)
    raise KeyboardInterrupt


def test_an_interrupted_figure_leaves_the_previous_png_whole(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    rows = [r for r in _rows() if r["metric"] == "ber"]
    (first,) = plot_results(rows, tmp_path)
    before = first.read_bytes()
    monkeypatch.setattr(Figure, "savefig", _interrupting_savefig)
    with pytest.raises(KeyboardInterrupt):
        plot_results(rows, tmp_path)
    assert first.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [first.name]  # no temporary file left behind


def test_an_interrupted_sample_grid_leaves_no_png(tmp_path, monkeypatch):
    from PIL import Image as PILImage

    monkeypatch.setattr(PILImage.Image, "save", _interrupting_savefig)  # grids are drawn with Pillow
    images = torch.rand(2, 1, 8, 8)
    with pytest.raises(KeyboardInterrupt):
        save_sample_grid(images, {"x @ 10 dB": images}, tmp_path / "samples" / "grid.png")
    assert not list((tmp_path / "samples").iterdir())
