"""Plugins found through entry points of an installed distribution (a dist-info folder on sys.path),
through ``module:Class`` in a scenario, and what happens when they are broken."""

from __future__ import annotations

import sys
import textwrap

import pytest

from linksim.cli import main
from linksim.codecs import CODECS
from linksim.data.registry import SOURCES
from linksim.errors import PluginError
from linksim.metrics.table import METRICS
from linksim.phy.channels import CHANNELS

CODEC_SRC = textwrap.dedent('''
    """A plugin codec: the pixels as analog symbols, halved and doubled (to tell it apart)."""
    import torch
    from linksim.codecs import AnalogPayload, Codec, Reconstruction, Transport

    class HalfCodec(Codec):
        default_streams = {"data": Transport(path="analog")}
        analog_streams = frozenset({"data"})

        def encode(self, x):
            return {"data": AnalogPayload(x * 0.5)}

        def decode(self, received, sent):
            return Reconstruction(x_hat=received["data"] * 2.0)
''')

EXTRAS_SRC = textwrap.dedent('''
    import torch
    from linksim.metrics.table import Metric
    from linksim.phy.channels import AWGNChannel

    def _brightness(x, x_hat):
        return (x_hat.flatten(1).mean(1) - x.flatten(1).mean(1)).abs().double()

    BRIGHTNESS = Metric("brightness_error", "absolute error of the mean brightness", "function",
                        higher_is_better=False, data="image", compute=_brightness)

    class QuietChannel(AWGNChannel):
        """AWGN under another name (a plugin channel model)."""

        class Params(AWGNChannel.Params):
            model: str = "quiet"
''')


def _install(tmp_path, name: str, entry_points: str, modules: dict[str, str], monkeypatch) -> None:
    """A distribution as pip leaves it: modules plus <name>.dist-info with entry_points.txt."""
    for module, src in modules.items():
        (tmp_path / f"{module}.py").write_text(src)
    info = tmp_path / f"{name.replace('-', '_')}-0.3.dist-info"  # as pip names it (the stem is the name)
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.3\n")
    (info / "entry_points.txt").write_text(entry_points)
    monkeypatch.syspath_prepend(str(tmp_path))


PLUGIN_MODULES = ("plugcodec", "plugextras", "brokenplug", "othercodec", "evolving_codec", "plugdata", "plugmetric")


@pytest.fixture
def refreshed():
    """Registries re-read their entry points, and this file's plugin modules are imported afresh
    (each test writes its own into its own temporary folder)."""
    registries = (CODECS, CHANNELS, SOURCES, METRICS)
    for r in registries:
        r.refresh()
    for m in PLUGIN_MODULES:
        sys.modules.pop(m, None)
    yield
    for r in registries:
        r.refresh()
    for m in PLUGIN_MODULES:
        sys.modules.pop(m, None)


SCENARIO = textwrap.dedent('''
    name: plugin-run
    seed: 1
    device: cpu
    data: {source: digits28, num_samples: 8, batch_size: 8}
    channels: [{model: awgn}, {model: quiet}]
    sweep: {snr_db: [40]}
    codecs:
      - {name: by-entry-point, type: half}
      - {name: by-reference, type: "plugcodec:HalfCodec"}
    metrics: [mse, psnr, brightness_error]
''')


def test_plugin_through_entry_points_and_reference(tmp_path, monkeypatch, refreshed, capsys):
    _install(tmp_path, "linksim-test-plugin",
             "[linksim.codecs]\nhalf = plugcodec:HalfCodec\n"
             "[linksim.channels]\nquiet = plugextras:QuietChannel\n"
             "[linksim.metrics]\nbrightness_error = plugextras:BRIGHTNESS\n",
             {"plugcodec": CODEC_SRC, "plugextras": EXTRAS_SRC}, monkeypatch)
    for r in (CODECS, CHANNELS, METRICS):
        r.refresh()
    assert CODECS.origin("half").describe() == "plugin linksim-test-plugin 0.3"
    assert main(["list"]) == 0
    assert "plugin linksim-test-plugin 0.3" in capsys.readouterr().out

    scenario = tmp_path / "s.yaml"
    scenario.write_text(SCENARIO)
    out = tmp_path / "run"
    assert main(["run", str(scenario), "--out", str(out), "--quiet"]) == 0
    rows = (out / "results.csv").read_text().splitlines()
    psnr = [r for r in rows if ",psnr," in r]
    assert len(psnr) == 4  # two codecs x two channels
    assert all(float(r.split(",")[4]) > 30 for r in psnr)  # 40 dB, the codec halves and doubles
    assert sum(",brightness_error," in r for r in rows) == 4


