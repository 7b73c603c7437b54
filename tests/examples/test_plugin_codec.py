"""The example codec plugin (``examples/plugin_codec``): its codec face, weights and training.

The package is imported as installed (``pip install -e examples/plugin_codec``, as CI does);
when it is not installed, from its source folder, so that these tests run either way. The
codec is driven directly here (and, for the analog path, through linksim's AnalogLink); the
end-to-end runs through ``linksim run`` belong with the plugin registry's tests.
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import math
import sys
import tomllib
from pathlib import Path

import pytest
import torch

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "plugin_codec"
try:
    import linksim_example_codec  # noqa: F401
except ImportError:  # not installed: use the source folder
    sys.path.insert(0, str(EXAMPLE))

from linksim.codecs import AnalogPayload, CodecContext, DigitalPayload, StreamOverride  # noqa: E402
from linksim.data import load_dataset  # noqa: E402
from linksim.metrics.fidelity import psnr as image_psnr  # noqa: E402
from linksim_example_codec.codec import TinyAutoencoderCodec  # noqa: E402
from linksim_example_codec.model import (  # noqa: E402
    KIND,
    WEIGHTS_DIR,
    TinyAEConfig,
    TinyAutoencoder,
    load_model,
    save_model,
)

SHAPE = (1, 28, 28)
LATENT = (4, 7, 7)
N = math.prod(LATENT)  # 196 real values = 98 complex channel uses


def make(params: dict | None = None, shape=SHAPE, **stream) -> TinyAutoencoderCodec:
    """A codec as a run builds it: params and stream overrides validated by the codec's own models."""
    cls = TinyAutoencoderCodec
    transports = cls.resolve_transports({"latent": StreamOverride(**stream)} if stream else {})
    ctx = CodecContext(device=torch.device("cpu"), sample_shape=shape)
    return cls(cls.Params.model_validate(params or {}), transports, ctx)


@pytest.fixture(scope="module")
def test_digits() -> torch.Tensor:
    """The first 256 digits of ``digits28:test`` (never seen in training), ``[256, 1, 28, 28]``."""
    return load_dataset("digits28:test", 256).images


def psnr(x: torch.Tensor, x_hat: torch.Tensor) -> float:
    return float(image_psnr(x, x_hat).mean())


# --------------------------------------------------------------------------- #
# weights
# --------------------------------------------------------------------------- #


def test_shipped_weights_load_small_and_float16():
    from safetensors import safe_open

    path = WEIGHTS_DIR / "tiny_ae_digits28.safetensors"
    assert path.is_file() and path.stat().st_size < 100_000
    with safe_open(str(path), framework="pt") as f:
        assert f.metadata()["linksim"] == KIND
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float16}
    model = load_model(path)
    assert model.config == TinyAEConfig(image_shape=SHAPE, hidden=16, latent_channels=4)
    codec = make()
    assert next(codec.model.parameters()).device == torch.device("cpu")
    assert not any(p.requires_grad for p in codec.parameters())


def test_weights_by_path_and_bad_names(tmp_path):
    path = save_model(TinyAutoencoder(TinyAEConfig(latent_channels=2)), tmp_path / "l2.safetensors")
    codec = make({"weights": str(path)})
    assert codec.analog_values("latent") == 2 * 49
    with pytest.raises(ValueError, match="latent_channels = 4 but the weights .* have 2"):
        make({"weights": str(path), "latent_channels": 4})
    with pytest.raises(ValueError, match="no shipped weights named 'nope'"):
        make({"weights": "nope"})
    with pytest.raises(ValueError, match="no such file"):
        make({"weights": str(tmp_path / "missing.safetensors")})
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="junk.safetensors is not a readable safetensors file"):
        make({"weights": str(tmp_path / "junk.safetensors")})
    with pytest.raises(ValueError, match="quant_range"):
        make({"quant_range": (1.0, -1.0)})
    with pytest.raises(ValueError, match="extra"):
        make({"no_such_param": 1})


