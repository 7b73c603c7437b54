"""Tests of linksim.data: bundled datasets, folder and MNIST loaders, the registry."""

from __future__ import annotations

import gzip
import struct
import time
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from linksim.data import (
    DataError,
    DataWarning,
    ImageDataset,
    known_sources,
    load_dataset,
)
from linksim.data import digits as digits_mod
from linksim.data.photos import available_photos


def _check_images(ds: ImageDataset, n: int, c: int, size: int) -> None:
    assert isinstance(ds, ImageDataset)
    assert ds.images.shape == (n, c, size, size)
    assert ds.images.dtype == torch.float32
    assert ds.images.device.type == "cpu"
    assert float(ds.images.min()) >= 0.0 and float(ds.images.max()) <= 1.0
    assert torch.isfinite(ds.images).all()
    assert len(ds) == n and len(ds.names) == n


# --------------------------------------------------------------------------- digits28


def test_digits28_default_is_test_split_with_labels():
    ds = load_dataset("digits28", 50)
    _check_images(ds, 50, 1, 28)
    assert ds.source == "digits28"
    assert ds.labels is not None and ds.labels.dtype == torch.int64 and ds.labels.shape == (50,)
    assert set(ds.labels.tolist()) <= set(range(10))
    assert ds.names[0] == "digits28/test/0000" and ds.names[42] == "digits28/test/0042"
    assert float(ds.images.max()) > 0.9  # strokes reach full intensity
    same = load_dataset("digits28:test", 50)
    assert torch.equal(ds.images, same.images) and torch.equal(ds.labels, same.labels)


def test_digits28_split_is_fixed_and_independent_of_seed():
    a = load_dataset("digits28", 20, seed=0)
    b = load_dataset("digits28", 20, seed=123)
    assert torch.equal(a.images, b.images)
    # Regression guard: the split must never change between versions.
    assert a.labels[:10].tolist() == [8, 6, 9, 4, 5, 8, 1, 5, 6, 8]


def test_digits28_train_test_disjoint_and_match_sklearn():
    from sklearn.datasets import load_digits

    split = digits_mod._split_indices()
    train, test = split["train"], split["test"]
    assert len(train) == 1438 and len(test) == 359
    assert not set(train.tolist()) & set(test.tolist())
    assert sorted(train.tolist() + test.tolist()) == list(range(1797))

    bunch = load_digits()
    ref = torch.from_numpy(bunch.images.astype(np.float32) / 16.0).unsqueeze(1)
    ref = torch.nn.functional.interpolate(ref, size=(28, 28), mode="bilinear").clamp(0, 1)
    for name, idx in split.items():
        ds = load_dataset(f"digits28:{name}", len(idx))
        assert torch.allclose(ds.images, ref[torch.from_numpy(idx)], atol=1e-6)
        assert ds.labels.tolist() == bunch.target[idx].tolist()
        assert ds.names[0] == f"digits28/{name}/0000"


def test_digits28_resize_and_too_many():
    ds = load_dataset("digits28:train", 8, image_size=32)
    _check_images(ds, 8, 1, 32)
    ds = load_dataset("digits28", 8, image_size=16)
    _check_images(ds, 8, 1, 16)
    with pytest.raises(DataError, match=r"500.*359"):
        load_dataset("digits28", 500)
    with pytest.raises(DataError, match="split"):
        load_dataset("digits28:valid", 5)


def test_digits28_loads_fast():
    digits_mod._all_digits.cache_clear()
    digits_mod._split_indices.cache_clear()
    t0 = time.perf_counter()
    ds = load_dataset("digits28", 300)
    assert time.perf_counter() - t0 < 1.0  # "well under a second": ~0.06 s idle
    assert len(ds) == 300


# --------------------------------------------------------------------------- photos


