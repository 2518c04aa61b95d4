"""Hypothesis fuzz of what `image` reads from untrusted bytes: MBRs, file-system signatures,
burn markers, .xz ends. Garbage must give a clean answer or an ImageInputError, never a crash."""

from __future__ import annotations

import lzma
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudmesh.swarm.image import burn, mbr
from cloudmesh.swarm.image.errors import ImageInputError
from cloudmesh.swarm.image.source import xz_uncompressed_size

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(st.binary(min_size=0, max_size=1024))
def test_mbr_and_signatures_never_crash(data: bytes) -> None:
    table = mbr.parse(data)
    assert table.kind in ("mbr", "gpt", "none")
    for part in table.partitions:
        assert 1 <= part.number <= 4 and part.sectors > 0
    fs = mbr.filesystem(data)
    assert isinstance(mbr.label(data, fs), str)
    assert burn.read_marker(data) is None or isinstance(burn.read_marker(data), dict)


@FUZZ
@given(st.binary(max_size=400), st.integers(0, 3))
def test_marker_with_garbage_after_it_is_still_incomplete(tail: bytes, pad: int) -> None:
    sector = (burn.MARKER + tail).ljust(512, b"\0")[:512]
    assert burn.read_marker(sector) is not None  # any marker means: not a good card
    assert mbr.parse(sector).kind == "none" or sector[510:512] == b"\x55\xaa"


@pytest.fixture(scope="module")
def good_xz() -> bytes:
    return lzma.compress(b"pi" * 50_000) + lzma.compress(b"swarm" * 1000)


@FUZZ
@given(data=st.data())
def test_damaged_xz_ends_are_refused_or_sized(good_xz: bytes, data: st.DataObject,
                                              tmp_path_factory: pytest.TempPathFactory) -> None:
    blob = bytearray(good_xz)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(blob) - 1))
        blob[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(1, len(blob)))
    path = tmp_path_factory.mktemp("fuzz") / "f.img.xz"
    path.write_bytes(bytes(blob[:cut]))
    try:
        size = xz_uncompressed_size(Path(path))
    except ImageInputError:
        return
    assert size >= 0
