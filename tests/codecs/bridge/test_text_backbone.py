"""A pretrained text backbone chosen by the scenario (issue 7): ``BridgeConfig.text_backbone``,
``linksim train bridge --text-backbone``, ``params.text_backbone`` at run time.

A tiny BERT (hidden 16, one layer, a 22-word vocabulary) is written with ``save_pretrained``
so that the real ``from_pretrained`` path runs; nothing touches the network.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

pytest.importorskip("transformers")

from linksim.cli import main  # noqa: E402
from linksim.codecs.bridge import BridgeConfig, BridgeModel, load_bridge_model, model_inputs  # noqa: E402
from linksim.codecs.bridge.encoders import PretrainedTextEncoder, TextEncoder  # noqa: E402
from linksim.codecs.weights import save_weights  # noqa: E402
from linksim.data.digits_av import load_digits_av  # noqa: E402
from linksim.scenario import ScenarioError, validate_scenario  # noqa: E402

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "handwritten", "moving", "left", "right", "up", "down",
         "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def _tiny_bert(folder: Path) -> Path:
    """A 1-layer BERT of width 16 and its WordPiece tokenizer, saved to ``folder``."""
    from transformers import BertConfig, BertModel, BertTokenizer

    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=len(WORDS), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=32, max_position_embeddings=32)).save_pretrained(folder)
    vocab = folder.parent / f"{folder.name}-vocab.txt"
    vocab.write_text("\n".join(WORDS) + "\n")
    BertTokenizer(str(vocab)).save_pretrained(folder)
    return folder


def _linksim(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "linksim", *args], capture_output=True, text=True,
                          env=dict(os.environ), timeout=600, check=False)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Weights trained for 3 steps through the CLI with ``--text-backbone <folder>``; the folder is
    then moved away, so the id stored in the weights no longer exists and only a copy remains."""
    root = tmp_path_factory.mktemp("backbone")
    original = _tiny_bert(root / "bert-at-training")
    weights = root / "bridge.safetensors"
    run = _linksim("train", "bridge", "--out", str(weights), "--data", "digits-av:test", "--num-samples", "32",
                   "--steps", "3", "--batch-size", "8", "--text-backbone", str(original), "--quiet")
    assert run.returncode == 0, run.stderr
    copy = root / "bert-copy"
    shutil.copytree(original, copy)
    shutil.rmtree(original)
    return {"weights": weights, "stored": str(original), "copy": str(copy)}


@pytest.mark.slow
def test_trained_weights_hold_no_backbone_tensors_and_reload_from_a_copy(trained):
    from safetensors import safe_open

    with safe_open(str(trained["weights"]), framework="pt") as f:
        keys = set(f.keys())
        config = BridgeConfig.from_json(f.metadata()["config"])
    assert config.text_backbone == trained["stored"]
    assert not [k for k in keys if k.startswith("encoders.text.backbone.")]
    assert {"encoders.text.project.weight", "encoders.text.project.bias"} <= keys
    assert not [k for k in keys if k.startswith("encoders.text.") and ".project." not in k]
    model = load_bridge_model(trained["weights"], text_backbone=trained["copy"])
    assert isinstance(model.encoders["text"], PretrainedTextEncoder)
    assert model.frozen_state_keys() and model.frozen_state_keys().isdisjoint(keys)
    # every stored tensor is the model's, and the model has nothing else but the backbone
    assert set(model.state_dict()) == keys | model.frozen_state_keys()


def test_backbone_stays_frozen_and_save_load_round_trips(tmp_path):
    """Two in-process training steps move the projection, not the backbone; the reloaded model
    (backbone from its folder, the rest from the file) codes captions exactly as the trained one."""
    from linksim.codecs.bridge.training import TrainConfig, train_bridge

    bert = _tiny_bert(tmp_path / "bert")
    data = load_digits_av("test", 16)
    cfg = TrainConfig(model=BridgeConfig(codebook_size=16, text_backbone=str(bert)), steps=2, batch_size=8)
    res = train_bridge(cfg, tmp_path / "w.safetensors", progress=False, data=data)
    trained = res["model"]
    fresh = BridgeModel(trained.config)
    text, fresh_text = trained.encoders["text"], fresh.encoders["text"]
    assert all(torch.equal(a, b) for a, b in zip(text.backbone.state_dict().values(),
                                                 fresh_text.backbone.state_dict().values()))
    assert not text.backbone.training  # no dropout in a frozen backbone, even during training
    assert not all(p.requires_grad for p in trained.parameters())
    assert {id(p) for p in text.backbone.parameters()}.isdisjoint(id(p) for p in trained.main_parameters())
    reloaded = load_bridge_model(tmp_path / "w.safetensors")
    inputs = model_inputs(data.select(slice(0, 6)))
    with torch.no_grad():
        expected, got = trained.eval().encode(inputs), reloaded.encode(inputs)
    for m in expected:
        assert torch.equal(expected[m], got[m]), m


