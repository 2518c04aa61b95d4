"""Hosts of every kind users flash, in one lab of their own: the lifecycle on Debian 13
(trixie) hosts, then a mixed cluster of trixie, bookworm and an arm64 host (qemu-user).

pi1-pi3 trixie/amd64: create (verify included), create again (nothing changed), status, add
pi4 (bookworm/amd64), remove it, reset. Then all five, pi5 being bookworm/arm64: create
--skip-verify and status; the arm64 node reports arm64; verify fails naming that node.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .cli import cms_swarm, eventually
from .conftest import NET

pytestmark = pytest.mark.integration

NAME = f"kinds{NET}"
PREFIX = f"10.77.{50 + NET}"
ARGS = ("--name", NAME, "--subnet", f"{PREFIX}.0/24")
SPEC = "pi[1-3]:trixie,pi4:bookworm,pi5:bookworm:arm64"


def on(host: str, command: str) -> tuple[int, str]:
    done = subprocess.run(["docker", "exec", f"cms-swarm-{NAME}-{host}", "bash", "-c", command],
                          capture_output=True, text=True, timeout=300, check=False)
    return done.returncode, done.stdout + done.stderr


@pytest.fixture(scope="module")
def inventories(swarm_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """The lab's 5-host inventory, and a copy with only the three trixie hosts."""
    cms_swarm("lab", "down", *ARGS, timeout=300)
    up = cms_swarm("lab", "up", "--hosts", SPEC, "--offline", *ARGS, timeout=1500)
    assert up.returncode == 0, up.stderr
    full = Path(up.stdout.strip().splitlines()[-1])
    text = full.read_text()
    head, _, hosts = text.partition("hosts:\n")
    entries = hosts.split("  - name: ")[1:]
    trixie = tmp_path_factory.mktemp("kinds") / "trixie.yaml"
    trixie.write_text(head + "hosts:\n" + "".join("  - name: " + e for e in entries[:3]))
    yield {"full": full, "trixie": trixie}
    down = cms_swarm("lab", "down", *ARGS, timeout=300)
    assert down.returncode == 0, down.stderr


def test_lab_hosts_are_of_the_kinds_asked_for(inventories: dict[str, Path]) -> None:
    status = cms_swarm("lab", "status", "--json", *ARGS)
    kinds = {h["name"]: h["kind"] for h in json.loads(status.stdout)["hosts"]}
    assert kinds == {"pi1": "trixie/amd64", "pi2": "trixie/amd64", "pi3": "trixie/amd64",
                     "pi4": "bookworm/amd64", "pi5": "bookworm/arm64"}
    assert "VERSION_CODENAME=trixie" in on("pi1", "cat /etc/os-release")[1]
    assert on("pi5", "dpkg --print-architecture")[1].strip() == "arm64"
    assert "# bookworm/arm64" in inventories["full"].read_text()
    for host in ("pi1", "pi5"):  # fresh cards: no Docker, no image, no route but the mirror
        assert on(host, "command -v docker dockerd")[0] != 0
        assert "default" not in on(host, "ip route")[1]


def test_trixie_lifecycle(inventories: dict[str, Path]) -> None:
    inv = str(inventories["trixie"])
    created = cms_swarm("create", "-i", inv)
    assert created.returncode == 0, created.stdout + created.stderr
    for host in ("pi1", "pi2", "pi3"):
        assert on(host, "test -x /usr/bin/docker && docker info --format '{{.Swarm.LocalNodeState}}'")[1].strip() == "active"
    eventually("verify's own test image removed again",
               lambda: {h: on(h, "docker image ls --format '{{.Repository}}'")[1] for h in ("pi1", "pi2", "pi3")},
               until=lambda images: all("cms-swarm-verify" not in listed for listed in images.values()))
    again = cms_swarm("create", "-i", inv)
    assert again.returncode == 0 and "nothing changed" in again.stdout, again.stdout
    status = cms_swarm("status", "-i", inv, "--json")
    assert status.returncode == 0, status.stdout
    nodes = json.loads(status.stdout)["nodes"]
    assert sorted(n["hostname"] for n in nodes) == ["pi1", "pi2", "pi3"]

    added = cms_swarm("add", f"pi4={PREFIX}.14", "-i", inv, "--role", "worker")
    assert added.returncode == 0, added.stdout + added.stderr
    assert on("pi4", "docker info --format '{{.Swarm.LocalNodeState}}'")[1].strip() == "active"
    removed = cms_swarm("remove", "pi4", "-i", inv)
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert on("pi4", "docker info --format '{{.Swarm.LocalNodeState}}'")[1].strip() == "inactive"

    reset = cms_swarm("reset", "-i", inv)
    assert reset.returncode == 0, reset.stdout + reset.stderr
    for host in ("pi1", "pi2", "pi3"):
        assert on(host, "docker info --format '{{.Swarm.LocalNodeState}}'")[1].strip() == "inactive"


def test_mixed_cluster_with_an_arm64_host(inventories: dict[str, Path]) -> None:
    inv = str(inventories["full"])
    created = cms_swarm("create", "-i", inv, "--skip-verify", timeout=1500)
    assert created.returncode == 0, created.stdout + created.stderr
    status = cms_swarm("status", "-i", inv, "--json")
    assert status.returncode == 0, status.stdout
    data = json.loads(status.stdout)
    assert sorted(n["hostname"] for n in data["nodes"]) == ["pi1", "pi2", "pi3", "pi4", "pi5"]
    assert all(n["state"] == "ready" for n in data["nodes"]), data["nodes"]
    arch = {n["host"]: n["arch"] for n in data["nodes"]}
    assert arch["pi5"] == "arm64" and arch["pi1"] == "amd64"
    # no container starts under qemu-user: verify says so, naming the node
    verify = cms_swarm("verify", "-i", inv)
    assert verify.returncode == 1
    failed = [line for line in (verify.stdout + verify.stderr).splitlines() if "test task did not start" in line]
    assert failed and all(line.startswith("pi5:") or "pi5" in line for line in failed), verify.stdout
