"""Bytes charged by ``hevc`` (a BPG file: header + NAL units) against the HEIF file pillow-heif
writes, and the container overhead of ``avif`` and ``webp``, on the bundled images.

    python benchmarks/image_file_sizes.py    (prints the Markdown tables of docs/codecs/baselines.md)
"""

from __future__ import annotations

import io
import struct

import pillow_heif
import torch

from linksim.codecs.image_files.base import save_with_pillow, to_pil
from linksim.codecs.image_files.heif_container import _box, nal_units
from linksim.codecs.image_files.hevc import bpg_file
from linksim.data import load_dataset


def heif(img, quality: int) -> bytes:
    buf = io.BytesIO()
    pillow_heif.from_pillow(img).save(buf, quality=quality, **({} if img.mode == "L" else {"chroma": 420}))
    return buf.getvalue()


def webp_payload(blob: bytes) -> int:
    """Bytes of the VP8 bitstream in a simple lossy WebP file (after RIFF + chunk headers)."""
    return struct.unpack("<I", blob[16:20])[0]


def main() -> None:
    sets = {"digits28 (1x28x28)": load_dataset("digits28", 8).images, "photos (3x64x64)": load_dataset("photos", 4).images}
    print("| images | quality | HEVC NAL units | charged (BPG header + NAL units) | pillow-heif file | saved |")
    print("|---|---|---|---|---|---|")
    for label, x in sets.items():
        imgs = to_pil(x, "benchmark")
        for q in (10, 50, 90):
            files = [heif(i, q) for i in imgs]
            nals = [sum(len(n) for n in nal_units(f)) for f in files]
            charged = [len(bpg_file(nal_units(f), i.width, i.height, 0)) for f, i in zip(files, imgs)]
            mean = lambda v: sum(v) / len(v)  # noqa: E731
            print(f"| {label} | {q} | {mean(nals):.0f} | {mean(charged):.0f} | {mean([len(f) for f in files]):.0f} "
                  f"| {mean([len(f) - c for f, c in zip(files, charged)]):.0f} |")
    print()
    print("| images | quality | AVIF file | AV1 data (mdat) | container | WebP file | VP8 data | container |")
    print("|---|---|---|---|---|---|---|---|")
    for label, x in sets.items():
        imgs = to_pil(x, "benchmark")
        for q in (10, 50, 90):
            avif = [save_with_pillow(i, "AVIF", quality=q) for i in imgs]
            webp = [save_with_pillow(i, "WEBP", quality=q, lossless=False) for i in imgs]
            a = sum(len(b) for b in avif) / len(avif)
            a_data = sum(len(_box(b, ["mdat"])) for b in avif) / len(avif)
            w = sum(len(b) for b in webp) / len(webp)
            w_data = sum(webp_payload(b) for b in webp) / len(webp)
            print(f"| {label} | {q} | {a:.0f} | {a_data:.0f} | {a - a_data:.0f} | {w:.0f} | {w_data:.0f} | {w - w_data:.0f} |")


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