def test_weights_must_lack_exactly_the_backbone_tensors(tmp_path):
    bert = _tiny_bert(tmp_path / "bert")
    model = BridgeModel(BridgeConfig(codebook_size=16, text_backbone=str(bert)))
    path = save_weights(model, tmp_path / "full.safetensors", "bridge", model.config.to_json())  # backbone included
    with pytest.raises(ValueError, match=r"does not match its architecture .*encoders\.text\.backbone\."):
        load_bridge_model(path)
    builtin = BridgeModel(BridgeConfig(codebook_size=16))
    assert isinstance(builtin.encoders["text"], TextEncoder) and builtin.frozen_state_keys() == set()


def _scenario(tmp_path: Path, params: dict) -> Path:
    raw = {"name": "t", "seed": 3, "data": {"source": "digits-av", "num_samples": 8, "batch_size": 8},
           "channels": [{"model": "awgn"}], "sweep": {"snr_db": [20]},
           "codecs": [{"name": "b", "type": "bridge", "params": params}],
           "metrics": ["ber", "psnr", "text_acc"]}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.slow
def test_run_loads_the_backbone_named_in_the_scenario(trained, tmp_path):
    path = _scenario(tmp_path, {"weights": str(trained["weights"]), "text_backbone": trained["copy"]})
    run = _linksim("run", str(path), "--out", str(tmp_path / "out"), "--quiet")
    assert run.returncode == 0, run.stderr
    with open(tmp_path / "out" / "results.csv", newline="") as f:
        rows = {(r["codec"], r["metric"]): float(r["value"]) for r in csv.DictReader(f)}
    assert rows[("b", "ber")] == 0.0  # QPSK 1/2 at 20 dB over AWGN
    assert 0.0 <= rows[("b", "text_acc")] <= 1.0 and ("b", "psnr") in rows


@pytest.mark.slow
def test_a_backbone_that_cannot_be_loaded_stops_the_run_with_one_line(trained, tmp_path, capsys):
    # the id stored in the weights no longer exists, and the scenario names no other place
    assert main(["run", str(_scenario(tmp_path, {"weights": str(trained["weights"])})), "--out",
                 str(tmp_path / "out"), "--quiet"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0] == (f"error: bridge text_backbone (the frozen text encoder phi^t): '{trained['stored']}' does not "
                      "exist; set params.text_backbone (scenario) or --text-backbone (linksim train bridge) to a hub "
                      "id in the local cache or a folder saved with save_pretrained (model and tokenizer)")
    assert not (tmp_path / "out" / "results.csv").exists()
    missing = tmp_path / "no-such-bert"
    assert main(["run", str(_scenario(tmp_path, {"weights": str(trained["weights"]), "text_backbone": str(missing)})),
                 "--out", str(tmp_path / "out"), "--quiet"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"'{missing}' does not exist; set params.text_backbone" in err[0]


def test_text_backbone_for_weights_trained_without_one_is_invalid(tmp_path):
    with pytest.raises(ScenarioError) as e:
        validate_scenario({"name": "t", "data": {"source": "digits-av", "num_samples": 4},
                           "channels": [{"model": "awgn"}], "sweep": {"snr_db": [10]},
                           "codecs": [{"name": "b", "type": "bridge", "params": {"text_backbone": str(tmp_path)}}]})
    assert e.value.problems == [
        "codecs[0].params.text_backbone: the weights digits_av were trained without a text backbone (built-in text "
        "encoder); leave text_backbone unset or train with linksim train bridge --text-backbone"]


def test_training_with_a_missing_backbone_is_one_line(tmp_path, capsys):
    from linksim.codecs.bridge.training import main as train_main

    missing = tmp_path / "no-such-bert"
    assert train_main(["--out", str(tmp_path / "w.safetensors"), "--data", "digits-av:test", "--num-samples", "8",
                       "--steps", "1", "--text-backbone", str(missing), "--quiet"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: bridge text_backbone (the frozen text encoder phi^t): "
                                               f"'{missing}' does not exist")
    assert not (tmp_path / "w.safetensors").exists()