def test_plugin_that_fails_to_import_is_one_line(tmp_path, monkeypatch, refreshed, capsys):
    _install(tmp_path, "linksim-broken-plugin", "[linksim.codecs]\nbroken = brokenplug:Codec\n",
             {"brokenplug": "import this_module_does_not_exist\n"}, monkeypatch)
    CODECS.refresh()
    with pytest.raises(PluginError, match="entry point brokenplug:Codec of linksim-broken-plugin.*No module named"):
        CODECS["broken"]
    scenario = tmp_path / "s.yaml"
    scenario.write_text(SCENARIO.replace("type: half", "type: broken").replace("{model: quiet}", "{model: rayleigh}")
                        .replace(", brightness_error", ""))
    assert main(["validate", str(scenario)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    # one line per plugin: the broken entry point, and the module:Class that is not on the path here
    assert len(err) == 2 and err[0].startswith("codecs[0].type: codec type 'broken' (entry point brokenplug:Codec")
    assert "this_module_does_not_exist" in err[0] and "Traceback" not in err[0]
    assert err[1] == ("codecs[1].type: codec type 'plugcodec:HalfCodec': cannot import plugcodec: "
                      "ModuleNotFoundError: No module named 'plugcodec'")


def test_two_distributions_providing_one_name(tmp_path, monkeypatch, refreshed):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    _install(a, "plugin-a", "[linksim.codecs]\nsame = plugcodec:HalfCodec\n", {"plugcodec": CODEC_SRC}, monkeypatch)
    _install(b, "plugin-b", "[linksim.codecs]\nsame = othercodec:HalfCodec\n", {"othercodec": CODEC_SRC}, monkeypatch)
    CODECS.refresh()
    with pytest.raises(PluginError, match="provided by several installed packages: plugin-.*plugin-"):
        CODECS["same"]


def test_changed_plugin_recomputes_its_points(tmp_path, monkeypatch, refreshed, capsys):
    monkeypatch.syspath_prepend(str(tmp_path))
    module = tmp_path / "evolving_codec.py"
    module.write_text(CODEC_SRC)
    scenario = tmp_path / "s.yaml"
    scenario.write_text(textwrap.dedent('''
        name: evolving
        device: cpu
        data: {source: digits28, num_samples: 4, batch_size: 4}
        channels: [{model: awgn}]
        sweep: {snr_db: [30]}
        codecs: [{name: mine, type: "evolving_codec:HalfCodec"}]
        metrics: [mse]
    '''))
    out = tmp_path / "run"
    assert main(["run", str(scenario), "--out", str(out), "--quiet"]) == 0
    assert "1 points simulated, 0 resumed" in capsys.readouterr().out
    assert main(["run", str(scenario), "--out", str(out), "--quiet"]) == 0
    assert "0 points simulated, 1 resumed" in capsys.readouterr().out
    module.write_text(CODEC_SRC.replace("x * 0.5", "x * 0.25").replace("* 2.0", "* 4.0"))  # the author edits it
    assert main(["run", str(scenario), "--out", str(out), "--quiet"]) == 0
    assert "1 points simulated, 0 resumed" in capsys.readouterr().out


DATA_SRC = textwrap.dedent('''
    import torch
    from linksim.data import DataError, DataSource, ImageDataset

    class Stripes(DataSource):
        """Vertical stripes of a width given as the argument: ``plugdata:Stripes:<width>``."""
        usages = ("plugdata:Stripes:<width>",)

        def load(self, source, argument, num_samples, image_size, seed):
            if not argument.isdigit():
                raise DataError(f"data.source {source!r}: give the stripe width, e.g. plugdata:Stripes:2")
            size = image_size or 16
            cols = (torch.arange(size) // int(argument)) % 2
            images = cols.float().expand(num_samples, 1, size, size).clone()
            return ImageDataset(images, source=source)  # no labels; names default to <source>/<i>
''')


def test_a_data_source_plugin_by_reference_with_an_argument(tmp_path, monkeypatch, refreshed, capsys):
    (tmp_path / "plugdata.py").write_text(DATA_SRC)
    monkeypatch.syspath_prepend(str(tmp_path))
    scenario = tmp_path / "s.yaml"
    scenario.write_text(textwrap.dedent('''
        name: stripes
        device: cpu
        data: {source: "plugdata:Stripes:2", num_samples: 4, batch_size: 4}
        channels: [{model: awgn}]
        sweep: {snr_db: [30]}
        codecs: [{name: analog, type: raw, streams: {data: {path: analog}}}]
        metrics: [mse]
    '''))
    assert main(["run", str(scenario), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    assert ",mse," in (tmp_path / "run" / "results.csv").read_text()
    scenario.write_text(scenario.read_text().replace("Stripes:2", "Stripes:wide"))
    assert main(["run", str(scenario), "--out", str(tmp_path / "run2"), "--quiet"]) == 2
    assert "give the stripe width" in capsys.readouterr().err


METRIC_SRC = textwrap.dedent('''
    from linksim.metrics.table import Metric

    def _mae(x, x_hat):
        return (x_hat - x).abs().flatten(1).mean(1).double()

    MAE = Metric("mae", "mean absolute error per pixel", "function", higher_is_better=False, data="image",
                 compute=_mae)
''')


def test_a_metric_plugin_by_reference_and_its_target(tmp_path, monkeypatch, refreshed, capsys):
    (tmp_path / "plugmetric.py").write_text(METRIC_SRC)
    monkeypatch.syspath_prepend(str(tmp_path))
    scenario = tmp_path / "s.yaml"
    scenario.write_text(textwrap.dedent('''
        name: mae
        device: cpu
        data: {source: digits28, num_samples: 4, batch_size: 4}
        channels: [{model: awgn}]
        sweep: {snr_db: [0, 30]}
        codecs: [{name: analog, type: raw, streams: {data: {path: analog}}}]
        metrics: [psnr, "plugmetric:MAE"]
    '''))
    out = tmp_path / "run"
    assert main(["run", str(scenario), "--out", str(out), "--quiet"]) == 0
    rows = [r.split(",") for r in (out / "results.csv").read_text().splitlines() if ",mae," in r]
    assert len(rows) == 2 and float(rows[0][4]) > float(rows[1][4]) > 0  # worse at 0 dB than at 30 dB
    capsys.readouterr()
    # the metric's module changes: its points are recomputed
    (tmp_path / "plugmetric.py").write_text(METRIC_SRC.replace("mean(1)", "mean(1) * 1"))
    assert main(["run", str(scenario), "--out", str(out), "--quiet"]) == 0
    assert "2 points simulated, 0 resumed" in capsys.readouterr().out


def test_a_codec_refusing_its_params_is_one_line_exit_2(tmp_path, monkeypatch, refreshed, capsys):
    (tmp_path / "plugcodec.py").write_text(CODEC_SRC + textwrap.dedent('''
        class Picky(HalfCodec):
            def __init__(self, params, transports, context):
                super().__init__(params, transports, context)
                if context.sample_shape[-1] % 8:
                    raise ValueError(f"images must be a multiple of 8 pixels wide, got {context.sample_shape[-1]}")
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    scenario = tmp_path / "s.yaml"
    scenario.write_text(SCENARIO.replace("type: half", "type: plugcodec:Picky").replace(", {model: quiet}", "")
                        .replace(", brightness_error", "").replace("num_samples: 8", "num_samples: 8, image_size: 12"))
    assert main(["run", str(scenario), "--out", str(tmp_path / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["codecs[0] (by-entry-point): images must be a multiple of 8 pixels wide, got 12"]
