"""`inventory new`: a commented inventory file from a host list (k0sctl `init`), with the
addresses this machine can resolve; touches no host."""

from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from cloudmesh.swarm.inventory import _validate, expand_hosts, managers

RESOLVE_SECONDS = 3.0


def resolve(name: str) -> str | None:
    """The IPv4 address of `name` (IPv6 when it has none), None when it does not resolve."""
    try:
        infos = socket.getaddrinfo(name, 22, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return None
    v4 = [i[4][0] for i in infos if i[0] == socket.AF_INET]
    v6 = [i[4][0] for i in infos if i[0] == socket.AF_INET6]
    found = v4 or v6
    return str(found[0]) if found else None


def resolve_all(names: list[str], seconds: float = RESOLVE_SECONDS) -> dict[str, str | None]:
    """Resolve concurrently; a name that takes longer than `seconds` counts as unresolved."""
    with ThreadPoolExecutor(max_workers=min(16, len(names)) or 1) as pool:
        futures = {name: pool.submit(resolve, name) for name in names}
        found: dict[str, str | None] = {}
        for name, future in futures.items():
            try:
                found[name] = future.result(timeout=seconds)
            except FutureTimeout:
                found[name] = None
        pool.shutdown(wait=False, cancel_futures=True)
    return found


def _yaml_str(text: str) -> str:
    """A plain scalar when safe, else double-quoted (names and addresses are validated anyway)."""
    import json

    return text if text.replace(".", "").replace("-", "").replace(":", "").isalnum() else json.dumps(text)


def new_inventory(hostlist: str, user: str = "pi", key: str | None = None, port: int = 22,
                  name: str = "swarm", resolve_names: bool = True) -> str:
    """The text of a commented, valid inventory for `hostlist` (an InventoryError otherwise)."""
    pairs = expand_hosts(hostlist)
    given = {n for n, a in pairs if a != n}  # NAME=ADDRESS: the user said where
    resolved = resolve_all([n for n, _ in pairs if n not in given]) if resolve_names else {}
    data = {"name": name, "ssh": {"user": user, "port": port, **({"key": key} if key else {})},
            "hosts": [{"name": n, "address": a} for n, a in pairs]}
    inventory = _validate(data, "command line")  # bad names or settings: nothing written
    chosen = set(managers(inventory))
    lines = [
        f"# cms-swarm inventory for cluster {name}: written by `cms-swarm inventory new {hostlist}`",
        "# Format: docs/inventory.md. Check it, then: cms-swarm create -i THIS_FILE",
        f"name: {_yaml_str(name)}                 # cluster name: context swarm-{name}, logs",
        "ssh:",
        f"  user: {_yaml_str(user)}                 # login user on every host (a host may set its own)",
    ]
    if key:
        lines.append(f"  key: {_yaml_str(key)}   # private key; without it: the ssh agent, ~/.ssh/id_*")
    else:
        lines.append("  # key: ~/.ssh/id_ed25519     # without a key: the ssh agent, ~/.ssh/id_*")
    lines += [f"  port: {port}", "  # known_hosts: ~/.ssh/known_hosts", "hosts:"]
    for host, address in pairs:
        if host in given:
            note = "as given"
        elif resolved.get(host):
            address = str(resolved[host])
            note = f"resolved from {host} on this machine"
        else:
            note = f"{host} did not resolve here: write its IP address (or keep the name for DNS/mDNS)"
        role = "manager" if host in chosen else "worker"
        lines += [f"  - name: {_yaml_str(host)}", f"    address: {_yaml_str(address)}   # {note}",
                  f"    # role: {role}                # the default for this host; labels: {{disk: ssd}}"]
    return "\n".join(lines) + "\n"
