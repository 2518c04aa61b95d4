"""Hostname: give every host its inventory name, the way the seed did by hand.

All Pis are born `raspberrypi`, and a swarm (and `check`) needs unique hostnames. Like
raspi-config: /etc/hostname, the 127.0.1.1 line of /etc/hosts (so sudo can resolve its own
name), and hostnamectl where systemd-hostnamed runs; `hostname` otherwise.
"""

from __future__ import annotations

import ipaddress
import re
import shlex

from cloudmesh.swarm.errors import UsageError
from cloudmesh.swarm.phase_context import Context
from cloudmesh.swarm.phases import Phase
from cloudmesh.swarm.plan import Plan, Step

_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)\Z")


def hostname_for(host: str) -> str:
    """The hostname an inventory name gives (its first label); bad input for an IP address
    (`10.1.1.5` must not become `10`) or a label that is not a valid hostname."""
    try:
        ipaddress.ip_address(host)
        is_ip = True
    except ValueError:
        is_ip = False
    name = host.split(".")[0]
    if is_ip or not _LABEL.match(name) or name.isdigit():
        raise UsageError(f"{host}: not a host name to give the host (an IP address?); "
                         "name the hosts: NAME=ADDRESS,... or names in the inventory")
    return name


class HostnamePhase(Phase):
    title = "Set hostnames"

    def plan(self, ctx: Context, host: str, stage: str) -> Plan:
        facts = ctx.facts[host]
        name = hostname_for(host)
        if facts.hostname == name and facts.loopback_name == name:
            return Plan.noop(f"hostname is {name}")
        quoted = shlex.quote(name)
        command = (
            f"echo {quoted} > /etc/hostname && "
            f"(hostnamectl set-hostname {quoted} 2>/dev/null || hostname {quoted}) && "
            # rewritten in place, not renamed: /etc/hosts may be a bind mount (containers)
            f"tmp=$(mktemp) && grep -v '^127\\.0\\.1\\.1[[:space:]]' /etc/hosts > $tmp; "
            f"printf '127.0.1.1\\t%s\\n' {quoted} >> $tmp && cat $tmp > /etc/hosts && rm -f $tmp"
        )
        what = (f"set hostname {facts.hostname or '?'} -> {name}" if facts.hostname != name
                else f"put {name} on the 127.0.1.1 line of /etc/hosts")
        return Plan((Step(what, command, sudo=True),))
