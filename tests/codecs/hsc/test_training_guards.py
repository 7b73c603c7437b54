"""Issue 14, case 6: ``linksim train hsc`` refuses options that would train useless weights
(one line, exit 2), names a damaged checkpoint, commits a checkpoint's parts together (a
kill at any moment of a checkpoint leaves a resumable one) and resumes exactly (optimizer
state, random generators, data order): a resumed run equals an uninterrupted one to 1e-6."""

from __future__ import annotations

import json
import os
import pathlib

import pytest
import torch

from linksim.cli import main
from linksim.codecs.hsc import SemanticConfig, SemanticModel, load_semantic_model, save_semantic_model
from linksim.codecs.hsc.models import load_ncr_adapters
from linksim.codecs.hsc.training import TrainConfig, finetune_semantic, train_ncr, train_semantic, training_images

TINY = dict(batch_size=8, k=4, hidden=(16,), num_samples=32)


def _tiny_model(kind: str = "vae") -> SemanticModel:
    torch.manual_seed(0)
    return SemanticModel(SemanticConfig(kind=kind, image_shape=(1, 28, 28), k=8, hidden=(32,), codebook_size=16))


def _state(path) -> dict[str, torch.Tensor]:
    return load_semantic_model(path).state_dict()


def _assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], atol: float = 1e-6) -> None:
    assert a.keys() == b.keys()
    worst = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert worst <= atol, f"largest difference {worst:.3g}"


# --------------------------------------------------------------------------- options


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    return save_semantic_model(_tiny_model(), tmp_path_factory.mktemp("w") / "m.safetensors")


BAD_OPTIONS = [
    (["--steps", "0"], "--steps"),
    (["--steps", "-5"], "--steps"),
    (["--lr", "inf"], "--lr"),
    (["--lr", "nan"], "--lr"),
    (["--lr", "0"], "--lr"),
    (["--lr", "-1e-3"], "--lr"),
    (["--beta", "nan"], "--beta"),
    (["--beta", "-1"], "--beta"),
    (["--snr-db", "nan,nan"], "--snr-db"),
    (["--snr-db", "5,0"], "--snr-db"),
    (["--snr-db", "5"], "--snr-db"),
    (["--snr-db", "0,400"], "--snr-db"),
    (["--shift", "-1"], "--shift"),
    (["--checkpoint-every", "0"], "--checkpoint-every"),
    (["--batch-size", "0"], "--batch-size"),
    (["--k", "0"], "--k"),
    (["--hidden", "16,0"], "--hidden"),
    (["--num-samples", "0"], "--num-samples"),
    (["--weight-decay", "nan"], "--weight-decay"),
    (["--seed", "-1"], "--seed"),
    (["--device", "banana"], "--device"),
    (["--d", "0"], "--d"),
    (["--cr-dtype", "float7"], "--cr-dtype"),
    (["--channel", "nope"], "--channel"),
]


@pytest.mark.parametrize(("options", "field"), BAD_OPTIONS, ids=[" ".join(o) for o, _ in BAD_OPTIONS])
def test_bad_options_exit_2_with_one_line_naming_the_option(tmp_path, capsys, options, field):
    out = tmp_path / "w.safetensors"
    rc = main(["train", "hsc", "--out", str(out), "--quiet", "--steps", "2", *TINY_ARGS, *options])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.startswith(f"{field}: ") and err.count("\n") == 1, err
    assert not list(tmp_path.iterdir())  # nothing written


