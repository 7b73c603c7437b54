"""Issue 14, case 9: hostile MNIST (IDX) files. The header's sizes are checked against the
file and a sane limit before the values are read; a gzip stream is never expanded beyond
what the header announces; every problem is one DataError line naming the file (exit 2)."""

from __future__ import annotations

import gzip
import struct
import tracemalloc
import zlib

import numpy as np
import pytest
import yaml

from linksim.data import load_dataset
from linksim.data.dataset import DataError

MB = 1 << 20


def _header(dims: tuple[int, ...], type_code: int = 0x08) -> bytes:
    return bytes([0, 0, type_code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)


def _zeros_member(n_bytes: int) -> bytes:
    """One gzip member of ``n_bytes`` zero bytes (about 1 kB per MB)."""
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    return c.compress(bytes(n_bytes)) + c.flush()


def _bomb(header: bytes, expanded_mb: int) -> bytes:
    """``header`` then ``expanded_mb`` MB of zeros as a multi-member gzip file of a few hundred kB."""
    one = _zeros_member(MB)
    return gzip.compress(header) + one * expanded_mb


def _peak_mb(fn) -> float:
    tracemalloc.start()
    try:
        fn()
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return peak / MB


def _refused(folder, match: str) -> str:
    with pytest.raises(DataError, match=match) as info:
        load_dataset(f"mnist:{folder}", 1)
    message = str(info.value)
    assert "\n" not in message and "t10k-images" in message, message
    return message


def test_gzip_bomb_announcing_more_than_the_limit_is_refused_before_expanding(tmp_path):
    # the header announces 3,000,000 images of 28x28 (2.35 GB); the file holds 300 MB of zeros in 300 kB
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(_bomb(_header((3_000_000, 28, 28)), 300))
    assert (tmp_path / "t10k-images-idx3-ubyte.gz").stat().st_size < MB
    peak = _peak_mb(lambda: _refused(tmp_path, "2352000000 bytes.*limit"))
    assert peak < 16, f"{peak:.0f} MB allocated"


def test_gzip_bomb_behind_a_small_header_is_not_expanded(tmp_path):
    # the header announces 10 images (7,840 bytes); the stream goes on for 300 MB
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(_bomb(_header((10, 28, 28)), 300))
    peak = _peak_mb(lambda: _refused(tmp_path, "more than the 7840 bytes"))
    assert peak < 16, f"{peak:.0f} MB allocated"


def test_the_size_limit_is_a_module_setting(tmp_path, monkeypatch):
    from linksim.data import mnist

    monkeypatch.setattr(mnist, "MAX_IDX_BYTES", 64 * MB, raising=False)
    n = 100 * MB // 784  # 100 MB of images, a consistent file
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(_header((n, 28, 28))) + _zeros_member(n * 784))
    peak = _peak_mb(lambda: _refused(tmp_path, "limit"))
    assert peak < 16, f"{peak:.0f} MB allocated"


def test_header_sizes_that_overflow_int64(tmp_path):
    # 2^31 x 2^31 x 4 = 2^64 bytes: 0 in int64 arithmetic, which matched a header-only file ("cannot reshape")
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(_header((2**31, 2**31, 4)))
    _refused(tmp_path, "18446744073709551616 bytes")


def test_a_plain_file_is_checked_against_its_size_before_reading(tmp_path):
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(_header((1000, 28, 28)) + bytes(100))
    _refused(tmp_path, r"has 116 bytes but its header .* says 784016")


@pytest.mark.parametrize("dims", [(5, 0, 0), (5, 28, 0), (5, 0, 28)])
def test_empty_images_are_refused(tmp_path, dims):
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(_header(dims))
    _refused(tmp_path, "no pixels|0x0|empty")


def test_images_that_are_too_large_are_refused(tmp_path):
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(_header((1, 9000, 9000)) + bytes(9000 * 9000))
    _refused(tmp_path, "9000x9000")


def test_a_damaged_gzip_stream_names_the_file(tmp_path):
    good = gzip.compress(_header((2, 4, 4)) + bytes(32))
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(good[:-8] + bytes(8))  # CRC and length zeroed
    _refused(tmp_path, "cannot read .*CRC")
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(good[:12] + b"\xff" * 8 + good[20:])  # deflate data
    _refused(tmp_path, "cannot read|not an IDX file|header")


def test_good_files_still_load(tmp_path):
    x = np.arange(3 * 28 * 28, dtype=np.uint32).astype(np.uint8).reshape(3, 28, 28)
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(_header((3, 28, 28)) + x.tobytes()))
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(_header((3,)) + bytes([1, 2, 3]))
    ds = load_dataset(f"mnist:{tmp_path}", 3)
    assert ds.images.shape == (3, 1, 28, 28) and ds.labels.tolist() == [1, 2, 3]
    assert np.array_equal((ds.images[:, 0].numpy() * 255).round().astype(np.uint8), x)


def test_a_run_on_a_bomb_exits_2_with_one_line(tmp_path, capsys):
    from linksim.cli import main

    data = tmp_path / "mn"
    data.mkdir()
    (data / "t10k-images-idx3-ubyte.gz").write_bytes(_bomb(_header((3_000_000, 28, 28)), 20))
    scenario = tmp_path / "s.yaml"
    scenario.write_text(yaml.safe_dump({
        "name": "bomb", "data": {"source": f"mnist:{data}", "num_samples": 1},
        "channels": [{"model": "awgn"}], "sweep": {"snr_db": [10]},
        "codecs": [{"name": "a", "type": "raw", "streams": {"data": {"path": "analog"}}}], "metrics": ["mse"]}))
    assert main(["run", str(scenario), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "t10k-images-idx3-ubyte.gz" in err, err
