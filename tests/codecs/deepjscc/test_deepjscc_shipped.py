"""Every shipped DeepJSCC / ADJSCC model: its file says what it is (name = data, ratio, channel,
SNR), and it beats the same architecture with random weights on every metric, on images it
never saw in training, over the channel it was trained on."""

from __future__ import annotations

import re

import pytest
import torch

from linksim.codecs.deepjscc.models import DeepJSCCModel, load_deepjscc_model, resolve_weights, shipped_weights
from linksim.codecs.deepjscc.training import HELD_OUT_PHOTOS, evaluate, photo_crops
from linksim.metrics.fidelity import SSIM

NAME = re.compile(r"(?P<data>digits28|photos32)_r(?P<ratio>\d+)_(?:(?P<adjscc>adjscc)_)?(?P<channel>awgn|rayleigh)_"
                  r"(?P<snr>\d+(?:-\d+)?)db")


def _held_out(data: str) -> torch.Tensor:
    if data == "photos32":
        return photo_crops(HELD_OUT_PHOTOS, (), 32, 32, seed=5)
    from linksim.data import load_dataset

    return load_dataset("digits28", 32).images  # the test split; models train on digits28:train


def _ssim(model: DeepJSCCModel, images: torch.Tensor, snr_db: float, equalizer: str) -> float:
    import sionna

    from linksim.codecs.deepjscc.training import receiver_snr_db
    from linksim.codecs.training import analog_link
    from linksim.phy.snr import noise_variance

    sionna.phy.config.seed = 1
    out = analog_link("awgn", "perfect", equalizer=equalizer)(model.encode(images, snr_db), noise_variance(snr_db))
    return float(SSIM.compute(images, model.decode(out.values, receiver_snr_db(out))).mean())


@pytest.mark.parametrize("name", shipped_weights())
def test_a_shipped_model_says_what_it_is_and_beats_random_weights(name):
    m = NAME.fullmatch(name)
    assert m, f"{name}: shipped names read <data>_r<1/ratio>_[adjscc_]<channel>_<snr>db"
    model, extra = load_deepjscc_model(resolve_weights(name))
    cfg = model.config
    assert cfg.variant == ("adjscc" if m["adjscc"] else "deepjscc")
    assert abs(1 / cfg.bandwidth_ratio - int(m["ratio"])) / int(m["ratio"]) < 0.15
    assert extra["channel"] == m["channel"]
    lo, _, hi = m["snr"].partition("-")
    assert [float(v) for v in extra["snr_db"]] == [float(lo), float(hi or lo)]
    torch.manual_seed(0)
    random = DeepJSCCModel(cfg).eval()
    images = _held_out(m["data"])
    with torch.no_grad():
        for snr in sorted({float(lo), float(hi or lo)}):
            eq = extra.get("analog_equalizer", "unbiased")  # the receiver it was trained through
            trained_psnr = evaluate(model, images, snr, equalizer=eq)
            random_psnr = evaluate(random, images, snr, equalizer=eq)
            assert trained_psnr > random_psnr + 3.0, (snr, trained_psnr, random_psnr)
            assert _ssim(model, images, snr, eq) > _ssim(random, images, snr, eq) + 0.1
