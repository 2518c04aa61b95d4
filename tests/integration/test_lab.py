"""`cms-swarm lab`: hosts that look like fresh Pis, re-runnable `up`, `ssh`, `status`, `down`."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

import pytest

from .cli import cms_swarm
from .conftest import NET

pytestmark = pytest.mark.integration

NAME = f"labtest{NET}"
PREFIX = f"10.77.{150 + NET}"
ARGS = ("--name", NAME, "--subnet", f"{PREFIX}.0/24")


def docker_names(kind: str) -> set[str]:
    """Names of this test's containers, volumes or networks that still exist."""
    fmt = "{{.Names}}" if kind == "container" else "{{.Name}}"
    args = ["docker", kind, "ls", "--format", fmt, *(["-a"] if kind == "container" else [])]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    return {name for name in done.stdout.split() if NAME in name}


def test_lab_up_ssh_status_down(swarm_home: Path) -> None:
    up = cms_swarm("lab", "up", "2", *ARGS, timeout=600)
    try:
        assert up.returncode == 0, up.stderr
        inventory = Path(up.stdout.strip())
        assert inventory.parent == swarm_home / "lab" / NAME
        assert stat.S_IMODE(inventory.parent.stat().st_mode) == 0o700
        for name in ("inventory.yaml", "id_ed25519", "known_hosts"):
            assert stat.S_IMODE((inventory.parent / name).stat().st_mode) == 0o600
        text = inventory.read_text()
        assert f"address: {PREFIX}.11" in text and f"address: {PREFIX}.12" in text
        known = (inventory.parent / "known_hosts").read_text()

        # a fresh Pi: user pi with passwordless sudo, python3, no Docker; key login checked
        done = cms_swarm("lab", "ssh", *ARGS, "pi2",
                         "hostname; sudo -n id -u; command -v python3; command -v docker || echo no-docker")
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == ["pi2", "0", "/usr/bin/python3", "no-docker"]

        again = cms_swarm("lab", "up", "2", *ARGS, timeout=120)
        assert again.returncode == 0 and "booted" not in again.stderr
        assert (inventory.parent / "known_hosts").read_text() == known  # same hosts, same keys

        status = cms_swarm("lab", "status", *ARGS, "--json")
        hosts = json.loads(status.stdout)["hosts"]
        assert [(h["name"], h["address"], h["state"]) for h in hosts] == [
            ("pi1", f"{PREFIX}.11", "running"), ("pi2", f"{PREFIX}.12", "running")]

        missing = cms_swarm("lab", "ssh", *ARGS, "pi9", "true")
        assert missing.returncode == 2 and "no host 'pi9'" in missing.stderr
    finally:
        down = cms_swarm("lab", "down", *ARGS, timeout=300)
    assert down.returncode == 0 and "removed 2 lab host(s)" in down.stdout
    assert docker_names("container") == set() and docker_names("volume") == set()
    assert docker_names("network") == set()
    assert not (swarm_home / "lab" / NAME).exists()
    empty = cms_swarm("lab", "status", *ARGS)
    assert "has no hosts" in empty.stdout