# --------------------------------------------------------------------------- #
# analog (default) path
# --------------------------------------------------------------------------- #


def test_analog_shapes_power_and_sizes(test_digits):
    codec = make()
    assert codec.transports["latent"].path == "analog"
    assert codec.payload_bits() == {} and codec.analog_values("latent") == N
    msg = codec.encode(test_digits[:8])
    z = msg["latent"]
    assert isinstance(z, AnalogPayload) and z.values.shape == (8, *LATENT)
    # two reals per complex symbol, average symbol energy 1 per sample
    torch.testing.assert_close(2 * z.values.square().flatten(1).mean(dim=1), torch.ones(8))
    rec = codec.decode({"latent": z.values}, msg)
    assert rec.x_hat.shape == (8, *SHAPE) and rec.x_hat.dtype == torch.float32
    assert bool(((rec.x_hat >= 0) & (rec.x_hat <= 1)).all())
    assert rec.rates["nonfinite_rate"][0].tolist() == [0] * 8
    assert rec.rates["nonfinite_rate"][1].tolist() == [N] * 8
    assert rec.rates["fallback_rate"][0].tolist() == [0] * 8
    # any layout with the right number of values per sample is accepted
    flat = codec.decode({"latent": z.values.flatten(1)}, msg)
    torch.testing.assert_close(flat.x_hat, rec.x_hat)


def test_error_free_quality_beats_random_weights(test_digits, tmp_path):
    """Measured: 34.3 dB (shipped) vs 8.6 dB (random weights) on these 256 test digits."""
    codec = make()
    msg = codec.encode(test_digits)
    trained = psnr(test_digits, codec.decode({"latent": msg["latent"].values}, msg).x_hat)
    assert trained > 30.0
    with torch.random.fork_rng():
        torch.manual_seed(0)
        path = save_model(TinyAutoencoder(TinyAEConfig()), tmp_path / "random.safetensors")
    rand = make({"weights": str(path)})
    msg = rand.encode(test_digits)
    untrained = psnr(test_digits, rand.decode({"latent": msg["latent"].values}, msg).x_hat)
    assert untrained < 15.0 < trained - 15.0


def test_analog_through_the_phy_and_differentiable(test_digits):
    import sionna

    from linksim.phy.analog_link import AnalogLink
    from linksim.phy.channels import ChannelParams, build_channel
    from linksim.phy.ofdm import OFDMGrid
    from linksim.phy.transceiver import OFDMTransceiver

    sionna.phy.config.seed = 1
    grid = OFDMGrid(72, 14, 30e3, 6, [2, 11], device="cpu")
    link = AnalogLink(OFDMTransceiver(grid, build_channel(ChannelParams(model="awgn"), grid)))
    codec = make()
    x = test_digits[:32].clone().requires_grad_(True)
    msg = codec.encode(x)
    out = link(msg["latent"].values, 10 ** (-20 / 10))  # Es/N0 = 20 dB
    assert int(out.channel_uses[0]) == N // 2
    rec = codec.decode({"latent": out.values}, msg)
    assert psnr(test_digits[:32], rec.x_hat.detach()) > 28.0  # measured ~33.7 dB at 20 dB
    rec.x_hat.mean().backward()  # gradients reach the input through OFDM, channel and LMMSE
    assert x.grad is not None and bool(torch.isfinite(x.grad).all()) and float(x.grad.abs().sum()) > 0


@pytest.mark.parametrize("policy", ["keep", "zero", "clamp"])
def test_analog_nonfinite_and_huge_values_are_counted_never_passed_on(test_digits, policy):
    codec = make(path="analog", nonfinite=policy)
    msg = codec.encode(test_digits[:4])
    v = msg["latent"].values.clone()
    v[0, 0, 0, :3] = torch.tensor([math.nan, math.inf, -math.inf])
    v[1] = math.nan
    v[2] *= 1e30  # finite but beyond anything the encoder can send
    rec = codec.decode({"latent": v}, msg)
    assert rec.rates["nonfinite_rate"][0].tolist() == [3, N, 0, 0]
    assert bool(torch.isfinite(rec.x_hat).all()) and rec.rates["fallback_rate"][0].tolist() == [0] * 4


