"""Lab pieces that need no engine: the offline test image archive, keys tar, names, inotify."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from cloudmesh.swarm.cli.main import main
from cloudmesh.swarm.errors import UsageError
from cloudmesh.swarm.lab import hosts, testimage
from cloudmesh.swarm.lab.image import LabError


def test_test_image_is_a_loadable_docker_save_archive(tmp_path: Path) -> None:
    busybox = tmp_path / "busybox"
    busybox.write_bytes(b"\x7fELF not really busybox")
    data = testimage.build(busybox)
    assert data == testimage.build(busybox)  # same bytes every time
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        manifest = json.load(archive.extractfile("manifest.json"))  # type: ignore[arg-type]
        assert manifest[0]["RepoTags"] == ["busybox:latest"]
        config_name = manifest[0]["Config"]
        config_bytes = archive.extractfile(config_name).read()  # type: ignore[union-attr]
        assert config_name == hashlib.sha256(config_bytes).hexdigest() + ".json"
        layer = archive.extractfile(manifest[0]["Layers"][0]).read()  # type: ignore[union-attr]
    config = json.loads(config_bytes)
    assert config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(layer).hexdigest()]
    with tarfile.open(fileobj=io.BytesIO(layer)) as root:
        members = {m.name: m for m in root.getmembers()}
    assert members["bin/busybox"].mode == 0o755
    assert root is not None and members["bin/httpd"].issym() and members["bin/httpd"].linkname == "busybox"
    assert {"bin/sh", "bin/nc", "tmp", "www"} <= set(members)


def test_authorized_keys_tar_belongs_to_pi_and_is_private() -> None:
    data = hosts._authorized_keys("ssh-ed25519 AAAAC3 lab")
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        directory, keys = archive.getmembers()
        assert (directory.name, directory.mode, directory.uid) == (".ssh", 0o700, 1000)
        assert (keys.name, keys.mode, keys.uid, keys.gid) == (".ssh/authorized_keys", 0o600, 1000, 1000)
        assert archive.extractfile(keys).read() == b"ssh-ed25519 AAAAC3 lab\n"  # type: ignore[union-attr]


def test_lab_names_and_addresses() -> None:
    lab = hosts.Lab("class-a", "10.9.8.0/24", client=object())  # type: ignore[arg-type]
    assert lab.address(1) == "10.9.8.11" and lab.address(12) == "10.9.8.22"
    assert lab.container_name(3) == "cms-swarm-class-a-pi3"
    for name, subnet in (("a b", "10.9.8.0/24"), ("x" * 21, "10.9.8.0/24"),
                         ("ok", "10.9.8.0/25"), ("ok", "10.9.8.1/24"), ("ok", "nonsense")):
        with pytest.raises(UsageError):
            hosts.Lab(name, subnet, client=object())  # type: ignore[arg-type]


def test_inotify_limit_is_raised_or_explained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    limit = tmp_path / "max_user_instances"
    limit.write_text("128\n")
    monkeypatch.setattr(hosts, "INOTIFY", limit)
    lab = hosts.Lab(client=object())  # type: ignore[arg-type]
    lab._check_inotify(8)
    assert limit.read_text() == "128\n"  # few hosts: left alone
    lab._check_inotify(24)
    assert limit.read_text() == "1024"
    limit.write_text("128\n")
    limit.chmod(0o444)
    monkeypatch.setattr(hosts.Path, "write_text", _refuse)
    with pytest.raises(LabError, match=r"sysctl -w fs.inotify.max_user_instances=1024"):
        lab._check_inotify(24)


def _refuse(*_: object, **__: object) -> int:
    raise PermissionError("read-only")


def test_no_engine_is_explained_with_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-such.sock")
    assert main(["lab", "status"]) == 1
    err = capsys.readouterr().err
    assert "no Docker engine answers" in err and "apt-get install docker.io" in err
    assert len(err.strip().splitlines()) == 1
