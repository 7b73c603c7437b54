"""The ``bridge`` codec: streams and bits, loopback, shipped weights vs random ones, AWGN sweep."""

from __future__ import annotations

import pytest
import torch

from linksim.codecs import AnalogPayload, CodecContext, StreamOverride, codec_class
from linksim.codecs.bridge import DEFAULT_WEIGHTS, BridgeModel, bridge_metrics, load_bridge_model, save_bridge_model
from linksim.codecs.bridge.model import model_inputs
from linksim.data.digits_av import load_digits_av

BRIDGE = codec_class("bridge")
CTX = CodecContext(device=torch.device("cpu"), sample_shape=(1, 28, 28))


def _codec(params: dict | None = None, streams: dict | None = None):
    transports = BRIDGE.resolve_transports({k: StreamOverride(**v) for k, v in (streams or {}).items()})
    return BRIDGE(BRIDGE.Params.model_validate(params or {}), transports, CTX)


def _loopback(codec, batch):
    sent = codec.encode(batch)
    received = {n: (p.values if isinstance(p, AnalogPayload) else p.bits) for n, p in sent.items()}
    return codec.decode(received, sent)


@pytest.fixture(scope="module")
def batch():
    return load_digits_av("test", 32)


def test_shipped_weights_are_small_and_streams_cost_ceil_log2_k_bits_per_index():
    assert DEFAULT_WEIGHTS.is_file() and DEFAULT_WEIGHTS.stat().st_size < 5e6
    codec = _codec()
    k = codec.model.config.codebook_size
    assert k == 256
    assert codec.payload_bits() == {"video": 32 * 8, "audio": 8 * 8, "text": 5 * 8}
    analog = _codec(streams={"video": {"path": "analog"}})
    assert set(analog.payload_bits()) == {"audio", "text"}


def test_digital_loopback_is_the_models_own_reconstruction(batch):
    codec = _codec()
    recon = _loopback(codec, batch)
    inputs = model_inputs(batch)
    with torch.no_grad():
        ref = codec.model.decode_indices(codec.model.encode(inputs))
    assert torch.equal(recon.frames, ref["video"]) and torch.equal(recon.audio, ref["audio"])
    assert torch.equal(recon.tokens, ref["text"].argmax(-1))
    assert int(recon.rates["index_out_of_range/video"][0].sum()) == 0


def test_analog_path_sends_unquantised_features(batch):
    codec = _codec(streams={m: {"path": "analog"} for m in ("video", "audio", "text")})
    sent = codec.encode(batch)
    assert sent["audio"].values.shape == (32, 8, codec.model.config.latent_dim)
    recon = _loopback(codec, batch)
    with torch.no_grad():
        _, z = codec.model.features(model_inputs(batch))
        ref = codec.model.decode_features(z)
    assert torch.allclose(recon.frames, ref["video"], atol=1e-6)
    requantized = _loopback(_codec({"analog_requantize": True}, {"text": {"path": "analog"}}), batch)
    assert torch.equal(requantized.tokens, _loopback(_codec(), batch).tokens)


def test_an_image_batch_is_a_clear_error():
    with pytest.raises(ValueError, match="needs multimodal samples"):
        _codec().encode(torch.zeros(2, 1, 28, 28))


def test_shipped_weights_beat_random_weights_on_every_metric(tmp_path, batch):
    trained = _codec()
    torch.manual_seed(0)
    random_path = save_bridge_model(BridgeModel(load_bridge_model(DEFAULT_WEIGHTS).config), tmp_path / "r.safetensors")
    untrained = _codec({"weights": str(random_path)})
    good = {k: float(v.mean()) for k, v in bridge_metrics(trained, batch, _loopback(trained, batch)).items()}
    bad = {k: float(v.mean()) for k, v in bridge_metrics(untrained, batch, _loopback(untrained, batch)).items()}
    assert set(good) == {"psnr", "ssim", "audio_mse", "si_sdr", "text_accuracy"}
    # measured on these 32 samples (random weights, seeds 0 and 1): psnr 21.9 vs 5.8 dB, ssim 0.87 vs
    # 0.005, audio_mse 0.007 vs 0.073, si_sdr 9.0 vs -36 dB, text accuracy 1.0 vs 0.01-0.24
    assert good["psnr"] > bad["psnr"] + 5 and good["ssim"] > bad["ssim"] + 0.2
    assert good["audio_mse"] < 0.5 * bad["audio_mse"] and good["si_sdr"] > bad["si_sdr"] + 10
    assert good["text_accuracy"] > 0.95 > bad["text_accuracy"]


def test_metrics_improve_with_snr_over_awgn(batch):
    import sionna

    from linksim.codecs.hsc.training import analog_link
    from linksim.phy.digital_link import DigitalLink
    from linksim.phy.snr import noise_variance

    sionna.phy.config.seed = 0
    codec = _codec(streams={m: {"code_rate": 1.0} for m in ("video", "audio", "text")})
    link = DigitalLink(analog_link("awgn").transceiver, "qpsk", 1.0)  # uncoded: errors fall smoothly with SNR
    sent = codec.encode(batch)
    curve = []
    for snr_db in (-6.0, 2.0, 10.0):  # Es/N0 per resource element
        received = {m: link(p.bits, noise_variance(snr_db)).bits for m, p in sent.items()}
        curve.append({k: float(v.mean()) for k, v in bridge_metrics(codec, batch, codec.decode(received, sent)).items()})
    # measured: psnr 13.5 / 15.5 / 21.7 dB, text accuracy 0.11 / 0.48 / 1.0 at -6 / 2 / 10 dB; far above the
    # spread of a 32-sample mean (per-sample psnr std ~2 dB -> ~0.4 dB standard error)
    for lo, hi in zip(curve, curve[1:]):
        assert hi["psnr"] > lo["psnr"] + 1 and hi["ssim"] > lo["ssim"]
        assert hi["audio_mse"] < lo["audio_mse"] and hi["si_sdr"] > lo["si_sdr"]
        assert hi["text_accuracy"] > lo["text_accuracy"]


def test_linear_probe_on_received_video_codes_finds_the_digit():
    from linksim.codecs.bridge.metrics import code_features, linear_probe_accuracy

    train, test = load_digits_av("train", 300), load_digits_av("test")
    accuracy = {}
    torch.manual_seed(0)
    shipped = load_bridge_model(DEFAULT_WEIGHTS)
    for name, model in (("shipped", shipped), ("random", BridgeModel(shipped.config).eval())):
        with torch.no_grad():
            a, b = model.encode(model_inputs(train)), model.encode(model_inputs(test))
        cb = model.vq.codebook.detach()
        accuracy[name] = linear_probe_accuracy(code_features(cb, {"video": a["video"]}), train.labels,
                                               code_features(cb, {"video": b["video"]}), test.labels)
    # measured: 0.79 (shipped) vs 0.11 (random, chance 0.1) over the 359 test clips; a binomial
    # standard error of at most 0.027 puts both far from the thresholds
    assert accuracy["shipped"] > 0.6 and accuracy["random"] < 0.3
