"""private_files: 0600 files and 0700 directories whatever the umask, and what each mode does."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloudmesh.swarm.private_files import (
    open_private,
    parent_dir,
    private_dir,
    private_fd,
    replace_private,
    write_private,
)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def loose_umask() -> Iterator[None]:
    """A umask that would leave files group- and world-writable: the helpers must not care."""
    old = os.umask(0o000)
    yield
    os.umask(old)


def test_write_private_text_and_bytes_are_0600(tmp_path: Path) -> None:
    write_private(tmp_path / "a", "text\n")
    write_private(tmp_path / "b", b"\x00bytes")
    assert (tmp_path / "a").read_text() == "text\n" and mode_of(tmp_path / "a") == 0o600
    assert (tmp_path / "b").read_bytes() == b"\x00bytes" and mode_of(tmp_path / "b") == 0o600


def test_write_replaces_append_appends(tmp_path: Path) -> None:
    path = tmp_path / "log"
    write_private(path, "one\n")
    write_private(path, "two\n", append=True)
    assert path.read_text() == "one\ntwo\n"
    write_private(path, "three\n")
    assert path.read_text() == "three\n"


def test_exclusive_refuses_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "key"
    write_private(path, b"first", exclusive=True)
    with pytest.raises(FileExistsError):
        write_private(path, b"second", exclusive=True)
    assert path.read_bytes() == b"first"


def test_an_existing_loose_file_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "old.log"
    path.write_text("kept\n")
    path.chmod(0o666)
    with open_private(path, "a") as handle:
        handle.write("more\n")
    assert mode_of(path) == 0o600 and path.read_text() == "kept\nmore\n"


def test_open_private_refuses_read_modes(tmp_path: Path) -> None:
    for mode in ("r", "rb", "w+", "bw", ""):
        with pytest.raises(ValueError):
            open_private(tmp_path / "x", mode)
    assert not (tmp_path / "x").exists()


def test_private_fd_does_not_truncate(tmp_path: Path) -> None:
    path = tmp_path / "card.img"
    path.write_bytes(b"0123456789")
    path.chmod(0o644)
    fd = private_fd(path)
    try:
        os.pwrite(fd, b"ab", 2)
    finally:
        os.close(fd)
    assert path.read_bytes() == b"01ab456789" and mode_of(path) == 0o600


def test_private_dir_makes_every_missing_parent_0700(tmp_path: Path) -> None:
    made = private_dir(tmp_path / "a" / "b" / "c")
    assert made == tmp_path / "a" / "b" / "c"
    for path in (tmp_path / "a", tmp_path / "a" / "b", made):
        assert mode_of(path) == 0o700


def test_parent_dir_leaves_an_existing_directory_alone(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    assert parent_dir(tmp_path / "file") == tmp_path and mode_of(tmp_path) == 0o755
    assert mode_of(parent_dir(tmp_path / "new" / "file")) == 0o700


def test_replace_private_is_whole_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text("old")
    path.chmod(0o644)
    replace_private(path, "new\n")
    assert path.read_text() == "new\n" and mode_of(path) == 0o600
    replace_private(path, "{}\n", mode=0o644)
    assert mode_of(path) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config"]


def test_replace_private_failure_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text("old")
    with pytest.raises(UnicodeEncodeError):
        replace_private(path, "half \ud800")  # a lone surrogate: UTF-8 cannot write it
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config"]
