"""Data folders with unreadable, empty, truncated or non-image files: each is skipped with a
warning that names it; a folder with nothing usable left is an error (exit 2, one line)."""

from __future__ import annotations

import builtins
import io
import warnings
from contextlib import redirect_stderr, redirect_stdout

import numpy as np
import pytest
from PIL import Image

from linksim.cli import main
from linksim.data import DataError, DataWarning, load_dataset


def _image(path, seed=0):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(path)


def _bad_files(folder, monkeypatch) -> list[str]:
    """Write one file of each bad kind into ``folder``; return their names."""
    (folder / "empty.png").write_bytes(b"")
    good = io.BytesIO()
    Image.new("RGB", (16, 16), (10, 20, 30)).save(good, format="PNG")
    (folder / "truncated.png").write_bytes(good.getvalue()[:40])
    (folder / "text.jpg").write_text("not a JPEG at all\n")
    (folder / "notes.txt").write_text("hello\n")
    (folder / "random.webp").write_bytes(np.random.default_rng(1).integers(0, 256, 500, dtype=np.uint8).tobytes())
    (folder / "dangling.png").symlink_to(folder / "missing-target.png")
    (folder / "unreadable.png").write_bytes(good.getvalue())
    (folder / "unreadable.png").chmod(0)
    # root reads a chmod-000 file anyway: make the open fail as it does for other users
    real_open = builtins.open

    def open_as_user(file, *args, **kwargs):
        if str(file).endswith("unreadable.png"):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", open_as_user)
    return ["empty.png", "truncated.png", "text.jpg", "notes.txt", "random.webp", "dangling.png", "unreadable.png"]


def test_every_bad_file_is_named_in_a_warning_and_the_good_ones_load(tmp_path, monkeypatch):
    for i in range(3):
        _image(tmp_path / f"good{i}.png", i)
    bad = _bad_files(tmp_path, monkeypatch)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        ds = load_dataset(f"folder:{tmp_path}", 3)
    messages = [str(w.message) for w in rec if issubclass(w.category, DataWarning)]
    assert ds.images.shape == (3, 3, 16, 16)
    for name in bad:
        assert sum(name in m for m in messages) == 1, (name, messages)
    assert len(messages) == len(bad)


def test_a_folder_with_nothing_usable_is_one_line_exit_2(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    _bad_files(data, monkeypatch)
    with pytest.raises(DataError, match="no usable image"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            load_dataset(f"folder:{data}", 1)
    scenario = tmp_path / "s.yaml"
    scenario.write_text(f"name: s\ndata: {{source: 'folder:{data}', num_samples: 1}}\nchannels: [{{model: awgn}}]\n"
                        "sweep: {snr_db: [10]}\ncodecs: [{name: a, type: raw}]\nmetrics: [mse]\n")
    for command in (["validate", str(scenario)], ["run", str(scenario), "--out", str(tmp_path / "out"), "--quiet"]):
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rc = main(command)
        assert rc == 2 and len(err.getvalue().splitlines()) == 1, err.getvalue()
        assert "no usable image" in err.getvalue() and "Traceback" not in err.getvalue()
    assert not (tmp_path / "out").exists()  # nothing created for a run that could not start
