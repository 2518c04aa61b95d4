"""capture --shrink --sysprep on this machine: the captured root file system keeps no machine-id,
SSH host keys, Docker engine identity or swarm state, and makes new host keys at first boot."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cloudmesh.swarm.cli.main import main
from cloudmesh.swarm.image import ext4, mbr, synthetic, sysprep

from .test_image_capture_local import run_capture

pytestmark = pytest.mark.skipif(not shutil.which("mcopy") or not shutil.which("debugfs"),
                                reason="needs mtools and e2fsprogs (scripts/setup-host.sh)")

IDENTITY = {
    "/etc/machine-id": b"c7bdc095a3bf4c51a8e70ea104722991\n",
    "/var/lib/dbus/machine-id": b"c7bdc095a3bf4c51a8e70ea104722991\n",
    "/etc/ssh/ssh_host_ed25519_key": b"-----BEGIN OPENSSH PRIVATE KEY-----\nx\n",
    "/etc/ssh/ssh_host_ed25519_key.pub": b"ssh-ed25519 AAAA root@pi1\n",
    "/etc/ssh/ssh_host_rsa_key": b"-----BEGIN OPENSSH PRIVATE KEY-----\ny\n",
    "/etc/ssh/ssh_host_rsa_key.pub": b"ssh-rsa AAAA root@pi1\n",
    "/etc/ssh/sshd_config": b"Include /etc/ssh/sshd_config.d/*.conf\n",
    "/etc/docker/key.json": b'{"crv":"P-256","d":"secret","kid":"SQLE:4DYC","kty":"EC"}\n',
    "/etc/docker/daemon.json": b'{"log-driver": "journald"}\n',
    "/var/lib/docker/engine-id": b"0f5e3c1e-6a43-4a2b-9d0e-7d6c1b5f2a10\n",
    "/var/lib/docker/swarm/state.json": b'[{"node_id":"ueanylj4utr9"}]\n',
    "/var/lib/docker/swarm/docker-state.json": b"{}\n",
    "/var/lib/docker/swarm/certificates/swarm-node.key": b"node key\n",
    "/var/lib/docker/swarm/certificates/swarm-root-ca.crt": b"ca\n",
    "/var/lib/docker/swarm/raft/wal-v3-encrypted/0000000000000000-0000000000000000.wal": b"w" * 9000,
    "/var/lib/docker/swarm/worker/tasks.db": b"t" * 5000,
    "/var/lib/systemd/random-seed": b"r" * 512,
}


def root_of(image: bytes, tmp_path: Path) -> Path:
    last = mbr.parse(image[:512]).last()
    assert last is not None
    part = tmp_path / "root.ext4"
    part.write_bytes(image[last.offset:])
    return part


def test_sysprep_strips_identity_and_keeps_the_rest(tmp_path: Path) -> None:
    import lzma

    card = synthetic.build(tmp_path / "card.img", "firstrun", size_mb=96, data_mb=2,
                           extra=IDENTITY)
    done = run_capture(card, tmp_path / "clean.img.xz", shrink=True, margin_mb=4, sysprep=True)
    assert done.stripped == ["machine-id", "4 SSH host key files", "Docker engine ID",
                             "random seed", "swarm state"]
    part = root_of(lzma.decompress((tmp_path / "clean.img.xz").read_bytes()), tmp_path)
    assert ext4.read_file(part, 0, "/etc/machine-id") == b""  # systemd makes one at first boot
    for gone in ("/var/lib/dbus/machine-id", "/etc/ssh/ssh_host_ed25519_key",
                 "/etc/ssh/ssh_host_rsa_key.pub", "/etc/docker/key.json",
                 "/var/lib/docker/engine-id", "/var/lib/docker/swarm",
                 "/var/lib/systemd/random-seed"):
        assert not ext4.exists(part, 0, gone), gone
    assert ext4.read_file(part, 0, "/etc/ssh/sshd_config") == IDENTITY["/etc/ssh/sshd_config"]
    assert ext4.read_file(part, 0, "/etc/docker/daemon.json") == IDENTITY["/etc/docker/daemon.json"]
    assert ext4.read_file(part, 0, sysprep.KEYS_UNIT_PATH) == sysprep.KEYS_UNIT.encode()
    assert ext4.exists(part, 0, sysprep.KEYS_WANTS)
    assert sysprep.file_type(part, "/var/lib/docker") == sysprep.DIR  # only swarm/ went
    check = ext4.run([ext4.tool("e2fsck"), "-fn", str(part)], "e2fsck")
    assert "clean" in check or "files" in check


def test_sysprep_of_a_clean_image_removes_nothing(tmp_path: Path) -> None:
    card = synthetic.build(tmp_path / "card.img", "firstrun", size_mb=96, data_mb=2)
    done = run_capture(card, tmp_path / "clean.img", shrink=True, margin_mb=4, sysprep=True)
    assert done.stripped == []


def test_sysprep_without_shrink_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["image", "capture", "pi1", "-o", str(tmp_path / "x.img.xz"), "--sysprep"]) == 2
    err = capsys.readouterr().err
    assert "--sysprep" in err and "--shrink" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.img.xz").exists()
