"""`create` killed in the middle (during install, during joins) on 2 fresh hosts of a lab of
its own: re-running converges, no node is listed twice, no half-configured package is left."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .cli import CMS_SWARM, cms_swarm, eventually
from .conftest import NET

pytestmark = pytest.mark.integration

NAME = f"killtest{NET}"
ARGS = ("--name", NAME, "--subnet", f"10.77.{100 + NET}.0/24")


def on(host: str, command: str) -> tuple[int, str]:
    done = subprocess.run(["docker", "exec", f"cms-swarm-{NAME}-{host}", "bash", "-c", command],
                          capture_output=True, text=True, timeout=120, check=False)
    return done.returncode, done.stdout + done.stderr


@pytest.fixture(scope="module")
def inventory(swarm_home: Path) -> Iterator[Path]:
    cms_swarm("lab", "down", *ARGS, timeout=300)
    up = cms_swarm("lab", "up", "2", *ARGS, timeout=600)
    assert up.returncode == 0, up.stderr
    yield Path(up.stdout.strip())
    cms_swarm("lab", "down", *ARGS, timeout=300)


def kill_create_when(inventory: Path, ready, seconds: float = 180) -> None:  # type: ignore[no-untyped-def]
    """Start `create`, wait until `ready()` holds, then SIGKILL it (no clean-up runs)."""
    proc = subprocess.Popen([CMS_SWARM, "create", "-i", str(inventory), "-q", "--skip-verify"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy())
    def moment() -> bool:
        assert proc.poll() is None, "create ended before the moment to kill it"
        return bool(ready())

    try:
        eventually("the moment to kill create", moment, seconds, interval=0.1)
    finally:
        proc.kill()
        proc.wait(timeout=30)


def converged(inventory: Path) -> None:
    done = cms_swarm("create", "-i", str(inventory), "--skip-verify", timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    _, nodes = on("pi1", "docker node ls --format '{{.Hostname}} {{.Status}}'")
    assert sorted(nodes.split()) == ["Ready", "Ready", "pi1", "pi2"]  # each node once
    for host in ("pi1", "pi2"):
        rc, audit = on(host, "dpkg --audit")
        assert rc == 0 and audit.strip() == "", f"{host}: half-configured packages: {audit}"
        assert on(host, "systemctl is-active docker")[1].strip() == "active"


def test_killed_during_install_then_rerun_converges(inventory: Path) -> None:
    kill_create_when(inventory, lambda: on("pi2", "pgrep -x dpkg")[0] == 0)
    converged(inventory)


def test_killed_during_a_join_then_rerun_converges(inventory: Path, swarm_home: Path) -> None:
    assert cms_swarm("reset", "-i", str(inventory)).returncode == 0
    log = swarm_home / "logs" / NAME / "pi2.log"
    start = log.stat().st_size if log.exists() else 0

    def joining() -> bool:
        return log.exists() and "run: join the swarm" in log.read_text()[start:]

    kill_create_when(inventory, joining)
    converged(inventory)
