"""Build probe output (the `=== section ===` text PROBE_SCRIPT prints) for plan and runner tests."""

from __future__ import annotations

import json
import re
import time
from typing import Any

BOOKWORM = """PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian"""

ROTATING = '{\n  "log-opts": {\n    "max-size": "10m",\n    "max-file": "3"\n  }\n}'  # what install writes


def probe(
    hostname: str = "pi1",
    docker: str | None = None,
    active: bool | None = None,
    groups: str = "pi adm sudo",
    sudo: bool = True,
    swarm: dict[str, Any] | None = None,
    nodes: list[dict[str, Any]] | None = None,
    labels: dict[str, dict[str, str]] | None = None,
    clock: float | None = None,
    ipvs: str = "no",
    extra: dict[str, str] | None = None,
) -> str:
    """A probe's output for a bookworm arm64 host in the given state."""
    active = docker is not None if active is None else active
    sections = {
        "os-release": BOOKWORM,
        "arch": "aarch64",
        "kernel": "6.6.51+rpt-rpi-v8",
        "hostname": hostname,
        "model": "",
        "cgroups": "#subsys_name\thierarchy\tnum_cgroups\tenabled\nmemory\t4\t8\t1",
        "cgroup2": "",
        "vxlan": "yes",
        "ipvs": ipvs,
        "var-free": "20000000",
        "clock": f"{time.time() if clock is None else clock:.6f}",
        "sudo": "ok" if sudo else "no",
        "python3": "/usr/bin/python3",
        "user": f"pi\n{groups}",
        "apt": "/usr/bin/apt-get",
        "busybox-static": "install ok installed" if docker else "",
        "docker-pkg": f"install ok installed {docker}" if docker else "",
        "docker-active": "active" if active else "inactive",
        "docker-enabled": "enabled" if docker else "",
        "docker-version": docker or "",
        "docker-cli": "/usr/bin/docker" if docker else "",
        "docker-pkgs": f"docker.io install ok installed {docker}" if docker else "",
        "daemon-json": ROTATING if docker else "",
        "swarm": json.dumps(swarm) if swarm is not None else "",
        "nodes": "\n".join(json.dumps(n) for n in nodes or []),
        "node-details": "\n".join(
            f"{node_id} 10.0.0.1 {json.dumps(value)}" for node_id, value in (labels or {}).items()
        ),
        **(extra or {}),
    }
    if clock is None:  # the host's clock is right: FakeTransport keeps it at "now" (at_now)
        sections[CLOCK_NOW] = "yes"
    return "".join(f"=== {k} ===\n{v}\n" for k, v in sections.items()) + "=== end ===\n"


CLOCK_NOW = "clock-now"  # a section the parser ignores: this probe's clock reads "now"
_CLOCK = re.compile(r"^=== clock ===\n[^\n]*$", re.MULTILINE)


def at_now(text: str) -> str:
    """A probe answer as the host gives it at this moment: a probe made with the default clock
    (module constants are made at import, minutes before a long run reaches them) reads the
    time now, so the runner measures no skew; an explicit `clock=` is kept."""
    if f"=== {CLOCK_NOW} ===" not in text:
        return text
    return _CLOCK.sub(f"=== clock ===\n{time.time():.6f}", text, count=1)


def swarm_info(node_id: str, manager: bool, cluster: str = "c1", state: str = "active") -> dict[str, Any]:
    return {
        "NodeID": node_id,
        "NodeAddr": "10.0.0.1",
        "LocalNodeState": state,
        "ControlAvailable": manager,
        "RemoteManagers": [{"NodeID": "n1", "Addr": "10.0.0.1:2377"}],
        "Nodes": 3,
        "Managers": 1,
        **({"Cluster": {"ID": cluster}} if manager else {}),
    }


def node_row(node_id: str, hostname: str, manager: str = "", status: str = "Ready",
             me: bool = False) -> dict[str, Any]:
    return {"ID": node_id, "Hostname": hostname, "Status": status, "Availability": "Active",
            "ManagerStatus": manager, "EngineVersion": "20.10.24", "Self": me}
