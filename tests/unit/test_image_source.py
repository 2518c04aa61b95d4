"""Image sources on real compressed files made by the real tools: sizes, blocks, damage."""

from __future__ import annotations

import gzip
import lzma
import os
import random
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from cloudmesh.swarm.image.errors import ImageError, ImageInputError
from cloudmesh.swarm.image.source import open_image

DATA = random.Random(7).randbytes(3 << 20) + bytes(5 << 20) + b"pi " * 400_000


def _all(path: Path, block: int = 1 << 20) -> bytes:
    source = open_image(path)
    chunks = list(source.blocks(block))
    assert all(len(c) == block for c in chunks[:-1]) and 0 < len(chunks[-1]) <= block
    return b"".join(chunks)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("sources")
    raw = tmp / "a.img"
    raw.write_bytes(DATA)
    out = {"raw": raw}
    if shutil.which("xz"):
        subprocess.run(["xz", "-k", "-T2", "--block-size=1MiB", "-0", str(raw)], check=True)
        out["xz"] = tmp / "a.img.xz"
    else:
        out["xz"] = tmp / "a.img.xz"
        out["xz"].write_bytes(lzma.compress(DATA))
    multi = tmp / "multi.img.xz"  # two streams with padding between, as `cat a.xz b.xz` gives
    multi.write_bytes(lzma.compress(DATA[:1000]) + bytes(8) + lzma.compress(DATA[1000:]))
    out["multi"] = multi
    gz = tmp / "a.img.gz"
    gz.write_bytes(gzip.compress(DATA, 1))
    out["gz"] = gz
    zipped = tmp / "a.zip"
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("readme.txt", "x")
        archive.writestr("2024-raspios.img", DATA)
    out["zip"] = zipped
    return out


@pytest.mark.parametrize("kind", ["raw", "xz", "multi", "gz", "zip"])
def test_every_format_streams_the_exact_image(files: dict[str, Path], kind: str) -> None:
    source = open_image(files[kind])
    assert source.kind == {"multi": "xz"}.get(kind, kind)
    if kind != "gz":
        assert source.size == len(DATA)
    else:
        assert source.size is None and source.estimate == len(DATA)
    assert _all(files[kind]) == DATA


def test_truncated_xz_is_refused_before_reading(files: dict[str, Path], tmp_path: Path) -> None:
    data = files["xz"].read_bytes()
    for cut in (len(data) - 1, len(data) // 2, 20):
        broken = tmp_path / "cut.img.xz"
        broken.write_bytes(data[:cut])
        with pytest.raises(ImageInputError, match="not a complete .xz"):
            open_image(broken)


def test_xz_with_damaged_index_is_refused(files: dict[str, Path], tmp_path: Path) -> None:
    data = bytearray(files["xz"].read_bytes())
    data[-20] ^= 0xFF  # inside the index, covered by its CRC
    broken = tmp_path / "index.img.xz"
    broken.write_bytes(bytes(data))
    with pytest.raises(ImageInputError):
        open_image(broken)


def test_xz_corrupt_in_the_middle_fails_while_streaming(files: dict[str, Path],
                                                        tmp_path: Path) -> None:
    data = bytearray(files["xz"].read_bytes())
    data[len(data) // 3] ^= 0x55
    broken = tmp_path / "mid.img.xz"
    broken.write_bytes(bytes(data))
    source = open_image(broken)  # the ends are intact: only decompression can tell
    with pytest.raises(ImageError, match="corrupt"):
        b"".join(source.blocks())


def test_truncated_gz_and_zip(files: dict[str, Path], tmp_path: Path) -> None:
    gz = tmp_path / "cut.img.gz"
    gz.write_bytes(files["gz"].read_bytes()[:-100])
    with pytest.raises(ImageError, match="truncated"):
        b"".join(open_image(gz).blocks())
    zipped = tmp_path / "cut.zip"
    zipped.write_bytes(files["zip"].read_bytes()[:5000])
    with pytest.raises(ImageInputError, match="not a readable .zip"):
        open_image(zipped)


def test_names_that_lie_and_empty_or_missing_files(tmp_path: Path) -> None:
    fake = tmp_path / "x.img.xz"
    fake.write_bytes(b"this is html, not xz")
    with pytest.raises(ImageInputError, match="named .xz but is not in that format"):
        open_image(fake)
    empty = tmp_path / "e.img"
    empty.touch()
    with pytest.raises(ImageInputError, match="empty"):
        open_image(empty)
    with pytest.raises(ImageInputError, match="does not exist"):
        open_image(tmp_path / "nope.img")
    with pytest.raises(ImageInputError, match="directory"):
        open_image(tmp_path)
    two = tmp_path / "two.zip"
    with zipfile.ZipFile(two, "w") as archive:
        archive.writestr("a.img", b"1")
        archive.writestr("b.img", b"2")
    with pytest.raises(ImageInputError, match="exactly one"):
        open_image(two)


def test_stopping_early_closes_the_file(files: dict[str, Path]) -> None:
    before = len(os.listdir("/proc/self/fd"))
    for kind in ("raw", "xz", "gz", "zip"):
        blocks = open_image(files[kind]).blocks()
        next(blocks)
        blocks.close()  # type: ignore[attr-defined]
    assert len(os.listdir("/proc/self/fd")) == before


def test_liblzma_path_without_the_xz_program(files: dict[str, Path], tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Where `xz` is not installed (macOS without brew xz), liblzma does the same job."""
    import cloudmesh.swarm.image.source as source_module

    monkeypatch.setattr(source_module.shutil, "which", lambda name: None)
    assert _all(files["xz"]) == DATA and _all(files["multi"]) == DATA
    data = bytearray(files["xz"].read_bytes())
    data[len(data) // 3] ^= 0x55
    broken = tmp_path / "mid.img.xz"
    broken.write_bytes(bytes(data))
    with pytest.raises(ImageError, match="corrupt"):
        b"".join(open_image(broken).blocks())