def test_photos_default_size_and_names():
    photos = available_photos()
    assert len(photos) >= 8  # the bundled files load offline, straight from the packages
    names = [n for n, _ in photos]
    assert {"astronaut", "coffee", "chelsea", "china", "flower", "camera"} <= set(names)
    ds = load_dataset("photos", 4)
    _check_images(ds, 4, 3, 64)
    assert ds.labels is None
    assert ds.names == [f"photos/{n}" for n in names[:4]]
    cam = load_dataset("photos", len(photos), image_size=32)
    _check_images(cam, len(photos), 3, 32)
    grey = cam.images[cam.names.index("photos/camera")]
    assert torch.equal(grey[0], grey[1]) and torch.equal(grey[0], grey[2])
    # The photos are not blank or constant.
    assert float(cam.images.std(dim=(1, 2, 3)).min()) > 0.02


def test_photos_beyond_the_number_of_photos_are_deterministic_crops():
    p = len(available_photos())
    n = 2 * p + 3
    a = load_dataset("photos", n, image_size=24, seed=5)
    b = load_dataset("photos", n, image_size=24, seed=5)
    c = load_dataset("photos", n, image_size=24, seed=6)
    _check_images(a, n, 3, 24)
    assert torch.equal(a.images, b.images) and a.names == b.names
    assert torch.equal(a.images[:p], c.images[:p])  # the photos themselves: seed-free
    assert not torch.equal(a.images[p:], c.images[p:])  # the crops follow the seed
    photo_names = [nm for nm, _ in available_photos()]
    for k, name in enumerate(a.names[p:]):
        assert name.startswith(f"photos/{photo_names[k % p]}/crop{k}_")
    assert len(set(a.names)) == n
    # A crop differs from the full photo it was cut from.
    assert not torch.allclose(a.images[p], a.images[0])


# --------------------------------------------------------------------------- folder


def _rgb(seed: int, size=(40, 30)) -> Image.Image:
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(arr)


def _load_quiet(*args, **kwargs):
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        ds = load_dataset(*args, **kwargs)
    return ds, [str(w.message) for w in rec if issubclass(w.category, DataWarning)]