# --------------------------------------------------------------------------- #
# digital path
# --------------------------------------------------------------------------- #


def test_uint8_payload_is_196_bytes_and_round_trips(test_digits):
    codec = make(path="digital", dtype="uint8", modulation="qam16", code_rate=0.5)
    assert codec.payload_bits() == {"latent": N * 8}
    msg = codec.encode(test_digits)
    bits = msg["latent"]
    assert isinstance(bits, DigitalPayload) and bits.bits.shape == (256, N * 8) and bits.lengths is None
    assert set(bits.bits.unique().tolist()) <= {0.0, 1.0}
    rec = codec.decode({"latent": bits.bits}, msg)
    assert psnr(test_digits, rec.x_hat) > 30.0
    assert "nonfinite_rate" not in rec.rates  # a fixed-range quantiser always decodes to finite values
    assert rec.rates["fallback_rate"][0].sum() == 0


def test_digital_defaults_and_other_dtypes():
    assert make(path="digital").payload_bits() == {"latent": N * 8}  # no dtype: uint8
    assert make(path="digital", dtype="uint4").payload_bits() == {"latent": N * 4}
    assert make({"quant_range": None}, path="digital", dtype="uint8").payload_bits() == {"latent": N * 8 + 64}
    assert make(path="digital", dtype="float16").payload_bits() == {"latent": N * 16}
    assert make(path="digital", dtype="float32").payload_bits() == {"latent": N * 32}


@pytest.mark.parametrize("dtype", ["uint8", "uint3", "float16", "float32"])
def test_wrong_payload_size_is_a_clear_value_error(test_digits, dtype):
    codec = make(path="digital", dtype=dtype)
    msg = codec.encode(test_digits[:2])
    bits = msg["latent"].bits
    for bad in (bits[:, :-8], torch.cat([bits, torch.ones(2, 16)], dim=1), torch.zeros(2, 0)):
        with pytest.raises(ValueError, match=f"expected {bits.shape[1]} bits per sample"):
            codec.decode({"latent": bad}, msg)
    analog = make()
    msg = analog.encode(test_digits[:2])
    with pytest.raises(ValueError, match=f"expected {N} analog values per sample"):
        analog.decode({"latent": msg["latent"].values.flatten(1)[:, :-1]}, msg)
    with pytest.raises(ValueError, match=r"x: expected shape \[batch, 1, 28, 28\]"):
        analog.encode(torch.zeros(2, 1, 32, 32))


@pytest.mark.parametrize("dtype", ["uint8", "uint3", "float16", "float32", "float64"])
@pytest.mark.parametrize("policy", ["keep", "zero", "clamp"])
@pytest.mark.parametrize("case", ["flip-0.01", "flip-0.2", "random", "ones"])
def test_damaged_bits_decode_finite_and_counted(test_digits, dtype, policy, case):
    codec = make({"quant_range": None} if dtype == "uint3" else None, path="digital", dtype=dtype, nonfinite=policy)
    x = test_digits[:8]
    msg = codec.encode(x)
    bits = msg["latent"].bits
    gen = torch.Generator().manual_seed(0)
    if case.startswith("flip"):
        rx = (bits + (torch.rand(bits.shape, generator=gen) < float(case[5:])).float()) % 2
    elif case == "random":
        rx = (torch.rand(bits.shape, generator=gen) < 0.5).float()
    else:  # every float exponent all ones: every value NaN; a range header of NaN
        rx = torch.ones_like(bits)
    rec = codec.decode({"latent": rx}, msg)
    assert rec.x_hat.shape == x.shape and bool(torch.isfinite(rec.x_hat).all())
    assert bool(((rec.x_hat >= 0) & (rec.x_hat <= 1)).all())
    for name, (events, trials) in rec.rates.items():
        assert events.shape == trials.shape == (8,) and bool((0 <= events).all() & (events <= trials).all()), name
    if dtype.startswith("float") and case == "ones":
        assert rec.rates["nonfinite_rate"][0].tolist() == [N] * 8
    if dtype == "uint3" and case == "ones":  # the NaN range header is an erasure of the whole sample
        assert rec.rates["nonfinite_rate"][0].tolist() == [N] * 8


