"""Issue 14: a point's fingerprint covers every input that determines its numbers, not only
the scenario's text: the resolved sweep rules, the bytes of the files the scenario names, the
contents of data and model folders, the resolved device and LDPC decoder, and the versions of
linksim, torch, Sionna and numba. Relative paths resolve against the scenario file."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

import linksim
from linksim.cli import main
from linksim.codecs.bridge.codec import DEFAULT_WEIGHTS as BRIDGE_WEIGHTS
from linksim.codecs.hsc.models import WEIGHTS_DIR
from linksim.errors import ScenarioError
from linksim.runner import Simulation
from linksim.runner import fingerprint as fp
from linksim.scenario import load_scenario, validate_scenario

BASE = {
    "name": "fp", "seed": 1, "device": "cpu",
    "data": {"source": "digits28", "num_samples": 4, "batch_size": 4, "image_size": 8},
    "channels": [{"model": "awgn"}], "sweep": {"snr_db": [10]},
    "codecs": [{"name": "raw", "type": "raw", "streams": {"data": {"dtype": "uint8"}}}],
    "metrics": ["ber", "mse"],
}


def _sim(raw: dict, base_dir: Path | None = None) -> Simulation:
    return Simulation.build(validate_scenario(raw, base_dir=base_dir))


def _key(sim: Simulation, snr_db: float = 10.0):
    return next(k for k in sim.points() if k.snr_db == snr_db)


def _fp(raw: dict, base_dir: Path | None = None, snr_db: float = 10.0) -> str:
    sim = _sim(raw, base_dir)
    return sim.fingerprint(_key(sim, snr_db))


def _parts(raw: dict, base_dir: Path | None = None) -> dict[str, str]:
    sim = _sim(raw, base_dir)
    return sim.fingerprint_parts(_key(sim))


def _with(**sections) -> dict:
    out = {**BASE}
    for name, value in sections.items():
        out[name] = {**BASE.get(name, {}), **value} if isinstance(value, dict) else value
    return out


def test_sweep_rules_that_change_a_points_numbers_are_in_its_fingerprint():
    base = _fp(BASE)
    assert _fp(_with(sweep={"max_samples": 8})) != _fp(_with(sweep={"max_samples": 32}))
    assert _fp(_with(sweep={"max_samples": 4})) == base  # the resolved value: the data set's 4 samples
    assert _fp(_with(sweep={"target_bit_errors": 10})) != base
    assert _fp(_with(sweep={"target_block_errors": 10})) != base
    assert _fp(_with(sweep={"snr_type": "ebn0"})) != base


def test_other_snr_points_and_skip_error_free_leave_a_point_alone():
    base = _fp(BASE)
    assert _fp(_with(sweep={"snr_db": [0, 10, 20]})) == base  # adding SNRs recomputes none of the others
    assert _fp(_with(sweep={"skip_error_free": True})) == base  # decides which points run, not their numbers


def test_versions_of_linksim_torch_sionna_and_numba_are_in_the_fingerprint(monkeypatch):
    import sionna

    base = _fp(BASE)
    assert set(_parts(BASE)) >= {"versions.linksim", "versions.torch", "versions.sionna", "versions.numba"}
    for target, name in ((torch, "__version__"), (sionna, "__version__"), (linksim, "__version__")):
        with monkeypatch.context() as m:
            m.setattr(target, name, "99.0.0")
            assert _fp(BASE) != base, target
    with monkeypatch.context() as m:
        m.setattr(fp, "package_version", lambda dist: "99.0.0" if dist == "numba" else fp.package_version(dist))
        assert _parts(BASE)["versions.numba"] == "99.0.0"
    assert _fp(BASE) == base


def test_the_resolved_device_and_ldpc_decoder_are_in_the_fingerprint():
    sim = _sim(BASE)  # decoder: auto
    key = sim.points()[0]
    on_cuda = dataclasses.replace(sim, device=torch.device("cuda", 0))
    assert on_cuda.fingerprint(key) != sim.fingerprint(key)
    parts, cuda_parts = sim.fingerprint_parts(key), on_cuda.fingerprint_parts(key)
    assert (parts["device"], parts["phy.resolved_decoder"]) == ("cpu", "fast")
    assert (cuda_parts["device"], cuda_parts["phy.resolved_decoder"]) == ("cuda", "sionna")
    # phy.implementation: auto resolves as the decoder does, and a point keeps what it ran on
    assert (parts["phy.resolved_implementation"], cuda_parts["phy.resolved_implementation"]) == ("fast", "sionna")


def _hsc(weights: str) -> dict:
    return {**BASE, "data": {"source": "digits28", "num_samples": 4, "batch_size": 4},
            "codecs": [{"name": "hsc", "type": "hsc", "params": {"weights": weights, "d": 0}}]}


def test_weights_overwritten_in_place_change_the_fingerprint(tmp_path):
    w = tmp_path / "w.safetensors"
    shutil.copy(WEIGHTS_DIR / "digits28_vae.safetensors", w)
    before = _fp(_hsc(str(w)))
    assert _fp(_hsc(str(w))) == before
    shutil.copy(WEIGHTS_DIR / "digits28_vae_rayleigh.safetensors", w)  # same name, other model
    assert _fp(_hsc(str(w))) != before
    old, new = _parts(_hsc(str(WEIGHTS_DIR / "digits28_vae.safetensors"))), _parts(_hsc(str(w)))
    assert "changed (file contents)" in " ".join(fp.changed_inputs({**old, "codec.params.weights": new["codec.params.weights"]}, new))


def _pngs(folder: Path, seed: int, n: int = 4) -> None:
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(folder / f"img{i}.png")


def test_replaced_images_of_a_data_folder_change_the_fingerprint(tmp_path):
    _pngs(tmp_path / "imgs", seed=0)
    raw = _with(data={"source": "folder:imgs"})
    before = _fp(raw, tmp_path)
    assert _fp(raw, tmp_path) == before
    _pngs(tmp_path / "imgs", seed=1)  # the same names, new pictures
    assert _fp(raw, tmp_path) != before


def test_a_local_model_folder_is_fingerprinted_by_its_files(tmp_path):
    model = tmp_path / "clip"
    model.mkdir()
    (model / "config.json").write_text("{}")
    raw = _with(metrics=["ber", "mse", "clip_score"], metric_models={"clip": "./clip"})
    before = _fp(raw, tmp_path)
    assert _fp(raw, tmp_path) == before
    (model / "model.safetensors").write_bytes(b"new weights")
    assert _fp(raw, tmp_path) != before


def test_changed_inputs_name_what_changed():
    old = {"sweep.max_samples": 8, "versions.torch": "2.12", "codec.params.weights": "/w",
           "files.codec.params.weights": "sha256:aaa", "seed": 1}
    new = {**old, "sweep.max_samples": 32, "versions.torch": "2.13", "files.codec.params.weights": "sha256:bbb"}
    assert fp.changed_inputs(old, new) == [
        "sweep.max_samples 8 -> 32", "versions.torch 2.12 -> 2.13", "codec.params.weights changed (file contents)"]
    assert fp.changed_inputs({}, new) == ["inputs not recorded (a point from an older linksim)"]


def test_an_executor_names_the_device_its_points_run_on(tmp_path):
    """Ray workers may run on GPUs while the driver's Simulation is on the CPU: the executor's
    ``points_device_type`` decides what the fingerprints record."""
    import h5py

    from linksim.runner import run_scenario
    from linksim.runner.execution import InProcessExecutor

    class Elsewhere(InProcessExecutor):
        def points_device_type(self, sc):
            return "cuda"

    run_scenario(validate_scenario(BASE), tmp_path / "out", executor=Elsewhere())
    with h5py.File(tmp_path / "out" / "results.h5") as f:
        (group,) = f["points"].values()
        parts = json.loads(group.attrs["fingerprint_parts"])
    assert (parts["device"], parts["phy.resolved_decoder"]) == ("cuda", "sionna")


def test_a_ray_worker_may_differ_from_the_driver_only_in_folder_times(tmp_path):
    from linksim.errors import RunError
    from linksim.executors.ray_cluster import RayExecutor
    from linksim.results import PointResult

    _pngs(tmp_path / "imgs", seed=0)
    sim = _sim(_with(data={"source": "folder:imgs"}), tmp_path)
    key = sim.points()[0]
    parts = sim.fingerprint_parts(key)
    copied = PointResult(key, 0, "other", fingerprint_parts={**parts, "files.data.source": "files:4:elsewhere"})
    RayExecutor._check_inputs(sim, key, copied)  # the data copied to the worker's node: accepted as the driver's
    assert (copied.fingerprint, copied.fingerprint_parts) == (sim.fingerprint(key), parts)
    upgraded = PointResult(key, 0, "other", fingerprint_parts={**parts, "versions.torch": "99.0.0"})
    with pytest.raises(RunError, match=r"other inputs than the driver's \(versions.torch .* -> 99.0.0; driver -> worker\)"):
        RayExecutor._check_inputs(sim, key, upgraded)


# -- paths in a scenario resolve against the scenario file ---------------------------------------


def _scenario_file(folder: Path, weights: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "s.yaml"
    path.write_text(yaml.safe_dump(_hsc(weights)))
    return path


def test_relative_weights_resolve_against_the_scenario_file(tmp_path, monkeypatch):
    sub = tmp_path / "sub"
    path = _scenario_file(sub, "w.safetensors")
    shutil.copy(WEIGHTS_DIR / "digits28_vae.safetensors", sub / "w.safetensors")
    monkeypatch.chdir(tmp_path)  # not the scenario's folder
    sc = load_scenario(path)
    assert Path(sc.codec_params[0].weights) == sub / "w.safetensors"
    assert Simulation.build(sc).codecs["hsc"].model is not None
    # a shipped name stays a name
    assert load_scenario(_scenario_file(tmp_path / "named", "digits28_vae_rayleigh")).codec_params[0].weights == \
        "digits28_vae_rayleigh"


def test_a_missing_weights_file_is_exit_2_naming_the_field(tmp_path, monkeypatch, capsys):
    sub = tmp_path / "sub"
    path = _scenario_file(sub, "nope.safetensors")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ScenarioError) as e:
        load_scenario(path)
    line = f"codecs[0].params.weights: file 'nope.safetensors' does not exist (resolved to {sub / 'nope.safetensors'})"
    assert e.value.problems == [line]
    capsys.readouterr()
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    assert line in capsys.readouterr().err


def test_bridge_weights_and_model_folders_resolve_against_the_scenario_file(tmp_path, monkeypatch):
    sub = tmp_path / "sub"
    sub.mkdir()
    shutil.copy(BRIDGE_WEIGHTS, sub / "b.safetensors")
    (sub / "bert").mkdir()
    raw = {**BASE, "data": {"source": "digits-av", "num_samples": 4, "batch_size": 4},
           "codecs": [{"name": "b", "type": "bridge", "params": {"weights": "b.safetensors", "text_model": "./bert"}}],
           "metrics": ["ber"]}
    monkeypatch.chdir(tmp_path)
    sc = validate_scenario(raw, base_dir=sub)
    assert Path(sc.codec_params[0].weights) == sub / "b.safetensors"
    assert Path(sc.codec_params[0].text_model) == sub / "bert"
    # a model is looked for when it loads (validation needs none): resolved, not checked
    raw["codecs"][0]["params"]["text_model"] = "./missing"
    assert Path(validate_scenario(raw, base_dir=sub).codec_params[0].text_model) == sub / "missing"
    raw["codecs"][0]["params"].update(weights="nope.safetensors", text_model="bert-base-uncased")  # a hub id stays one
    with pytest.raises(ScenarioError) as e:
        validate_scenario(raw, base_dir=sub)
    assert e.value.problems == [f"codecs[0].params.weights: file 'nope.safetensors' does not exist "
                                f"(resolved to {sub / 'nope.safetensors'})"]


# -- linksim's own version -----------------------------------------------------------------------


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True,
                   env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@t", "PATH": "/usr/bin:/bin"})


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_a_development_install_is_versioned_by_its_git_state(tmp_path):
    root = tmp_path / "checkout"
    (root / "linksim").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'linksim'\n")
    (root / "linksim" / "__init__.py").write_text("x = 1\n")
    _git(root, "init", "-q")
    _git(root, "add", ".")
    _git(root, "commit", "-q", "-m", "one")
    clean = linksim._source_version("0.1.0", root / "linksim")
    assert clean.startswith("0.1.0+git.") and "dirty" not in clean
    (root / "linksim" / "__init__.py").write_text("x = 2\n")
    dirty = linksim._source_version("0.1.0", root / "linksim")
    assert "dirty" in dirty
    (root / "linksim" / "__init__.py").write_text("x = 3\n")
    assert linksim._source_version("0.1.0", root / "linksim") not in (clean, dirty)  # each edit is its own version
    # not a checkout (an installed wheel): the installed version
    plain = tmp_path / "site" / "linksim"
    plain.mkdir(parents=True)
    assert linksim._source_version("0.1.0", plain) == "0.1.0"