def test_folder_mixed_good_and_broken_files(tmp_path):
    _rgb(0).save(tmp_path / "a.png")
    _rgb(1).save(tmp_path / "b.jpg", quality=95)
    _rgb(2, size=(50, 50)).convert("L").save(tmp_path / "d.png")
    frames = [_rgb(3 + i, size=(20, 20)).convert("P") for i in range(2)]
    frames[0].save(tmp_path / "e.gif", save_all=True, append_images=frames[1:])
    (tmp_path / "c_empty.png").write_bytes(b"")
    good = (tmp_path / "a.png").read_bytes()
    (tmp_path / "c_truncated.png").write_bytes(good[: len(good) // 2])
    (tmp_path / "notes.txt").write_text("not an image\n")
    (tmp_path / "fake.jpg").write_text("plain text pretending to be a JPEG\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / ".hidden.png").write_bytes(b"")

    ds, msgs = _load_quiet(f"folder:{tmp_path}", 4, image_size=16)
    _check_images(ds, 4, 3, 16)
    assert ds.labels is None
    assert ds.names == ["folder/a.png", "folder/b.jpg", "folder/d.png", "folder/e.gif"]
    for bad in ("c_empty.png", "c_truncated.png", "notes.txt", "fake.jpg"):
        assert sum(bad in m for m in msgs) == 1, (bad, msgs)
    assert len(msgs) == 4
    assert any("empty file" in m for m in msgs if "c_empty.png" in m)
    assert any("truncated" in m for m in msgs if "c_truncated.png" in m)

    # The PNG decodes losslessly: a centre crop of 30x30 resized by Pillow LANCZOS.
    ref = _rgb(0).crop((5, 0, 35, 30)).resize((16, 16), Image.Resampling.LANCZOS)
    ref_t = torch.from_numpy(np.asarray(ref).astype(np.float32) / 255).permute(2, 0, 1)
    assert torch.allclose(ds.images[0], ref_t, atol=1e-6)
    # The greyscale PNG becomes RGB by replication (the folder also holds colour files).
    assert torch.equal(ds.images[2][0], ds.images[2][1])

    # Deterministic.
    again, _ = _load_quiet(f"folder:{tmp_path}", 4, image_size=16)
    assert torch.equal(ds.images, again.images)

    # Sizes differ and no image_size: ask for data.image_size.
    with pytest.raises(DataError, match="data.image_size"):
        _load_quiet(f"folder:{tmp_path}", 4)
    # More samples than usable images: both numbers in the message.
    with pytest.raises(DataError, match=r"num_samples is 5 but only 4"):
        _load_quiet(f"folder:{tmp_path}", 5, image_size=16)


def test_folder_native_size_and_greyscale(tmp_path):
    for i in range(3):
        _rgb(i, size=(24, 18)).convert("L").save(tmp_path / f"img{i}.png")
    arr16 = (np.arange(24 * 18, dtype=np.uint16).reshape(18, 24) * 150).astype(np.uint16)
    Image.fromarray(arr16).save(tmp_path / "img3_16bit.png")
    ds, msgs = _load_quiet(f"folder:{tmp_path}", 4)
    assert msgs == []
    # All greyscale -> one channel; no image_size and equal sizes -> native, uncropped.
    assert ds.images.shape == (4, 1, 18, 24)
    assert float(ds.images.min()) >= 0 and float(ds.images.max()) <= 1
    # 16-bit grey is rescaled, not clipped: the brightest pixel is not saturated.
    hi = ds.images[3].max().item()
    assert abs(hi - (arr16.max() / 65535)) < 1 / 255 + 1e-6
    ref = np.asarray(Image.open(tmp_path / "img1.png"), dtype=np.float32) / 255
    assert torch.allclose(ds.images[1, 0], torch.from_numpy(ref))
    ds2, _ = _load_quiet(f"folder:{tmp_path}", 2, image_size=8)
    _check_images(ds2, 2, 1, 8)


def test_folder_nothing_usable_and_missing(tmp_path):
    (tmp_path / "a.png").write_bytes(b"")
    (tmp_path / "b.txt").write_text("hello")
    with pytest.raises(DataError, match="no usable image"):
        _load_quiet(f"folder:{tmp_path}", 1)
    with pytest.raises(DataError, match="does not exist"):
        load_dataset(f"folder:{tmp_path / 'missing'}", 1)
    with pytest.raises(DataError, match="not a folder"):
        load_dataset(f"folder:{tmp_path / 'b.txt'}", 1)
    with pytest.raises(DataError, match="folder:<path>"):
        load_dataset("folder:", 1)


# --------------------------------------------------------------------------- MNIST


def _idx_bytes(arr: np.ndarray) -> bytes:
    assert arr.dtype == np.uint8
    header = bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.tobytes()


def _write_mnist(folder, prefix: str, images: np.ndarray, labels: np.ndarray, gz: bool):
    ext = ".gz" if gz else ""
    files = {f"{prefix}-images-idx3-ubyte": images, f"{prefix}-labels-idx1-ubyte": labels}
    for name, arr in files.items():
        data = _idx_bytes(arr)
        (folder / (name + ext)).write_bytes(gzip.compress(data) if gz else data)


def test_mnist_plain_and_gz(tmp_path):
    rng = np.random.default_rng(0)
    test_x = rng.integers(0, 256, size=(6, 28, 28), dtype=np.uint8)
    test_y = np.arange(6, dtype=np.uint8)
    train_x = rng.integers(0, 256, size=(9, 28, 28), dtype=np.uint8)
    train_y = (np.arange(9) % 10).astype(np.uint8)[::-1].copy()
    _write_mnist(tmp_path, "t10k", test_x, test_y, gz=False)
    _write_mnist(tmp_path, "train", train_x, train_y, gz=True)

    ds = load_dataset(f"mnist:{tmp_path}", 5)
    _check_images(ds, 5, 1, 28)
    assert torch.allclose(ds.images[:, 0], torch.from_numpy(test_x[:5] / 255.0).float())
    assert ds.labels.dtype == torch.int64 and ds.labels.tolist() == [0, 1, 2, 3, 4]
    assert ds.names[0] == "mnist/test/0"
    assert torch.equal(load_dataset(f"mnist:{tmp_path}:test", 5).images, ds.images)

    tr = load_dataset(f"mnist:{tmp_path}:train", 9)
    _check_images(tr, 9, 1, 28)
    assert torch.allclose(tr.images[:, 0], torch.from_numpy(train_x / 255.0).float())
    assert tr.labels.tolist() == train_y.tolist()

    small = load_dataset(f"mnist:{tmp_path}:train", 3, image_size=14)
    _check_images(small, 3, 1, 14)

    with pytest.raises(DataError, match=r"num_samples is 7 but only 6"):
        load_dataset(f"mnist:{tmp_path}", 7)


def test_mnist_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_dataset(f"mnist:{tmp_path / 'nope'}", 1)
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte"):
        load_dataset(f"mnist:{tmp_path}", 1)

    x = np.zeros((4, 8, 8), dtype=np.uint8)
    good = _idx_bytes(x)
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(b"\x12\x34" + good[2:])
    with pytest.raises(DataError, match="magic"):
        load_dataset(f"mnist:{tmp_path}", 1)
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(good[:-5])
    with pytest.raises(DataError, match="header"):
        load_dataset(f"mnist:{tmp_path}", 1)
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(good)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(_idx_bytes(np.zeros(3, np.uint8)))
    with pytest.raises(DataError, match="labels"):
        load_dataset(f"mnist:{tmp_path}", 1)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    ds = load_dataset(f"mnist:{tmp_path}", 4)  # labels are optional
    assert ds.labels is None and ds.images.shape == (4, 1, 8, 8)


# --------------------------------------------------------------------------- registry


def test_unknown_source_and_bad_arguments():
    with pytest.raises(DataError, match=r"unknown source 'cifar10'.*digits28.*photos"):
        load_dataset("cifar10", 4)
    assert isinstance(DataError("x"), ValueError)
    for bad in (0, -3, True, 2.5):
        with pytest.raises(DataError, match="num_samples"):
            load_dataset("digits28", bad)
    with pytest.raises(DataError, match="image_size"):
        load_dataset("digits28", 2, image_size=0)
    with pytest.raises(DataError, match="unknown photo 'extra'"):
        load_dataset("photos:extra", 2)
    sources = known_sources()
    for s in ("digits28", "digits28:train", "photos", "folder:<path>", "mnist:<dir>"):
        assert s in sources


def test_batches_cover_the_dataset_in_order():
    ds = load_dataset("digits28", 10)
    got = list(ds.batches(4))
    assert [s for s, _ in got] == [0, 4, 8]
    assert [b.shape[0] for _, b in got] == [4, 4, 2]
    assert torch.equal(torch.cat([b for _, b in got]), ds.images)
    with pytest.raises(ValueError):
        list(ds.batches(0))


def test_dataset_validates_its_fields():
    with pytest.raises(DataError, match="names"):
        ImageDataset(torch.zeros(2, 1, 4, 4), None, ["a"], "x")
    with pytest.raises(DataError, match="channels"):
        ImageDataset(torch.zeros(2, 2, 4, 4), None, ["a", "b"], "x")
    with pytest.raises(DataError, match="labels"):
        ImageDataset(torch.zeros(2, 1, 4, 4), torch.zeros(3, dtype=torch.int64), ["a", "b"], "x")


def test_photos_by_name_and_crops_only():
    from linksim.data import load_dataset
    from linksim.data.photos import load_photos
    from linksim.errors import DataError

    ds = load_dataset("photos:chelsea,camera", 6, 16)
    assert ds.names[:2] == ["photos/chelsea", "photos/camera"]
    assert all(n.split("/")[1] in ("chelsea", "camera") for n in ds.names) and ds.images.shape == (6, 3, 16, 16)
    crops = load_photos("photos", 4, 16, seed=3, exclude=("chelsea",), crops_only=True)
    assert all("/crop" in n and "chelsea" not in n for n in crops.names)
    with pytest.raises(DataError, match="unknown photo 'cat'"):
        load_dataset("photos:cat", 2, 16)