def test_exponent_errors_in_float32_are_counted_exactly(test_digits):
    codec = make(path="digital", dtype="float32", nonfinite="keep")
    msg = codec.encode(test_digits[:3])
    bits = msg["latent"].bits.clone().reshape(3, N, 32)
    bits[0, [0, 5, 7], 1:9] = 1.0  # exponent all ones: inf or NaN
    rec = codec.decode({"latent": bits.reshape(3, -1)}, msg)
    assert rec.rates["nonfinite_rate"][0].tolist() == [3, 0, 0]
    assert bool(torch.isfinite(rec.x_hat).all())


# --------------------------------------------------------------------------- #
# the plugin's contract with linksim
# --------------------------------------------------------------------------- #


def test_stream_overrides_and_data_checks():
    with pytest.raises(ValueError, match="unknown stream"):
        TinyAutoencoderCodec.resolve_transports({"data": StreamOverride(path="analog")})
    t = TinyAutoencoderCodec.resolve_transports({"latent": StreamOverride(path="digital", dtype="uint8")})
    assert t["latent"].dtype == "uint8" and t["latent"].path == "digital"
    codec = make(shape=(3, 28, 28))
    with pytest.raises(ValueError, match=r"code images \(1, 28, 28\).*the data has \(3, 28, 28\)"):
        codec.check_data(None)
    make().check_data(None)


def test_codec_imports_only_linksim_codecs_and_phy():
    """A codec never imports the runner, the scenario module, the CLI (or data / metrics)."""
    pkg = EXAMPLE / "linksim_example_codec"
    for name in ("codec.py", "model.py", "__init__.py"):
        tree = ast.parse((pkg / name).read_text())
        for node in ast.walk(tree):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
            for m in mods:
                if m and m.split(".")[0] == "linksim":
                    assert m.startswith(("linksim.codecs", "linksim.phy")), f"{name} imports {m}"


def test_entry_point_and_package_data_are_declared():
    meta = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())
    assert meta["project"]["name"] == "linksim-example-codec"
    assert meta["project"]["dependencies"] == ["linksim"]
    target = meta["project"]["entry-points"]["linksim.codecs"]["tiny-ae"]
    module, _, attr = target.partition(":")
    assert getattr(importlib.import_module(module), attr) is TinyAutoencoderCodec
    assert "weights/*.safetensors" in meta["tool"]["setuptools"]["package-data"]["linksim_example_codec"]
    installed = [ep for ep in importlib.metadata.entry_points(group="linksim.codecs") if ep.name == "tiny-ae"]
    if installed:  # installed (CI): the entry point resolves to the same class
        assert installed[0].load() is TinyAutoencoderCodec


def test_training_script_writes_loadable_float16_weights(tmp_path, capsys):
    from linksim_example_codec.train import main

    out = tmp_path / "w.safetensors"
    assert main(["--out", str(out), "--steps", "3", "--batch-size", "8", "--latent-channels", "2",
                 "--eval-samples", "8"]) == 0
    model = load_model(out)
    assert model.config.latent_channels == 2
    printed = capsys.readouterr().out
    assert "trained 3 steps" in printed and '"error_free"' in printed
    codec = make({"weights": str(out)}, path="digital", dtype="uint8")
    assert codec.payload_bits() == {"latent": 2 * 49 * 8}
