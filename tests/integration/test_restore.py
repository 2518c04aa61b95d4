"""backup on the running lab swarm (lab("swarm")), restore on a fresh host:
services and secrets come back there; a damaged archive is refused."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import pytest

from .cli import cms_swarm, eventually
from .conftest import LAB_ARGS, Exec, address, workload

pytestmark = [pytest.mark.integration, pytest.mark.lab("swarm")]


def test_backup_then_restore_on_a_fresh_host(lab_inventory: Path, lab_exec: Exec, tmp_path: Path) -> None:
    image = workload(lab_exec)
    rc, out = lab_exec("pi1", "printf hello-secret | docker secret create s1 - >/dev/null && "
                       "docker service create -q --detach --name keep --secret s1 --replicas 1 "
                       f"--no-resolve-image {image} sleep 100000 >/dev/null")
    assert rc == 0, out
    archive = tmp_path / "swarm.tar.gz"
    try:
        dry = cms_swarm("backup", "-i", str(lab_inventory), "-o", str(archive), "--dry-run")
        assert dry.returncode == 0 and not archive.exists()
        done = cms_swarm("backup", "-i", str(lab_inventory), "-o", str(archive))
        assert done.returncode == 0, done.stdout + done.stderr
        assert stat.S_IMODE(archive.stat().st_mode) == 0o600
        digest = hashlib.sha256(archive.read_bytes()).hexdigest()
        assert (tmp_path / "swarm.tar.gz.sha256").read_text() == f"{digest}  swarm.tar.gz\n"
        eventually("the manager the backup came from Ready again", lambda: lab_exec(
            "pi1", "docker node ls --format '{{.Hostname}} {{.Status}}'")[1], seconds=60,
            until=lambda nodes: nodes.split().count("Ready") == 3)

        damaged = tmp_path / "damaged.tar.gz"
        damaged.write_bytes(archive.read_bytes()[:-100])
        (tmp_path / "damaged.tar.gz.sha256").write_text(f"{digest}  damaged.tar.gz\n")
        refused = cms_swarm("restore", str(damaged), "--host", f"pi5={address(5)}", "-i", str(lab_inventory))
        assert refused.returncode == 2 and "sha256 does not match" in refused.stderr

        saved = lab_inventory.read_text()
        up = cms_swarm("lab", "up", "5", *LAB_ARGS, timeout=300)
        lab_inventory.write_text(saved)
        assert up.returncode == 0, up.stderr
        restored = cms_swarm("restore", str(archive), "--host", f"pi5={address(5)}", "-i", str(lab_inventory))
        assert restored.returncode == 0, restored.stdout + restored.stderr
        assert "pi5: swarm restored as its only manager: services=1 secrets=1" in restored.stdout
        _, services = lab_exec("pi5", "docker service ls --format '{{.Name}}'; docker secret ls --format '{{.Name}}'")
        assert services.split() == ["keep", "s1"]
        _, role = lab_exec("pi5", "docker node ls --format '{{.Hostname}}={{.ManagerStatus}}'")
        managers = [line for line in role.split() if line.endswith(("=Leader", "=Reachable"))]
        assert managers == ["pi5=Leader"]  # the old managers are gone from its Raft group
        again = cms_swarm("restore", str(archive), "--host", f"pi5={address(5)}", "-i", str(lab_inventory))
        assert again.returncode == 2 and "already in a swarm" in again.stderr
    finally:
        lab_exec("pi5", "docker swarm leave --force")
        lab_exec("pi1", "docker service rm keep; docker secret rm s1")
