"""Which network the swarm uses: `advertise`/`data_path` per host, `default_addr_pool` at init,
and the prepare warnings when Docker's default pools collide with the hosts' LAN routes.

A Pi often has two links (eth0 and wlan0); docker picks the one of the default route
unless told. Docker's pools (10.0.0.0/8 for overlays, 172.17/16 for docker0, 172.18/16
for docker_gwbridge) are private ranges that home and campus LANs use too.
"""

from __future__ import annotations

import ipaddress
import shlex

from cloudmesh.swarm.facts import HostFacts
from cloudmesh.swarm.phase_context import Context
from cloudmesh.swarm.plan import Problem

OVERLAY_POOL = "10.0.0.0/8"  # swarm's default-addr-pool
BRIDGES = (("docker0", "172.17.0.0/16"), ("docker_gwbridge", "172.18.0.0/16"))
DOCKER_DEVICES = ("docker0", "docker_gwbridge", "br-", "veth", "vx-", "lo")
SUGGESTED_POOLS = ("10.200.0.0/16", "172.30.0.0/16", "192.168.240.0/20")


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def advertise_of(ctx: Context, host: str) -> str:
    """What `--advertise-addr` gets: the inventory's address or interface, else the address
    the SSH connection reached."""
    return ctx.spec(host).advertise or ctx.ip(host)


def advertise_ip(ctx: Context, host: str) -> str:
    """The advertised IP: an interface resolved from the facts when it has one address."""
    value = advertise_of(ctx, host)
    facts = ctx.facts.get(host)
    if not _is_ip(value) and facts is not None:
        found = facts.interface_addresses(value)
        return found[0] if len(found) == 1 else ctx.ip(host)
    return value


def remote_addr(ctx: Context, manager: str) -> str:
    """Where joining nodes reach a manager: the address it advertises."""
    return advertise_ip(ctx, manager)


def init_options(ctx: Context, host: str) -> str:
    """The options of `docker swarm init` from the inventory."""
    spec = ctx.spec(host)
    words = ["--advertise-addr", advertise_of(ctx, host)]
    if spec.data_path:
        words += ["--data-path-addr", spec.data_path]
    for pool in ctx.inventory.default_addr_pool:
        words += ["--default-addr-pool", pool]
    if ctx.inventory.default_addr_pool_mask_length is not None:
        words += ["--default-addr-pool-mask-length", str(ctx.inventory.default_addr_pool_mask_length)]
    return " ".join(shlex.quote(word) for word in words)


def check_advertise(ctx: Context, host: str, facts: HostFacts) -> list[Problem]:
    """`advertise`/`data_path` must name an interface with one IPv4 address, or an address
    the host has (docker refuses anything else at init or join)."""
    if not facts.addresses:
        return []  # no `ip` on the host: docker itself will say
    spec = ctx.spec(host)
    problems = []
    for field, value in (("advertise", spec.advertise), ("data_path", spec.data_path)):
        if value is None:
            continue
        names = sorted({name for name, _ in facts.addresses})
        if _is_ip(value):
            mine = [cidr.partition("/")[0] for _, cidr in facts.addresses]
            if ipaddress.ip_address(value).version == 4 and value not in mine:
                problems.append(Problem(f"{field}: {value} is not an address of this host "
                                        f"(it has {', '.join(mine)})",
                                        f"fix {field} in the inventory"))
            continue
        found = facts.interface_addresses(value)
        if not found:
            problems.append(Problem(f"{field}: no interface {value!r} with an IPv4 address "
                                    f"(interfaces: {', '.join(names)})",
                                    f"fix {field} in the inventory, or bring {value} up"))
        elif len(found) > 1:
            problems.append(Problem(f"{field}: interface {value} has {len(found)} IPv4 "
                                    f"addresses ({', '.join(found)}); docker needs one",
                                    f"set {field} to one of them"))
    swarm = facts.swarm
    if (not problems and spec.advertise and swarm and swarm.local_state == "active"
            and swarm.node_addr and swarm.node_addr != advertise_ip(ctx, host)):
        problems.append(Problem(f"advertise: the swarm knows this node at {swarm.node_addr}, "
                                f"not {advertise_ip(ctx, host)}; it is chosen at join",
                                "cms-swarm remove HOST, then cms-swarm add HOST", warning=True))
    return problems


def _lan_routes(facts: HostFacts) -> list[tuple[ipaddress.IPv4Network, str]]:
    """The host's routes that are not the default and not Docker's own bridges."""
    routes = []
    for route in facts.routes:
        if route.network == "default" or route.device.startswith(DOCKER_DEVICES):
            continue
        network = ipaddress.ip_network(route.network)
        if isinstance(network, ipaddress.IPv4Network) and not network.is_link_local:
            routes.append((network, route.device))
    return sorted(set(routes), key=lambda item: (int(item[0].network_address), item[1]))


def overlay_pools(ctx: Context) -> tuple[list[str], bool]:
    """(the overlay pools, whether the swarm has fixed them already)."""
    for facts in ctx.facts.values():
        if facts.swarm and facts.swarm.local_state == "active" and facts.swarm.default_addr_pool:
            return list(facts.swarm.default_addr_pool), True
    return (ctx.inventory.default_addr_pool or [OVERLAY_POOL]), False


def suggest_pool(ctx: Context) -> str:
    """A pool no host has a route into, for the fix hint."""
    taken = [net for facts in ctx.facts.values() for net, _ in _lan_routes(facts)]
    for candidate in SUGGESTED_POOLS:
        pool = ipaddress.IPv4Network(candidate)
        if not any(pool.overlaps(net) for net in taken):
            return candidate
    return SUGGESTED_POOLS[0]


def check_pool_collisions(ctx: Context, host: str, facts: HostFacts) -> list[Problem]:
    """Warn, per LAN route, when an overlay or bridge pool of Docker's overlaps it."""
    pools, fixed = overlay_pools(ctx)
    problems = []
    for network, device in _lan_routes(facts):
        where = f"LAN route {network}" + (f" ({device})" if device else "")
        for pool in pools:
            if network.overlaps(ipaddress.IPv4Network(pool)):
                fix = ("the pool was fixed when the swarm was formed; a new swarm can use "
                       "another" if fixed else
                       f"set default_addr_pool in the inventory, e.g. {suggest_pool(ctx)}")
                problems.append(Problem(
                    f"{where} overlaps the swarm's overlay pool {pool}: an overlay network "
                    "may get the same subnet, and its containers lose those LAN hosts",
                    fix, warning=True))
        for bridge, pool in BRIDGES:
            if network.overlaps(ipaddress.IPv4Network(pool)):
                problems.append(Problem(
                    f"{where} overlaps Docker's {bridge} default {pool}: if the engine starts "
                    "before this route is up it takes those addresses",
                    'set "bip" and "default-address-pools" in /etc/docker/daemon.json',
                    warning=True))
    if host == ctx.inventory.hosts[0].name and fixed and ctx.inventory.default_addr_pool \
            and sorted(pools) != sorted(ctx.inventory.default_addr_pool):
        problems.append(Problem(
            f"default_addr_pool {', '.join(ctx.inventory.default_addr_pool)} is not the swarm's "
            f"({', '.join(pools)}): it only applies when a swarm is formed",
            "leave it as the swarm has it, or form a new swarm", warning=True))
    return problems
