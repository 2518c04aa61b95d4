"""Addresses and routes: parses network.sh's sections."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

SECTIONS = ("ip-addr", "ip-route")  # what network.sh prints, parsed here


@dataclass(frozen=True)
class Route:
    """One IPv4 route: destination network and the interface it leaves by."""

    network: str  # CIDR; "default" for the default route
    device: str = ""


def parse_ip_addr(text: str) -> tuple[tuple[str, str], ...]:
    """`ip -o -4 addr show | awk '{print $2, $4}'` lines (`eth0 10.1.1.5/24`) to pairs."""
    pairs = []
    for line in text.splitlines():
        words = line.split()
        if len(words) == 2 and "/" in words[1]:
            pairs.append((words[0], words[1]))
    return tuple(pairs)


def parse_routes(text: str) -> tuple[Route, ...]:
    """`ip -4 route show` to Routes (`10.1.1.0/24 dev eth0 proto kernel ...`); a bare
    address is a /32, unreadable lines are skipped."""
    routes = []
    for line in text.splitlines():
        words = line.split()
        if not words:
            continue
        if words[0] in ("unreachable", "blackhole", "prohibit", "throw", "local", "broadcast",
                        "unicast", "multicast"):
            words = words[1:]
        if not words:
            continue
        device = words[words.index("dev") + 1] if "dev" in words[:-1] else ""
        if words[0] == "default":
            routes.append(Route("default", device))
            continue
        try:
            network = ipaddress.ip_network(words[0], strict=False)
        except ValueError:
            continue
        routes.append(Route(str(network), device))
    return tuple(routes)
