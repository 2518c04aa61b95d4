"""ssh_settings: one declaration of how a host is reached, for asyncssh (SshTarget) and for
OpenSSH (the docker context's Host block); known_hosts_file: which known_hosts is in use."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudmesh.swarm.inventory import Inventory, from_hostlist
from cloudmesh.swarm.known_hosts import known_hosts_file
from cloudmesh.swarm.ssh_settings import openssh_host_block, ssh_target


def inventory(tmp_path: Path, **ssh: object) -> Inventory:
    return Inventory.model_validate({
        "name": "red",
        "ssh": {"user": "pi", **ssh},
        "hosts": [{"name": "red01", "address": "10.1.1.5"},
                  {"name": "red02", "address": "fe80::2", "user": "bob", "port": 2222}],
    })


def test_target_takes_host_settings_over_the_inventorys(tmp_path: Path) -> None:
    inv = inventory(tmp_path, key=str(tmp_path / "id"), port=22, known_hosts=str(tmp_path / "kh"))
    first = ssh_target(inv, inv.hosts[0], strict_host_keys=True, connect_timeout=3.0)
    second = ssh_target(inv, inv.hosts[1])
    assert (first.name, first.address, first.user, first.port) == ("red01", "10.1.1.5", "pi", 22)
    assert first.strict_host_keys and first.connect_timeout == 3.0
    assert (second.user, second.port, second.strict_host_keys) == ("bob", 2222, False)
    assert first.key == second.key == tmp_path / "id"
    assert first.known_hosts == tmp_path / "kh"


def test_openssh_block_says_what_the_target_says(tmp_path: Path) -> None:
    inv = inventory(tmp_path, key=str(tmp_path / "id"), known_hosts=str(tmp_path / "kh"))
    assert openssh_host_block(ssh_target(inv, inv.hosts[1])) == [
        "Host fe80::2", "    User bob", "    Port 2222",
        f"    IdentityFile {tmp_path / 'id'}", "    IdentitiesOnly yes",
        f"    UserKnownHostsFile {tmp_path / 'kh'}", "    StrictHostKeyChecking yes", ""]


def test_openssh_block_without_key_uses_sshs_known_hosts(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    inv = inventory(tmp_path)
    block = openssh_host_block(ssh_target(inv, inv.hosts[0]))
    assert not any("IdentityFile" in line or "IdentitiesOnly" in line for line in block)
    assert f"    UserKnownHostsFile {tmp_path}/.ssh/known_hosts" in block


def test_relative_paths_become_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    inv = from_hostlist("a=10.0.0.1", user="pi", key="keys/id", name="rel", known_hosts="kh")
    block = openssh_host_block(ssh_target(inv, inv.hosts[0]))
    assert all(Path(line.split()[1]).is_absolute() for line in block
               if line.strip().startswith(("IdentityFile", "UserKnownHostsFile")))


def test_known_hosts_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert known_hosts_file(None) == tmp_path / ".ssh" / "known_hosts"
    assert known_hosts_file(Path("~/kh")) == tmp_path / "kh"
    assert known_hosts_file(Path("/etc/kh")) == Path("/etc/kh")
