"""sha256_file: the `FILE.sha256` sidecar of backups and captured images, written and read."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

from cloudmesh.swarm.sha256_file import expected_sha256, sha256_line, sidecar, write_sha256_file


def test_written_sidecar_is_what_sha256sum_checks(tmp_path: Path) -> None:
    path = tmp_path / "swarm-abc.tar.gz"
    path.write_bytes(b"archive bytes")
    digest = hashlib.sha256(b"archive bytes").hexdigest()
    sums = write_sha256_file(path, digest)
    assert sums == tmp_path / "swarm-abc.tar.gz.sha256" == sidecar(path)
    assert sums.read_text() == sha256_line(path, digest) == f"{digest}  swarm-abc.tar.gz\n"
    assert expected_sha256(path) == digest
    if shutil.which("sha256sum"):
        check = subprocess.run(["sha256sum", "-c", "--status", sums.name], check=False, cwd=tmp_path)
        assert check.returncode == 0


def test_no_sidecar_is_none_and_an_empty_one_matches_nothing(tmp_path: Path) -> None:
    path = tmp_path / "card.img"
    assert expected_sha256(path) is None
    sidecar(path).write_text("")
    assert expected_sha256(path) == ""


def test_upper_case_digest_and_other_layouts_are_read(tmp_path: Path) -> None:
    path = tmp_path / "card.img"
    sidecar(path).write_text("ABCDEF0123 *card.img\n")
    assert expected_sha256(path) == "abcdef0123"


def test_binary_sidecar_is_not_a_sha256_file(tmp_path: Path) -> None:
    path = tmp_path / "card.img"
    sidecar(path).write_bytes(b"\xff\xfe\x00 binary")
    with pytest.raises(ValueError):
        expected_sha256(path)


def test_unreadable_sidecar_is_an_os_error(tmp_path: Path) -> None:
    path = tmp_path / "card.img"
    sidecar(path).mkdir()
    with pytest.raises(OSError):
        expected_sha256(path)
