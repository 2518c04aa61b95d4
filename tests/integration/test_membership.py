"""Day two on the running lab swarm (lab("swarm"): after test_lifecycle made it): add a 4th host, drain, label,
promote refused, remove it again; the inventory file follows, comments kept."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .cli import cms_swarm, eventually
from .conftest import LAB, LAB_ARGS, Exec, address, workload

pytestmark = [pytest.mark.integration, pytest.mark.lab("swarm")]


@pytest.fixture(scope="module")
def three_host_inventory(lab_inventory: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A copy of the 3-host inventory, with pi4 booted in the lab (not in the copy)."""
    copy = tmp_path_factory.mktemp("membership") / "cluster.yaml"
    copy.write_text(lab_inventory.read_text())
    saved = lab_inventory.read_text()
    up = cms_swarm("lab", "up", "4", *LAB_ARGS, timeout=300)
    lab_inventory.write_text(saved)  # the session's inventory stays at 3 hosts
    assert up.returncode == 0, up.stderr
    yield copy


def nodes(lab_exec: Exec) -> dict[str, tuple[str, str, str]]:
    _, out = lab_exec("pi1", "docker node ls --format '{{.Hostname}} {{.Status}} {{.Availability}} {{.ManagerStatus}}-'")
    return {p[0]: (p[1], p[2], p[3]) for p in (line.split() for line in out.splitlines())}


def running_on(lab_exec: Exec, host: str) -> int:
    _, out = lab_exec("pi1", f"docker node ps {host} --filter desired-state=running -q | wc -l")
    return int(out.strip())


def test_add_drain_label_remove(three_host_inventory: Path, lab_exec: Exec) -> None:
    inv = str(three_host_inventory)
    added = cms_swarm("add", f"pi4={address(4)}", "-i", inv, "--role", "worker")
    assert added.returncode == 0, added.stdout + added.stderr
    assert nodes(lab_exec)["pi4"] == ("Ready", "Active", "-")
    text = three_host_inventory.read_text()
    assert text.startswith("# written by 'cms-swarm lab up 3'")  # comments kept
    assert f"  - name: pi4\n    address: {address(4)}\n    role: worker\n" in text
    assert text.count("role: manager") == 3  # the implied managers are written down
    again = cms_swarm("add", f"pi4={address(4)}", "-i", inv, "--role", "worker")
    assert again.returncode == 0 and "nothing changed" in again.stdout

    image = workload(lab_exec, ("pi1", "pi2", "pi3", "pi4"))

    rc, out = lab_exec("pi1", "docker service create -q --detach --name web --replicas 4 "
                       f"--no-resolve-image {image} sleep 100000")
    assert rc == 0, out
    try:
        eventually("one task of web running on pi4", lambda: running_on(lab_exec, "pi4"), seconds=90,
                   until=lambda count: count == 1)
        drained = cms_swarm("drain", "pi4", "-i", inv)
        assert drained.returncode == 0 and nodes(lab_exec)["pi4"][1] == "Drain"
        assert cms_swarm("activate", "pi4", "-i", inv).returncode == 0
        assert nodes(lab_exec)["pi4"][1] == "Active"

        labelled = cms_swarm("label", "pi4", "disk=ssd", "zone=b", "-i", inv)
        assert labelled.returncode == 0
        _, labels = lab_exec("pi1", "docker node inspect pi4 --format '{{json .Spec.Labels}}'")
        assert labels.strip() == '{"disk":"ssd","zone":"b"}'

        refused = cms_swarm("promote", "pi4", "-i", inv)
        assert refused.returncode == 2 and "would leave 4 managers" in refused.stderr
        unknown = cms_swarm("drain", "pi9", "-i", inv)
        assert unknown.returncode == 2 and "pi9: not in the inventory" in unknown.stderr

        removed = cms_swarm("remove", "pi4", "-i", inv)
        assert removed.returncode == 0, removed.stdout + removed.stderr
        assert "pi4" not in nodes(lab_exec)
        _, replicas = lab_exec("pi1", "docker service ls --filter name=web --format '{{.Replicas}}'")
        assert replicas.strip() == "4/4"  # pi4's task runs elsewhere (remove waits for that)
        assert "name: pi4" not in three_host_inventory.read_text()
        _, state = lab_exec("pi4", "docker info --format '{{.Swarm.LocalNodeState}}'")
        assert state.strip() == "inactive"
    finally:
        lab_exec("pi1", "docker service rm web")


def test_removing_a_manager_that_breaks_quorum_is_refused(three_host_inventory: Path, lab_exec: Exec) -> None:
    """With pi3 stopped, removing pi2 would leave pi1 alone of 2 managers: refused, nothing done."""
    import subprocess

    subprocess.run(["docker", "stop", "-t", "1", f"cms-swarm-{LAB}-pi3"], check=True, timeout=60,
                   capture_output=True)
    try:
        eventually("the leader seeing pi3 Down", lambda: nodes(lab_exec), seconds=90,
                   until=lambda seen: seen.get("pi3", ("",))[0] == "Down")
        done = cms_swarm("remove", "pi2", "-i", str(three_host_inventory), "--connect-timeout", "3")
        assert done.returncode == 1
        assert "that would break quorum: 1 of the 2 remaining managers are reachable" in done.stderr
        assert nodes(lab_exec)["pi2"][2] in ("Reachable-", "Leader-")
    finally:
        subprocess.run(["docker", "start", f"cms-swarm-{LAB}-pi3"], check=True, timeout=60,
                       capture_output=True)
        eventually("pi3 back as a Ready, Reachable manager", lambda: nodes(lab_exec), seconds=120,
                   until=lambda seen: seen.get("pi3", ("", "", ""))[::2] == ("Ready", "Reachable-"))


def test_upgrade_when_apt_offers_nothing_newer_touches_no_node(lab_inventory: Path, lab_exec: Exec) -> None:
    """The lab's mirror has one docker.io version: the rolling upgrade must drain nothing."""
    before = {host: state[:2] for host, state in nodes(lab_exec).items()}
    done = cms_swarm("upgrade", "-i", str(lab_inventory))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "nothing changed" in done.stdout and "drain" not in done.stdout
    assert {host: state[:2] for host, state in nodes(lab_exec).items()} == before
