"""Edit an inventory file in place for `add` and `remove`, keeping its comments and order.

ruamel.yaml's round-trip mode keeps what the user wrote; we only append or drop entries of
`hosts` (and, when `add --role` meets a file without roles, write the roles it implied, so
adding a manager does not silently demote the others). The file is replaced atomically.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cloudmesh.swarm.errors import InventoryError


def _yaml() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def _load(path: Path) -> Any:
    data = _yaml().load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("hosts"), list):
        raise InventoryError(f"{path}: no 'hosts' list to edit")
    return data


def _write(path: Path, data: Any) -> None:
    import io

    buffer = io.StringIO()
    _yaml().dump(data, buffer)
    mode = path.stat().st_mode & 0o777
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(buffer.getvalue())
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def add_hosts(path: Path, hosts: Iterable[dict[str, Any]], implied_managers: Iterable[str] = ()) -> None:
    """Append host entries; `implied_managers` get `role: manager` written first."""
    from ruamel.yaml.comments import CommentedMap

    data = _load(path)
    implied = set(implied_managers)
    for entry in data["hosts"]:
        if isinstance(entry, dict) and entry.get("name") in implied and "role" not in entry:
            entry["role"] = "manager"
    for host in hosts:
        data["hosts"].append(CommentedMap(host))
    _write(path, data)


def remove_hosts(path: Path, names: Iterable[str]) -> None:
    """Drop the entries of these hosts (their comments go with them)."""
    data = _load(path)
    gone = set(names)
    keep = [entry for entry in data["hosts"] if not (isinstance(entry, dict) and entry.get("name") in gone)]
    del data["hosts"][:]
    data["hosts"].extend(keep)
    _write(path, data)
