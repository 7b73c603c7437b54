"""Tests for linksim.plots (figures are checked for existence and PNG validity)."""

import math
from pathlib import Path

import pytest
import torch
from PIL import Image

from linksim.metrics.intervals import clopper_pearson
from linksim.plots import (
    FigureOptions,
    is_accounting_metric,
    is_fidelity_metric,
    is_link_metric,
    plot_fidelity_vs_load,
    plot_results,
    safe_filename,
    save_sample_grid,
)

SNRS = [0.0, 5.0, 10.0, 15.0]
#: the tests that check which figures are written look at the PNGs (every format: below)
PNG = FigureOptions(formats=("png",), dpi=100)


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
    written = plot_results(_rows(), tmp_path / "plots", PNG)
    names = {p.name for p in written}
    expected = {
        "ber_vs_snr.png", "bler_vs_snr.png",  # one stream per codec: ber/data is ber, no figure of its own
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
    written = plot_results(rows, tmp_path, PNG)
    names = {p.name for p in written}
    assert names == {"ber_vs_distance.png", "psnr_vs_distance.png", "psnr_vs_ber.png"}
    # a distance sweep may leave snr_db empty (fresh NaN objects must still pair ber with psnr)
    for r in rows:
        r["snr_db"] = float("nan")
    names = {p.name for p in plot_results(rows, tmp_path / "nosnr", PNG)}
    assert names == {"ber_vs_distance.png", "psnr_vs_distance.png", "psnr_vs_ber.png"}
    for p in written:
        _assert_png(p)


def test_plot_results_analog_only_and_empty(tmp_path):
    rows = [r for r in _rows() if r["codec"] == "raw-analog"]
    names = {p.name for p in plot_results(rows, tmp_path, PNG)}
    # no BER rows at all: no link figure and no fidelity-vs-BER figure
    assert names == {"psnr_vs_snr.png", "ssim_vs_snr.png", "mse_vs_snr.png", "clip_score_vs_snr.png"}
    assert plot_results([], tmp_path / "empty", PNG) == []
    # BER all zero: nothing plottable on a log axis, skipped without error
    zero = [_row("c", "awgn", s, "ber", 0.0, 0.0, 1e-4) for s in SNRS]
    assert plot_results(zero, tmp_path / "zero", PNG) == []


def test_plot_results_csv_strings_and_inf(tmp_path):
    # rows as read back from a CSV: numbers are strings, empty CI is ''
    rows = [
        {k: ("" if v is None else str(v)) for k, v in r.items()}
        for r in _rows() if r["metric"] in ("ber", "psnr")
    ]
    rows.append(_row("raw-f32", "awgn", 20.0, "psnr", math.inf, None, None, 64))
    names = {p.name for p in plot_results(rows, tmp_path, PNG)}
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

    def snapshot(fig, stem, options):
        (ax,) = fig.axes
        lines = {ln.get_label(): (list(ln.get_xdata()), list(ln.get_ydata())) for ln in ax.get_lines()}
        saved.append((lines, ax.get_xlabel(), ax.get_yscale()))
        return save(fig, stem, options)

    monkeypatch.setattr(plots, "_save", snapshot)
    series = {"sc-k128": "SC", "sc-k256": "SC", "hsc-d2": "HSC", "hsc-d8": "HSC"}
    paths = plot_fidelity_vs_load(_load_rows(with_eta), series, tmp_path, PNG)
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
            plot_fidelity_vs_load(rows, series, folder, PNG)
        else:
            plot_results(rows, folder, PNG)
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
        written = plot_results(rows, tmp_path, PNG)
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
    (first,) = plot_results(rows, tmp_path, PNG)
    before = first.read_bytes()
    monkeypatch.setattr(Figure, "savefig", _interrupting_savefig)
    with pytest.raises(KeyboardInterrupt):
        plot_results(rows, tmp_path, PNG)
    assert first.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [first.name]  # no temporary file left behind


def test_an_interrupted_sample_grid_leaves_no_png(tmp_path, monkeypatch):
    from PIL import Image as PILImage

    monkeypatch.setattr(PILImage.Image, "save", _interrupting_savefig)  # grids are drawn with Pillow
    images = torch.rand(2, 1, 8, 8)
    with pytest.raises(KeyboardInterrupt):
        save_sample_grid(images, {"x @ 10 dB": images}, tmp_path / "samples" / "grid.png")
    assert not list((tmp_path / "samples").iterdir())


# -- figures a paper can use (formats, one look per codec, readable axes, bandwidth, targets) --------

def _snapshots(monkeypatch):
    """What each figure showed when it was saved: per panel, its lines (label -> colour,
    marker), legend texts, axis scales and labels, tick labels and collections."""
    import linksim.plots as plots

    saved = {}
    save = plots._save

    def snapshot(fig, stem, options):
        panels = []
        for ax in fig.axes:
            legend = ax.get_legend()
            panels.append({
                "lines": {ln.get_label(): (ln.get_color(), ln.get_marker()) for ln in ax.get_lines()
                          if not ln.get_label().startswith("_")},
                "legend": [t.get_text() for t in legend.get_texts()] if legend else [],
                "texts": [t.get_text() for t in ax.texts],
                "xscale": ax.get_xscale(), "yscale": ax.get_yscale(), "title": ax.get_title(),
                "xlabel": ax.get_xlabel(), "ylim": ax.get_ylim(),
                "xticks": [t.get_text() for t in ax.get_xticklabels(minor=False) if t.get_text()],
                "xminor": [t.get_text() for t in ax.get_xticklabels(minor=True) if t.get_text()],
                "bands": len(ax.collections), "hlines": [ln.get_ydata()[0] for ln in ax.get_lines()
                                                        if ln.get_linestyle() == "--"],
            })
        saved[Path(stem).name] = {"panels": panels, "size": tuple(fig.get_size_inches())}
        return save(fig, stem, options)

    monkeypatch.setattr(plots, "_save", snapshot)
    return saved


def test_every_figure_in_png_pdf_and_svg_at_the_dpi_asked(tmp_path):
    import xml.etree.ElementTree as ET

    rows = [r for r in _rows() if r["metric"] in ("ber", "psnr")]
    written = plot_results(rows, tmp_path / "a")
    assert {p.suffix for p in written} == {".png", ".pdf", ".svg"} and len(written) == 9
    for p in written:
        if p.suffix == ".pdf":
            assert p.read_bytes().startswith(b"%PDF")
        elif p.suffix == ".svg":
            assert ET.parse(p).getroot().tag.endswith("svg")
    # a fixed creation date: the same figure gives the same vector bytes
    again = plot_results(rows, tmp_path / "b")
    for p, q in zip(written, again):
        if p.suffix in (".pdf", ".svg"):
            assert p.read_bytes() == q.read_bytes(), p.name
    w200, _ = _assert_png(tmp_path / "a" / "ber_vs_snr.png")
    (small,) = [p for p in plot_results(rows, tmp_path / "c", FigureOptions(formats=("png",), dpi=50))
                if p.name == "ber_vs_snr.png"]
    w50, _ = _assert_png(small)
    assert abs(w200 / w50 - 4) < 0.05


def test_a_codec_keeps_its_colour_and_marker_and_its_bandwidth_in_the_legend(tmp_path, monkeypatch):
    saved = _snapshots(monkeypatch)
    plot_results(_rows(), tmp_path, PNG, source_values=784)
    looks = {}
    for name, fig in saved.items():
        for panel in fig["panels"]:
            for label, look in panel["lines"].items():
                looks.setdefault(label, set()).add(look)
    assert looks and all(len(v) == 1 for v in looks.values()), looks
    assert len({next(iter(v)) for v in looks.values()}) == len(looks)  # codecs differ
    # 392 RE per 784 source values: one complex channel use per two values
    assert "raw-f32 (392 RE, k/n = 1/2)" in looks


def test_log_axes_label_decades_only(tmp_path, monkeypatch):
    saved = _snapshots(monkeypatch)
    rows = [_row("a", "awgn", s, "ber", b) for s, b in zip(SNRS, [0.3, 0.2, 0.15, 0.12])]
    rows += [_row("a", "awgn", s, "psnr", p) for s, p in zip(SNRS, [8, 9, 10, 11])]
    plot_results(rows, tmp_path, PNG)
    panel = saved["psnr_vs_ber"]["panels"][0]
    assert panel["xscale"] == "log" and len(panel["xticks"]) >= 2 and not panel["xminor"]
    ber = saved["ber_vs_snr"]["panels"][0]
    lo, hi = ber["ylim"]
    assert math.isclose(math.log10(lo), round(math.log10(lo))) and hi / lo >= 10  # whole decades
    # MSE-like metrics on a log axis (from the metric table)
    rows = [_row("a", "awgn", s, "symbol_mse/z", 10 ** (-s / 10)) for s in SNRS]
    plot_results(rows, tmp_path / "s", PNG)
    assert saved["symbol_mse_z_vs_snr"]["panels"][0]["yscale"] == "log"


def test_targets_channel_titles_notes_and_one_sided_bands(tmp_path, monkeypatch):
    saved = _snapshots(monkeypatch)
    rows = [_row("a", "tdl-A", s, "psnr", 10 + s, 9 + s, math.inf) for s in SNRS]
    rows += [_row("a", "tdl-A", s, "ber", b, 0.0, 1e-3) for s, b in zip(SNRS, [0.1, 0.01, 0.0, 0.0])]
    plot_results(rows, tmp_path, PNG, channel_titles={"tdl-A": "TDL-A, 100 ns, 3 m/s"}, targets={"psnr": 20.0})
    psnr = saved["psnr_vs_snr"]["panels"][0]
    assert psnr["title"] == "TDL-A, 100 ns, 3 m/s" and psnr["xlabel"] == "Es/N0 per RE [dB]"
    assert psnr["hlines"] == [20.0] and "target 20" in psnr["legend"]
    assert psnr["bands"] >= 1  # the upper bound is infinite: the band runs to the panel's edge
    ber = saved["ber_vs_snr"]["panels"][0]
    # notes about omitted points are legend entries, not text drawn over the data
    assert "zero values omitted (log axis)" in ber["legend"] and not ber["texts"]


def test_figure_width_for_a_paper_column(tmp_path, monkeypatch):
    saved = _snapshots(monkeypatch)
    rows = [r for r in _rows() if r["metric"] == "psnr"]  # two channels
    plot_results(rows, tmp_path, FigureOptions(formats=("png",), dpi=100, width_in=3.5))
    width, height = saved["psnr_vs_snr"]["size"]
    assert math.isclose(width, 3.5, rel_tol=1e-6) and height > width  # one column, two rows
    plot_results(rows, tmp_path / "w", FigureOptions(formats=("png",), dpi=100, width_in=7.16))
    width, height = saved["psnr_vs_snr"]["size"]
    assert math.isclose(width, 7.16, rel_tol=1e-6) and height < width


def test_style_and_rc_apply_and_bad_ones_name_the_option(tmp_path):
    import matplotlib

    rows = [r for r in _rows() if r["metric"] == "psnr"]
    plain = plot_results(rows, tmp_path / "a", PNG)[0].read_bytes()
    styled = plot_results(rows, tmp_path / "b", FigureOptions(formats=("png",), dpi=100, style="ggplot",
                                                              rc={"font.size": 6}))[0].read_bytes()
    assert plain != styled
    assert matplotlib.rcParams["font.size"] != 6  # restored after drawing
    for bad, match in (({"rc": {"font.sizee": 3}}, "rc: unknown matplotlib rc parameter"),
                       ({"rc": {"font.size": "big"}}, "rc: font.size"),
                       ({"style": "no-such-style"}, "style: unknown matplotlib style"),
                       ({"formats": ("gif",)}, "formats"), ({"dpi": 1}, "dpi")):
        with pytest.raises(ValueError, match=match):
            FigureOptions(**bad)


def test_compare_runs_overlays_runs_with_one_look_per_codec(tmp_path, monkeypatch):
    from linksim.errors import DataError
    from linksim.plots import compare_runs
    from linksim.results import write_csv

    saved = _snapshots(monkeypatch)
    rows = [r for r in _rows() if r["metric"] in ("psnr", "channel_uses")]
    for name, shift in (("before", 0.0), ("after", 1.0)):
        write_csv([{**r, "value": r["value"] + shift if r["metric"] == "psnr" else r["value"]} for r in rows],
                  tmp_path / name / "results.csv")
    (tmp_path / "before" / "figures.json").write_text('{"channel_titles": {"awgn": "AWGN"}}')
    written = compare_runs([tmp_path / "before", tmp_path / "after"], tmp_path / "cmp", PNG)
    assert [p.name for p in written] == ["psnr_vs_snr.png"]
    panel = saved["psnr_vs_snr"]["panels"][0]
    assert panel["title"] == "AWGN"
    before, after = panel["lines"]["before: j2k (392 RE)"], panel["lines"]["after: j2k (392 RE)"]
    assert before == after  # same colour and marker; the run is the line style
    with pytest.raises(DataError, match="no results.csv"):
        compare_runs([tmp_path / "before", tmp_path / "nowhere"], tmp_path / "x", PNG)
    # the same folder name twice gets numbered labels
    compare_runs([tmp_path / "before", tmp_path / "before"], tmp_path / "twice", PNG)
    assert "before#2: j2k (392 RE)" in saved["psnr_vs_snr"]["panels"][0]["lines"]


def test_fidelity_vs_bandwidth_only_when_codecs_differ_in_bandwidth(tmp_path, monkeypatch):
    from linksim.plots import plot_fidelity_vs_bandwidth

    saved = _snapshots(monkeypatch)
    same = _rows()  # every codec 392 RE
    assert plot_fidelity_vs_bandwidth(same, tmp_path / "same", PNG) == []
    wide = [dict(r, value=12628.0) if r["metric"] == "channel_uses" and r["codec"] == "raw-f32" else r for r in same]
    written = plot_fidelity_vs_bandwidth(wide, tmp_path / "wide", PNG, source_values=784)
    assert {p.name for p in written} == {"psnr_vs_bandwidth.png", "ssim_vs_bandwidth.png", "mse_vs_bandwidth.png",
                                         "clip_score_vs_bandwidth.png"}
    panel = saved["psnr_vs_bandwidth"]["panels"][0]
    assert panel["xscale"] == "log" and "0 dB" in panel["legend"] and "raw-f32 (12628 RE, k/n = 16.1)" in panel["legend"]


def test_per_stream_link_figures_only_for_codecs_of_several_streams(tmp_path):
    rows = [r for r in _rows() if r["metric"] in ("ber", "ber/data")]
    assert {p.name for p in plot_results(rows, tmp_path / "one", PNG)} == {"ber_vs_snr.png"}
    two = rows + [dict(r, metric="ber/cr") for r in rows if r["metric"] == "ber/data"]
    assert {p.name for p in plot_results(two, tmp_path / "two", PNG)} == {"ber_vs_snr.png", "ber_data_vs_snr.png",
                                                                        "ber_cr_vs_snr.png"}
