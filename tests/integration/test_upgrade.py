"""A real rolling upgrade on the lab swarm (lab("swarm")): the lab's mirror has one
docker.io version, so a local apt repository on the hosts offers the same package with a
higher version (`+cms1`); apt really upgrades it and Docker really restarts, node by node."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from .cli import cms_swarm
from .conftest import LAB, Exec, workload

pytestmark = [pytest.mark.integration, pytest.mark.lab("swarm")]

HOSTS = ("pi1", "pi2", "pi3")
REPO = "/opt/cms-upgrade-repo"


def make_newer_package(lab_exec: Exec) -> str:
    """Repack the installed docker.io as version +cms1 into a flat repo on every host."""
    rc, version = lab_exec("pi1", "dpkg-query -W -f '${Version}' docker.io")
    assert rc == 0
    newer = version.strip() + "+cms1"
    script = (f"set -e; rm -rf /tmp/repack {REPO}; mkdir -p {REPO}; "
              "dpkg-deb -R /var/cache/apt/archives/docker.io_*.deb /tmp/repack; "
              f"sed -i 's/^Version: .*/Version: {newer}/' /tmp/repack/DEBIAN/control; "
              f"dpkg-deb -Zgzip -z1 -b /tmp/repack {REPO}/docker.io_new.deb >/dev/null; rm -rf /tmp/repack; "
              f"cd {REPO}; dpkg-deb -f docker.io_new.deb > Packages; "
              "printf 'Filename: ./docker.io_new.deb\\nSize: %s\\nSHA256: %s\\n\\n' "
              "$(stat -c %s docker.io_new.deb) $(sha256sum docker.io_new.deb | cut -d' ' -f1) >> Packages")
    rc, out = lab_exec("pi1", script)
    assert rc == 0, out
    for host in HOSTS:
        if host != "pi1":
            copy = subprocess.run(f"docker exec cms-swarm-{LAB}-pi1 tar -C /opt -c cms-upgrade-repo | "
                                  f"docker exec -i cms-swarm-{LAB}-{host} tar -C /opt -x",
                                  shell=True, capture_output=True, text=True, timeout=120, check=False)
            assert copy.returncode == 0, copy.stderr
        rc, out = lab_exec(host, f"echo 'deb [trusted=yes] file:{REPO} ./' > /etc/apt/sources.list.d/cms-upgrade.list"
                           " && apt-get update -qq")
        assert rc == 0, out
    return newer


def test_rolling_upgrade_node_by_node_leader_last(lab_inventory: Path, lab_exec: Exec) -> None:
    image = workload(lab_exec)
    rc, out = lab_exec("pi1", "docker service create -q --detach --name roll --replicas 3 "
                       f"--no-resolve-image {image} sleep 100000")
    assert rc == 0, out
    try:
        newer = make_newer_package(lab_exec)
        _, leader = lab_exec("pi1", "docker node ls --filter role=manager --format '{{.Hostname}} {{.ManagerStatus}}'")
        old_leader = next(line.split()[0] for line in leader.splitlines() if line.endswith("Leader"))
        started = time.monotonic()
        done = cms_swarm("upgrade", "-i", str(lab_inventory))
        seconds = time.monotonic() - started
        assert done.returncode == 0, done.stdout + done.stderr
        print(f"rolling upgrade of 3 nodes: {seconds:.1f} s")
        upgraded = [line.split(": ")[0] for line in done.stdout.splitlines() if ": upgrade docker.io" in line]
        assert sorted(upgraded) == sorted(HOSTS) and upgraded[-1] == old_leader  # the leader last
        for host in HOSTS:
            _, version = lab_exec(host, "dpkg-query -W -f '${Version}' docker.io")
            assert version.strip() == newer, host
        _, nodes = lab_exec("pi1", "docker node ls --format '{{.Status}} {{.Availability}}'")
        assert nodes.split() == ["Ready", "Active"] * 3
        _, replicas = lab_exec("pi1", "docker service ls --filter name=roll --format '{{.Replicas}}'")
        assert replicas.strip() == "3/3"
        again = cms_swarm("upgrade", "-i", str(lab_inventory))
        assert again.returncode == 0 and "nothing changed" in again.stdout
    finally:
        lab_exec("pi1", "docker service rm roll")
        for host in HOSTS:
            lab_exec(host, "rm -f /etc/apt/sources.list.d/cms-upgrade.list")
