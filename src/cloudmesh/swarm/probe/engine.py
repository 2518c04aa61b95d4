"""The engine's facts: parses what engine.sh (or engine.py.in, which it runs) prints in
its sections `docker-version`, `swarm`, `nodes` and `node-details`."""

from __future__ import annotations

import json
from dataclasses import dataclass

# what engine.sh prints; parsed here, but for docker-version, which parse_facts takes as it is
SECTIONS = ("docker-version", "swarm", "nodes", "node-details")


@dataclass(frozen=True)
class SwarmState:
    """The host's view of the swarm, from `docker info` .Swarm."""

    local_state: str  # inactive | pending | active | error | locked
    node_id: str
    cluster_id: str
    is_manager: bool
    node_addr: str
    managers: int
    nodes: int
    remote_managers: tuple[str, ...] = ()
    autolock: bool = False
    default_addr_pool: tuple[str, ...] = ()  # the overlay pools chosen at init


@dataclass(frozen=True)
class NodeRow:
    """One row of `docker node ls`, as a manager sees it."""

    id: str
    hostname: str
    status: str
    availability: str
    manager_status: str
    engine_version: str
    self: bool
    addr: str = ""
    labels: tuple[tuple[str, str], ...] = ()

    @property
    def is_manager(self) -> bool:
        return bool(self.manager_status)

    @property
    def is_leader(self) -> bool:
        return self.manager_status == "Leader"


def parse_swarm(text: str) -> SwarmState | None:
    """`docker info --format '{{json .Swarm}}'` to SwarmState; None without docker."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    remote = data.get("RemoteManagers") or []
    return SwarmState(
        local_state=str(data.get("LocalNodeState") or "inactive"),
        node_id=str(data.get("NodeID") or ""),
        cluster_id=str((data.get("Cluster") or {}).get("ID") or ""),
        is_manager=bool(data.get("ControlAvailable")),
        node_addr=str(data.get("NodeAddr") or ""),
        managers=int(data.get("Managers") or 0),
        nodes=int(data.get("Nodes") or 0),
        remote_managers=tuple(str(m.get("Addr", "")) for m in remote if isinstance(m, dict)),
        autolock=bool(_dig(data, "Cluster", "Spec", "EncryptionConfig", "AutoLockManagers")),
        default_addr_pool=_strings(_dig(data, "Cluster", "DefaultAddrPool")),
    )


def _strings(value: object) -> tuple[str, ...]:
    return tuple(str(item) for item in value) if isinstance(value, list) else ()


def _dig(data: object, *keys: str) -> object:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def parse_node_details(text: str) -> dict[str, tuple[str, dict[str, str]]]:
    """`docker node inspect --format '{{.ID}} {{.Status.Addr}} {{json .Spec.Labels}}'`."""
    details: dict[str, tuple[str, dict[str, str]]] = {}
    for line in text.splitlines():
        parts = line.split(" ", 2)
        if len(parts) != 3:
            continue
        try:
            labels = json.loads(parts[2]) or {}
        except ValueError:
            continue
        if isinstance(labels, dict):
            details[parts[0]] = (parts[1], {str(k): str(v) for k, v in labels.items()})
    return details


def parse_nodes(text: str, details_text: str = "") -> tuple[NodeRow, ...]:
    """`docker node ls --format '{{json .}}'` lines to NodeRows; bad lines are skipped."""
    details = parse_node_details(details_text)
    rows = []
    for line in text.splitlines():
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if not isinstance(data, dict):
            continue
        rows.append(
            NodeRow(
                id=str(data.get("ID", "")),
                hostname=str(data.get("Hostname", "")),
                status=str(data.get("Status", "")),
                availability=str(data.get("Availability", "")),
                manager_status=str(data.get("ManagerStatus", "")),
                engine_version=str(data.get("EngineVersion", "")),
                self=bool(data.get("Self")),
                addr=details.get(str(data.get("ID", "")), ("", {}))[0],
                labels=tuple(sorted(details.get(str(data.get("ID", "")), ("", {}))[1].items())),
            )
        )
    return tuple(rows)
