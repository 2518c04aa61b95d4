"""Cloned cards: hosts that share machine-id, SSH host keys, Docker engine ID or swarm state.

Cards burned from one captured image are born identical. Of each group of hosts sharing
a value one keeps it (the one the swarm knows at that address, else the first in the
inventory); the others are reported by prepare and, with --fix-identities (`check --fix`),
get new ones: machine-id, host keys (the control machine's known_hosts is updated from the
new keys, read over the connection the old key authenticated), and the engine's identity
with any copied swarm state, while the engine is not yet a node of its own.
"""

from __future__ import annotations

from collections.abc import Callable

from cloudmesh.swarm.facts import HostFacts
from cloudmesh.swarm.phase_context import Context
from cloudmesh.swarm.phases.network import advertise_ip
from cloudmesh.swarm.phases.shell import ENGINE_UP, RELOAD_SSHD
from cloudmesh.swarm.plan import Problem, Step

FIX_HINT = "cms-swarm check --fix (or create --fix-identities) gives the copies new ones"

# What a clone shares, and how to read it from the facts (empty: nothing to compare).
KINDS: dict[str, Callable[[HostFacts], frozenset[str]]] = {
    "machine-id": lambda f: frozenset([f.identity.machine_id] if f.identity.machine_id else []),
    "SSH host keys": lambda f: frozenset(f.identity.host_keys),
    "Docker engine ID": lambda f: frozenset([f.identity.engine_id] if f.identity.engine_id else []),
    "swarm node ID": lambda f: frozenset([f.swarm.node_id] if f.swarm and f.swarm.node_id else []),
}


def _genuine(ctx: Context, host: str) -> bool:
    """In a swarm at its own address: the original the others were copied from."""
    swarm = ctx.facts[host].swarm
    return bool(swarm and swarm.node_id
                and swarm.node_addr in (ctx.ip(host), advertise_ip(ctx, host)))


def _keeper(ctx: Context, group: list[str]) -> str:
    return next((h for h in group if _genuine(ctx, h)), group[0])


def copies(ctx: Context, host: str) -> dict[str, list[str]]:
    """{kind: hosts whose value this host copies} for each kind it must renew; the keeper of
    each group (hosts in inventory order) appears in no host's list as a copy."""
    order = [h.name for h in ctx.inventory.hosts if h.name in ctx.facts]
    if host not in order:
        return {}
    found: dict[str, list[str]] = {}
    for kind, read in KINDS.items():
        mine = read(ctx.facts[host])
        group = [h for h in order if mine and (h == host or read(ctx.facts[h]) & mine)]
        if len(group) > 1 and _keeper(ctx, group) != host:
            found[kind] = [h for h in group if h != host]
    return found


def _engine_joined(ctx: Context, host: str, found: dict[str, list[str]]) -> bool:
    """In a swarm with a node of its own: its engine ID is left alone (the engine joined)."""
    return ctx.facts[host].in_swarm and "swarm node ID" not in found


def check_identities(ctx: Context, host: str, facts: HostFacts) -> list[Problem]:
    """One line per copy naming what it shares with whom."""
    found = copies(ctx, host)
    if not found:
        return []
    problems = []
    if "Docker engine ID" in found and _engine_joined(ctx, host, found):
        others = ", ".join(found.pop("Docker engine ID"))
        problems.append(Problem(
            f"Docker engine ID is the same as on {others}; this engine is a swarm node already, "
            "so it is left alone", "cms-swarm remove HOST, then add it with --fix-identities",
            warning=True))
    if not found:
        return problems
    partners: dict[tuple[str, ...], list[str]] = {}
    for kind, hosts in found.items():
        partners.setdefault(tuple(hosts), []).append(kind)
    shared = "; ".join(f"{_and(kinds)} as {', '.join(hosts)}" for hosts, kinds in partners.items())
    text = f"cloned card: same {shared}"
    if ctx.options.fix_identities:
        return [*problems, Problem(f"{text}; renewing (--fix-identities)", warning=True)]
    return [*problems, Problem(text, FIX_HINT)]


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


NEW_MACHINE_ID = (
    "tr -d - < /proc/sys/kernel/random/uuid > /etc/machine-id.cms-new"
    " && chmod 0444 /etc/machine-id.cms-new && mv -f /etc/machine-id.cms-new /etc/machine-id"
    " && if [ -f /var/lib/dbus/machine-id ] && [ ! -L /var/lib/dbus/machine-id ]; then"
    " ln -sf /etc/machine-id /var/lib/dbus/machine-id; fi"
)
# New keys beside the old ones first, so a failure never leaves sshd without keys.
NEW_HOST_KEYS = (
    "d=$(mktemp -d /etc/ssh/.cms-swarm-keys.XXXXXX) && mkdir -p \"$d/etc/ssh\""
    " && ssh-keygen -A -f \"$d\" >/dev/null"
    " && rm -f /etc/ssh/ssh_host_*_key /etc/ssh/ssh_host_*_key.pub"
    " && mv \"$d\"/etc/ssh/ssh_host_* /etc/ssh/ && rm -rf \"$d\""
    f" && ({RELOAD_SSHD} || pkill -HUP -x sshd || true)"
)
ENGINE_FILES = "/var/lib/docker/engine-id /etc/docker/key.json"
# docker.service allows 3 starts a minute; a host restarted just before (install) is not stuck
START_ENGINE = "{ systemctl reset-failed docker.service 2>/dev/null; systemctl start docker; }"


def identity_steps(ctx: Context, host: str) -> list[Step]:
    """With --fix-identities: the steps that give a copy its own identity (none otherwise)."""
    if not ctx.options.fix_identities:
        return []
    found = copies(ctx, host)
    facts = ctx.facts[host]
    steps = []
    if "machine-id" in found:
        steps.append(Step("make a new machine-id", NEW_MACHINE_ID, sudo=True))
    engine = "Docker engine ID" in found and not _engine_joined(ctx, host, found)
    swarm = "swarm node ID" in found
    if engine or swarm:
        clear = ENGINE_FILES + (" /var/lib/docker/swarm" if swarm else "")
        what = " and ".join(["a new engine ID"] * engine + ["no copied swarm state"] * swarm)
        command = f"rm -rf {clear}"
        if facts.docker_package:
            command = ("{ systemctl stop docker.socket 2>/dev/null; systemctl stop docker; }"
                       f" && {command} && {START_ENGINE} && {ENGINE_UP}")
        steps.append(Step(f"restart the engine with {what}", command, sudo=True, timeout=150))
    if "SSH host keys" in found:  # last: a host that fails before keeps the keys we know
        steps.append(Step("make new SSH host keys (known_hosts is updated after)", NEW_HOST_KEYS,
                          sudo=True, timeout=120))
    return steps


def check_node_name(ctx: Context, host: str, facts: HostFacts) -> list[Problem]:
    """The swarm lists this host's node under another hostname: a copy ran as it."""
    swarm = facts.swarm
    row = next((r for r in ctx.node_rows() if swarm and r.id == swarm.node_id), None)
    if row is None or not facts.hostname or row.hostname in ("", facts.hostname):
        return []
    return [Problem(f"the swarm lists this node ({row.id[:12]}) as {row.hostname!r}: a copy of "
                    "this card has talked to the swarm as it", "sudo systemctl restart docker on "
                    "this host (one manager at a time) makes it report its own name",
                    warning=True)]