TINY_ARGS = ["--batch-size", "4", "--num-samples", "8", "--k", "4", "--hidden", "16"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_without_cuda_is_one_line(tmp_path, capsys):
    assert main(["train", "hsc", "--out", str(tmp_path / "w.safetensors"), "--device", "cuda", "--quiet",
                 *TINY_ARGS]) == 2
    err = capsys.readouterr().err
    assert err.startswith("--device: ") and err.count("\n") == 1, err


def test_options_checked_against_the_data_and_the_model(tmp_path, capsys, tiny_weights):
    out = str(tmp_path / "w.safetensors")
    assert main(["train", "hsc", "--out", out, "--quiet", "--steps", "1", "--shift", "28", *TINY_ARGS]) == 2
    assert capsys.readouterr().err.startswith("--shift: ")
    assert main(["train", "hsc", "--ncr-for", str(tiny_weights), "--d", "29", "--out", out, "--quiet",
                 "--steps", "1", "--channel", "awgn", *TINY_ARGS]) == 2
    assert capsys.readouterr().err.startswith("--d: ")
    assert main(["train", "hsc", "--ncr-for", str(tiny_weights), "--finetune-from", str(tiny_weights), "--out", out,
                 "--quiet"]) == 2
    assert capsys.readouterr().err.startswith("--finetune-from: ")
    assert not (tmp_path / "w.safetensors").exists()


def test_the_library_functions_check_their_arguments_too(tmp_path):
    with pytest.raises(ValueError, match="--steps"):
        train_semantic(TrainConfig(steps=0, **TINY), tmp_path / "w", progress=False)
    with pytest.raises(ValueError, match="--checkpoint-every"):
        train_semantic(TrainConfig(steps=2, checkpoint_every=0, **TINY), tmp_path / "w", progress=False)
    x = torch.rand(4, 1, 28, 28)
    with pytest.raises(ValueError, match="--snr-db"):
        finetune_semantic(_tiny_model(), x, (5.0, 0.0), "awgn", steps=1, progress=False)
    with pytest.raises(ValueError, match="--lr"):
        train_ncr(_tiny_model(), x, 2, channel="awgn", steps=1, lr=float("nan"), progress=False)


# --------------------------------------------------------------------------- damaged checkpoints


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_a_damaged_checkpoint_is_one_line_naming_the_file(tmp_path, capsys, damage):
    out = tmp_path / "w.safetensors"
    args = ["train", "hsc", "--out", str(out), "--quiet", "--checkpoint-every", "1", *TINY_ARGS]
    assert main([*args, "--steps", "2"]) == 0
    state = tmp_path / "w.optim.safetensors"
    data = state.read_bytes()
    state.write_bytes({"garbage": b"\x00\x01not a safetensors file" * 10, "truncated": data[: len(data) // 2],
                       "empty": b""}[damage])
    capsys.readouterr()
    rc = main([*args, "--steps", "3", "--resume"])
    err = capsys.readouterr().err
    assert rc == 1 and err.count("\n") == 1 and str(state) in err and "Traceback" not in err, err


def test_damaged_weights_to_fine_tune_name_the_file(tmp_path, capsys):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\xff" * 100)
    rc = main(["train", "hsc", "--finetune-from", str(bad), "--out", str(tmp_path / "ft.safetensors"), "--quiet",
               "--steps", "1", "--channel", "awgn", *TINY_ARGS])
    err = capsys.readouterr().err
    assert rc == 1 and err.count("\n") == 1 and str(bad) in err, err


# --------------------------------------------------------------------------- exact resume


@pytest.mark.parametrize("kind", ["vae", "vqvae"])
def test_training_resumes_exactly(tmp_path, kind):
    full = train_semantic(TrainConfig(kind=kind, steps=12, checkpoint_every=100, **TINY), tmp_path / "full",
                          progress=False)
    part = train_semantic(TrainConfig(kind=kind, steps=5, checkpoint_every=100, **TINY), tmp_path / "part",
                          progress=False)
    assert part["step"] == 5
    resumed = train_semantic(TrainConfig(kind=kind, steps=12, checkpoint_every=100, **TINY), tmp_path / "part",
                             resume=True, progress=False)
    assert resumed["step"] == 12
    _assert_same(_state(full["weights"]), _state(resumed["weights"]))
    assert resumed["train_mse"] == pytest.approx(full["train_mse"], rel=1e-6)


def test_fine_tuning_resumes_exactly(tmp_path):
    x = training_images("digits28:train", 16)
    common = dict(batch_size=4, lr=1e-3, seed=3, progress=False, checkpoint_every=100)
    a = _tiny_model()
    finetune_semantic(a, x, (0.0, 5.0), "rayleigh", steps=4, out=tmp_path / "full.safetensors", **common)
    b = _tiny_model()
    finetune_semantic(b, x, (0.0, 5.0), "rayleigh", steps=2, out=tmp_path / "part.safetensors", **common)
    c = _tiny_model()  # what --finetune-from loads again; the checkpoint's weights win
    finetune_semantic(c, x, (0.0, 5.0), "rayleigh", steps=4, out=tmp_path / "part.safetensors", resume=True, **common)
    _assert_same(a.state_dict(), c.state_dict())
    _assert_same(_state(tmp_path / "full.safetensors"), _state(tmp_path / "part.safetensors"))


def test_ncr_resumes_exactly(tmp_path):
    x = training_images("digits28:train", 8)
    model = _tiny_model()
    common = dict(channel="awgn", batch_size=4, seed=1, progress=False, checkpoint_every=100, snr_db=(5.0, 10.0))
    full, _ = train_ncr(model, x, 2, steps=3, out=tmp_path / "full.safetensors", **common)
    train_ncr(model, x, 2, steps=1, out=tmp_path / "part.safetensors", **common)
    resumed, _ = train_ncr(model, x, 2, steps=3, out=tmp_path / "part.safetensors", resume=True, **common)
    _assert_same(full.state_dict(), resumed.state_dict())
    _assert_same(load_ncr_adapters(tmp_path / "full.safetensors").state_dict(),
                 load_ncr_adapters(tmp_path / "part.safetensors").state_dict())


# --------------------------------------------------------------------------- a kill during a checkpoint


class Killed(BaseException):
    """Stands for SIGKILL: a BaseException, so that no ``except Exception`` catches it."""


def _count_writes(monkeypatch, crash_after: int | None) -> list[str]:
    """Count every file-system write that can commit data (safetensors files, text, renames);
    raise :class:`Killed` right after write number ``crash_after``."""
    import safetensors.torch

    done: list[str] = []

    def wrap(owner, name):
        real = getattr(owner, name)

        def write(*args, **kwargs):
            result = real(*args, **kwargs)
            done.append(f"{name} {args[1] if name == 'save_file' else args[0]}")
            if crash_after is not None and len(done) == crash_after:
                raise Killed(done[-1])
            return result

        monkeypatch.setattr(owner, name, write)

    wrap(safetensors.torch, "save_file")
    wrap(os, "replace")
    wrap(os, "rename")
    wrap(pathlib.Path, "write_text")
    wrap(pathlib.Path, "write_bytes")
    return done


def test_a_kill_at_any_write_of_a_checkpoint_leaves_a_consistent_one(tmp_path, monkeypatch):
    """The issue's case: killed right after the weights were replaced, the JSON said step 10
    and the weights were at step 20; --resume then reported step 30 after 10 extra steps."""
    cfg = dict(checkpoint_every=10, **TINY)
    train_semantic(TrainConfig(steps=20, **cfg), tmp_path / "ref", progress=False)
    reference = _state(tmp_path / "ref.safetensors")
    with monkeypatch.context() as m:
        writes = _count_writes(m, None)
        train_semantic(TrainConfig(steps=10, **cfg), tmp_path / "count", progress=False)
    per_checkpoint = len(writes)
    assert per_checkpoint >= 3
    for j in range(per_checkpoint):  # crash after each write of the second checkpoint (step 20)
        out = tmp_path / f"run{j}"
        with monkeypatch.context() as m:
            writes = _count_writes(m, per_checkpoint + j + 1)
            with pytest.raises(Killed):
                train_semantic(TrainConfig(steps=20, **cfg), out, progress=False)
        res = train_semantic(TrainConfig(steps=20, **cfg), out, resume=True, progress=False)
        assert res["step"] == 20, (j, writes[-1])
        _assert_same(reference, _state(res["weights"]))
        assert json.loads(out.with_suffix(".ckpt.json").read_text())["step"] == 20, writes[-1]
