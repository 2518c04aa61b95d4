"""`image capture` from a lab host over SSH: a file on the host stands in for its SD card.

capture -> restore (burn) onto another file -> identical bytes; --shrink gives a smaller
image whose root file system checks clean. Independent of swarm state; the test removes
its files on the host.
"""

from __future__ import annotations

import hashlib
import lzma
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloudmesh.swarm.image import ext4, mbr, synthetic

from .cli import cms_swarm
from .conftest import LAB, Exec

pytestmark = pytest.mark.integration
HOST = "pi1"


@pytest.fixture(scope="module")
def card_on_host(lab_exec: Exec, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A synthetic Pi OS image here, and the same bytes in /var/tmp on the lab host."""
    local = synthetic.build(tmp_path_factory.mktemp("capture") / "card.img", "firstrun",
                            size_mb=96, data_mb=6, seed=5)
    remote = f"/var/tmp/cms-image-test-{secrets.token_hex(4)}.img"
    subprocess.run(["docker", "cp", str(local), f"cms-swarm-{LAB}-{HOST}:{remote}"], check=True,
                   timeout=120, capture_output=True)
    yield local, remote
    code, output = lab_exec(HOST, f"rm -f {remote}")
    assert code == 0, output


def test_capture_then_restore_is_identical(card_on_host: tuple[Path, str], lab_inventory: Path,
                                           lab_exec: Exec, tmp_path: Path) -> None:
    local, remote = card_on_host
    output = tmp_path / "pi1.img.xz"
    done = cms_swarm("image", "capture", HOST, "-i", str(lab_inventory), "-o", str(output),
                     "--device", remote, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "captured pi1" in done.stdout
    data = output.read_bytes()
    assert Path(f"{output}.sha256").read_text().split()[0] == hashlib.sha256(data).hexdigest()
    assert lzma.decompress(data) == local.read_bytes()
    restored = tmp_path / "restored.img"
    done = cms_swarm("image", "burn", str(output), "--device", str(restored), "--yes", "-q",
                     timeout=300)
    assert done.returncode == 0, done.stderr
    code, remote_sha = lab_exec(HOST, f"sha256sum {remote}")
    assert code == 0
    assert hashlib.sha256(restored.read_bytes()).hexdigest() == remote_sha.split()[0]
    done = cms_swarm("image", "info", str(output))
    assert done.returncode == 0 and "sha256.sha256" not in done.stdout and "matches" in done.stdout


def test_capture_shrink(card_on_host: tuple[Path, str], lab_inventory: Path,
                        tmp_path: Path) -> None:
    local, remote = card_on_host
    output = tmp_path / "small.img.xz"
    done = cms_swarm("image", "capture", HOST, "-i", str(lab_inventory), "-o", str(output),
                     "--device", remote, "--shrink", "--margin", "4", timeout=300)
    assert done.returncode == 0, done.stderr
    small = lzma.decompress(output.read_bytes())
    assert len(small) < local.stat().st_size
    last = mbr.parse(small[:512]).last()
    assert last is not None and last.end == len(small)
    part = tmp_path / "root.ext4"
    part.write_bytes(small[last.offset:])
    check = subprocess.run([ext4.tool("e2fsck"), "-fn", str(part)], capture_output=True,
                           text=True, timeout=120, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    restored = tmp_path / "small.img"
    done = cms_swarm("image", "burn", str(output), "--device", str(restored), "--yes", "-q",
                     timeout=300)
    assert done.returncode == 0, done.stderr
    done = cms_swarm("image", "info", str(restored), "--no-sha256")
    assert done.returncode == 0 and "firstrun" in done.stdout and "bookworm" in done.stdout


def test_capture_failures_name_the_host(lab_inventory: Path, tmp_path: Path) -> None:
    output = tmp_path / "none.img.xz"
    done = cms_swarm("image", "capture", HOST, "-i", str(lab_inventory), "-o", str(output),
                     "--device", "/var/tmp/cms-no-such-card.img", timeout=120)
    assert done.returncode == 1 and "pi1" in done.stderr and "does not exist" in done.stderr
    assert not output.exists()
    done = cms_swarm("image", "capture", "pi9", "-i", str(lab_inventory), "-o", str(output),
                     timeout=60)
    assert done.returncode == 2 and "not in" in done.stderr


def test_capture_json_is_one_document_valid_against_the_schema(
        card_on_host: tuple[Path, str], lab_inventory: Path, tmp_path: Path) -> None:
    import json

    import jsonschema

    schema = json.loads((Path(__file__).parents[2] / "docs" / "result.schema.json").read_text())
    local, remote = card_on_host
    output = tmp_path / "pi1.img.gz"
    done = cms_swarm("image", "capture", HOST, "-i", str(lab_inventory), "-o", str(output),
                     "--device", remote, "--json", timeout=300)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)  # the human lines went to stderr
    jsonschema.validate(data, schema)
    assert data["command"] == "image capture" and data["ok"] and data["hosts"][HOST]["ok"]
    assert "captured pi1" in done.stderr
    assert data["capture"]["path"] == str(output)
    assert data["capture"]["sha256"] == hashlib.sha256(output.read_bytes()).hexdigest()
    assert data["capture"]["image_bytes"] == local.stat().st_size
    failed = cms_swarm("image", "capture", HOST, "-i", str(lab_inventory), "-o",
                       str(tmp_path / "none.img.gz"), "--device", "/var/tmp/cms-no-such-card.img",
                       "--json", timeout=120)
    assert failed.returncode == 1
    data = json.loads(failed.stdout)
    jsonschema.validate(data, schema)
    assert data["capture"] is None and "does not exist" in data["hosts"][HOST]["error"]
    assert data["hosts"][HOST]["error"].startswith("pi1: ")
    assert not data["hosts"][HOST]["error"].startswith("pi1: pi1:")
