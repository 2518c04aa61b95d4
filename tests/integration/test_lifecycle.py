"""The core promise on 3 fresh lab hosts, through the CLI as a user types it:
dry-run -> create -> create again (no change) -> status -> verify -> reset -> create again.

Tests run in file order and share the session's lab; each asserts on the hosts too. Marked
lab("creates"): after the tests that need fresh hosts, before those that need the swarm.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .cli import cms_swarm, eventually
from .conftest import LAB, address

pytestmark = [pytest.mark.integration, pytest.mark.lab("creates")]

HOSTS = ("pi1", "pi2", "pi3")


def node_ids(lab_exec) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """hostname -> node ID, as the swarm's managers list them (read on the host, not via us)."""
    rc, out = lab_exec("pi1", "docker node ls --format '{{.Hostname}} {{.ID}} {{.Status}} {{.ManagerStatus}}'")
    assert rc == 0, out
    return {line.split()[0]: line.split()[1] for line in out.splitlines() if line.strip()}


def swarm_state(lab_exec, host: str) -> str:  # type: ignore[no-untyped-def]
    _rc, out = lab_exec(host, "docker info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null || echo no-docker")
    return out.strip()


def test_dry_run_on_bare_hosts_lists_steps_and_changes_nothing(lab_inventory: Path, lab_exec) -> None:  # type: ignore[no-untyped-def]
    done = cms_swarm("create", "-i", str(lab_inventory), "--dry-run")
    assert done.returncode == 0, done.stderr
    for host in HOSTS:
        assert f"{host}: would install docker.io, and docker-cli where the release has it (no recommends): sudo " in done.stdout
    assert f"pi1: would initialise the swarm: sudo docker swarm init --advertise-addr {address(1)}" in done.stdout
    assert "pi2: would join the swarm as a manager" in done.stdout and '"JoinToken": "***"' in done.stdout
    assert "dry run: nothing was changed" in done.stdout
    for host in HOSTS:
        rc, _ = lab_exec(host, "command -v docker")
        assert rc != 0, f"{host} has docker after a dry run"


def test_create_builds_three_ready_managers_with_one_leader(lab_inventory: Path, lab_exec) -> None:  # type: ignore[no-untyped-def]
    done = cms_swarm("create", "-i", str(lab_inventory))
    assert done.returncode == 0, done.stdout + done.stderr
    _, out = lab_exec("pi1", "docker node ls --format '{{.Hostname}} {{.Status}} {{.Availability}} {{.ManagerStatus}}'")
    rows = sorted(line.split() for line in out.splitlines())
    assert [r[:3] for r in rows] == [[h, "Ready", "Active"] for h in HOSTS]
    assert sorted(r[3] for r in rows) == ["Leader", "Reachable", "Reachable"]
    assert "routing mesh: unavailable (kernel lacks IPVS)" in done.stdout
    assert "SWMTKN-" not in done.stdout + done.stderr
    for host in HOSTS:  # the SSH user may run docker without sudo from now on
        _rc, out = lab_exec(host, "id -nG pi")
        assert "docker" in out.split()


def test_second_create_changes_nothing_and_says_so(lab_inventory: Path, lab_exec) -> None:  # type: ignore[no-untyped-def]
    before = node_ids(lab_exec)
    done = cms_swarm("create", "-i", str(lab_inventory))
    assert done.returncode == 0, done.stdout + done.stderr
    assert node_ids(lab_exec) == before
    assert "done: 3 hosts ok, nothing changed" in done.stdout
    assert "swarm unchanged since (`verify` tests again)" in done.stdout  # services verified before
    for host in HOSTS:
        assert f"{host}: Install Docker engine: docker 20.10" in done.stdout  # "... already running"
        _rc, out = lab_exec(host, "grep -c ' install docker.io:' /var/log/dpkg.log")
        assert out.strip() == "1", f"{host}: docker.io installed {out.strip()} times"


def test_dry_run_on_a_converged_swarm_has_nothing_to_do(lab_inventory: Path) -> None:
    done = cms_swarm("init", "-i", str(lab_inventory), "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "would" not in done.stdout
    assert "pi2: nothing to do (already in this swarm" in done.stdout


def test_status_json_describes_the_swarm(lab_inventory: Path, lab_exec) -> None:  # type: ignore[no-untyped-def]
    done = cms_swarm("status", "-i", str(lab_inventory), "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    ids = node_ids(lab_exec)
    assert data["cluster"] == LAB
    assert data["swarm"]["managers"] == 3 and data["swarm"]["nodes"] == 3
    nodes = {n["host"]: n for n in data["nodes"]}
    assert set(nodes) == set(HOSTS)
    for host, node in nodes.items():
        assert node["state"] == "ready" and node["role"] == "manager"
        assert node["availability"] == "active" and node["engine"].startswith("20.10")
        assert node["node_id"] == ids[host]
        # lab hosts are no boards: no health readings, and no error for lacking them
        assert [node[k] for k in ("model", "temperature_c", "throttled", "root_device")] == [None] * 4
        assert node["arch"] == "amd64" and node["memory_mb"] > 0 and node["error"] is None
    assert sum(n["leader"] for n in nodes.values()) == 1
    assert data["swarm"]["leader"] in HOSTS


def test_verify_passes_and_cleans_up(lab_inventory: Path, lab_exec) -> None:  # type: ignore[no-untyped-def]
    done = cms_swarm("verify", "-i", str(lab_inventory))
    assert done.returncode == 0, done.stdout + done.stderr
    for host in HOSTS:
        assert f"{host}: Verify swarm: ok (node ok, host port ok, overlay ok (2 peers))" in done.stdout
    # the network goes in the background once the tasks are gone
    eventually("verify's service and network gone",
               lambda: lab_exec("pi1", "docker service ls -q; docker network ls -q --filter name=cms-swarm-verify"),
               seconds=60, until=lambda seen: seen[0] == 0 and seen[1].strip() == "")


def test_reset_leaves_no_host_in_a_swarm(lab_inventory: Path, lab_exec) -> None:  # type: ignore[no-untyped-def]
    done = cms_swarm("reset", "-i", str(lab_inventory))
    assert done.returncode == 0, done.stdout + done.stderr
    assert {swarm_state(lab_exec, h) for h in HOSTS} == {"inactive"}
    again = cms_swarm("reset", "-i", str(lab_inventory))
    assert again.returncode == 0 and "nothing changed" in again.stdout


def test_create_after_reset_forms_a_new_swarm(lab_inventory: Path, lab_exec) -> None:  # type: ignore[no-untyped-def]
    done = cms_swarm("create", "-i", str(lab_inventory), "--skip-verify", "-q")
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(node_ids(lab_exec)) == 3
    assert {swarm_state(lab_exec, h) for h in HOSTS} == {"active"}
