"""Faults on the running lab swarm (lab("swarm")): the leader's host is stopped,
and a host cannot be reached during `create`. Each test brings the host back."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from .cli import cms_swarm, eventually
from .conftest import LAB, Exec, address, workload

pytestmark = [pytest.mark.integration, pytest.mark.lab("swarm")]

HOSTS = ("pi1", "pi2", "pi3")
PORT = 38090


def leader(lab_exec: Exec, ask: str) -> str:
    _, out = lab_exec(ask, "docker node ls --format '{{.Hostname}} {{.ManagerStatus}}' 2>/dev/null")
    return next((line.split()[0] for line in out.splitlines() if line.endswith("Leader")), "")


def answers(host_address: str) -> str:
    try:
        with urllib.request.urlopen(f"http://{host_address}:{PORT}/", timeout=3) as reply:
            return reply.read().decode().strip()
    except OSError:
        return ""


def docker(*args: str) -> None:
    subprocess.run(["docker", *args], check=True, capture_output=True, timeout=120)


def node_states(lab_exec: Exec) -> list[str]:
    """Hostnames and states of the swarm's nodes as pi1 lists them, sorted word by word."""
    _, out = lab_exec("pi1", "docker node ls --format '{{.Hostname}} {{.Status}}' 2>/dev/null")
    return sorted(out.split())


def healthy(states: list[str]) -> bool:
    """All three nodes Ready, none listed twice."""
    return states == sorted([*HOSTS, "Ready", "Ready", "Ready"])


def test_losing_the_leader_keeps_the_swarm_and_create_heals_it(lab_exec: Exec, lab_inventory: Path) -> None:
    eventually("a healthy swarm", lambda: node_states(lab_exec), until=healthy)
    image = workload(lab_exec)
    serve = "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www"
    rc, out = lab_exec("pi1", f"docker service create -q --detach --name hello --replicas 3 "
                       f"--replicas-max-per-node 1 --hostname '{{{{.Node.Hostname}}}}' --no-resolve-image "
                       f"--publish mode=host,target=80,published={PORT} {image} sh -c '{serve}'")
    assert rc == 0, out
    old = leader(lab_exec, "pi1")
    others = [h for h in HOSTS if h != old]
    index = {h: HOSTS.index(h) + 1 for h in HOSTS}
    try:
        eventually("the service on every node", lambda: {h: answers(address(index[h])) for h in HOSTS},
                   until=lambda seen: all(seen[h] == h for h in HOSTS))
        docker("stop", "-t", "1", f"cms-swarm-{LAB}-{old}")
        eventually("a new leader", lambda: leader(lab_exec, others[0]), until=lambda new: new in others)
        for host in others:  # the replicated service still answers where it runs
            assert answers(address(index[host])) == host
        def status() -> dict[str, Any]:
            done = cms_swarm("status", "-i", str(lab_inventory), "--json", "--connect-timeout", "3")
            return {**json.loads(done.stdout), "returncode": done.returncode}

        def survivors_ready(seen: dict[str, Any]) -> bool:
            """The new leader may still see a survivor as unknown/down for a moment."""
            states = {n["host"]: n["state"] for n in seen["nodes"]}
            return states[old] == "unreachable" and all(states[h] == "ready" for h in others)

        data = eventually("status: the stopped leader unreachable, the others ready", status,
                          until=survivors_ready)
        assert data["returncode"] == 1
        assert data["swarm"]["quorum"] is True and data["swarm"]["reachable_managers"] == 2
        assert data["swarm"]["unreachable_managers"] == [old] and data["swarm"]["leader"] in others
    finally:
        docker("start", f"cms-swarm-{LAB}-{old}")
        try:
            eventually("sshd on the restarted host", lambda: lab_exec(old, "systemctl is-active ssh")[1].strip(),
                       until=lambda state: state == "active")
            healed = cms_swarm("create", "-i", str(lab_inventory), "--skip-verify")
            assert healed.returncode == 0, healed.stdout + healed.stderr
            eventually("all three nodes Ready, none twice", lambda: node_states(lab_exec), until=healthy)
        finally:  # the swarm as this test found it, whatever failed
            lab_exec(others[0], "docker service rm hello")


def test_an_unreachable_host_during_create_fails_alone_and_a_rerun_converges(
        lab_exec: Exec, lab_inventory: Path) -> None:
    network, container = f"cms-swarm-{LAB}", f"cms-swarm-{LAB}-pi3"
    docker("network", "disconnect", network, container)
    try:
        done = cms_swarm("create", "-i", str(lab_inventory), "--skip-verify", "--connect-timeout", "3")
    finally:
        docker("network", "connect", "--ip", address(3), network, container)
    assert done.returncode == 1
    assert f"pi3: cannot connect to {address(3)}:22" in done.stderr
    assert "failed on 1 of 3 hosts: pi3" in done.stderr
    for host in ("pi1", "pi2"):  # the others went through every phase
        assert f"{host}: Configure swarm:" in done.stdout
    eventually("pi3 back in the swarm", lambda: node_states(lab_exec), until=healthy)
    again = cms_swarm("create", "-i", str(lab_inventory), "--skip-verify")
    assert again.returncode == 0, again.stdout + again.stderr
