"""The Docker context `swarm-<cluster>` on this machine: files only, no docker CLI needed.

A context is `~/.docker/contexts/meta/<sha256 of its name>/meta.json` (DOCKER_CONFIG moves
~/.docker). Its endpoint is `ssh://user@address[:port]` of a manager; the inventory's key and
known_hosts reach OpenSSH (which the docker CLI and the Docker SDK's `use_ssh_client=True`
both run) through `~/.ssh/config.d/cms-swarm-<cluster>`, included from `~/.ssh/config`.
Host keys stay checked: `StrictHostKeyChecking yes` against the inventory's known_hosts.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cloudmesh.swarm.inventory import HostSpec, Inventory
from cloudmesh.swarm.private_files import PRIVATE_FILE, parent_dir, replace_private
from cloudmesh.swarm.ssh_settings import openssh_host_block, ssh_target


def context_name(cluster: str) -> str:
    return f"swarm-{cluster}"


def docker_dir() -> Path:
    """Where the docker CLI keeps config.json and contexts (DOCKER_CONFIG, else ~/.docker)."""
    return Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")


def meta_path(name: str) -> Path:
    digest = hashlib.sha256(name.encode()).hexdigest()
    return docker_dir() / "contexts" / "meta" / digest / "meta.json"


def ssh_entry_path(cluster: str) -> Path:
    return Path.home() / ".ssh" / "config.d" / f"cms-swarm-{cluster}"


@dataclass(frozen=True)
class Written:
    """What `write` did, for the report and --json."""

    context: str
    host: str  # the docker endpoint, ssh://user@address[:port]
    manager: str  # its inventory name
    meta: Path
    ssh_config: Path
    current: bool  # the docker CLI's current context now


def endpoint(inventory: Inventory, spec: HostSpec) -> str:
    port = inventory.port_of(spec)
    address = f"[{spec.address}]" if ":" in spec.address else spec.address
    return f"ssh://{inventory.user_of(spec)}@{address}" + (f":{port}" if port != 22 else "")


def ssh_config_text(inventory: Inventory) -> str:
    """One Host block per host (any may become the manager the context uses): user, port,
    key, known_hosts, host keys checked."""
    lines = [(f"# written by cms-swarm for the Docker context {context_name(inventory.name)}; "
              "rewritten by `cms-swarm context`"), ""]
    for spec in inventory.hosts:
        lines += openssh_host_block(ssh_target(inventory, spec))
    return "\n".join(lines)


def _write(path: Path, text: str, mode: int = PRIVATE_FILE) -> None:
    """Atomically: a temporary file beside it, then rename."""
    parent_dir(path)
    replace_private(path, text, mode=mode)


def include_line() -> str:
    return f"Include {Path.home().absolute() / '.ssh' / 'config.d' / 'cms-swarm-*'}"


def ensure_include() -> Path:
    """~/.ssh/config includes our entries, first (an Include after a Host line would belong
    to that Host block); the rest of the file is kept as it is."""
    config = Path.home() / ".ssh" / "config"
    line = include_line()
    old = config.read_text(encoding="utf-8") if config.is_file() else ""
    if line not in old.splitlines():
        _write(config, f"{line}\n" + old)
    return config


def current_endpoint(cluster: str) -> str | None:
    """The Host of the cluster's context, None when there is no such context."""
    try:
        meta = json.loads(meta_path(context_name(cluster)).read_text(encoding="utf-8"))
        return str(meta["Endpoints"]["docker"]["Host"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write(inventory: Inventory, manager: str, use: bool = False) -> Written:
    """Write (or repoint) the context at `manager`, its ssh entry, and with `use` make it current."""
    name = context_name(inventory.name)
    host = endpoint(inventory, inventory.host(manager))
    entry = ssh_entry_path(inventory.name)
    _write(entry, ssh_config_text(inventory))
    ensure_include()
    meta: dict[str, Any] = {
        "Name": name,
        "Metadata": {"Description": f"cms-swarm cluster {inventory.name} (manager {manager})"},
        "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": False}},
    }
    path = meta_path(name)
    _write(path, json.dumps(meta), mode=0o644)
    if use:
        set_current(name)
    elif not config_path().exists():  # the Docker SDK finds contexts only beside a config.json
        _write(config_path(), "{}\n")
    return Written(name, host, manager, path, entry, use or current() == name)


def config_path() -> Path:
    return docker_dir() / "config.json"


def current() -> str:
    try:
        data = json.loads(config_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    return str(data.get("currentContext", "")) if isinstance(data, dict) else ""


def set_current(name: str) -> None:
    """currentContext in config.json; every other setting in it is kept."""
    path = config_path()
    data: Any = {}
    if path.is_file():
        data = json.loads(path.read_text(encoding="utf-8") or "{}")
    if not isinstance(data, dict):
        data = {}
    data["currentContext"] = name
    _write(path, json.dumps(data, indent="\t") + "\n")


def pick_manager(status: dict[str, Any]) -> str | None:
    """A reachable manager from status data: the leader, else any ready reachable one."""
    nodes = [n for n in status["nodes"] if n["role"] == "manager" and n["state"] == "ready"
             and not n["host"].startswith("(")]
    for node in sorted(nodes, key=lambda n: not n["leader"]):
        if node["leader"] or node["manager_status"] in ("Leader", "Reachable"):
            return str(node["host"])
    return None


def keep_reachable(inventory: Inventory, status: dict[str, Any]) -> Written | None:
    """After status/remove: an existing context whose manager is gone or unreachable moves
    to a reachable manager. No context: nothing is written (create and `context` make one)."""
    old = current_endpoint(inventory.name)
    if old is None:
        return None
    good = {str(n["host"]) for n in status["nodes"] if n["role"] == "manager"
            and n["state"] == "ready" and n["manager_status"] in ("Leader", "Reachable")}
    known = {h.name: endpoint(inventory, h) for h in inventory.hosts}
    if any(known.get(name) == old for name in good):
        return None
    manager = pick_manager(status)
    if manager is None or manager not in known:
        return None
    return write(inventory, manager, use=False)
