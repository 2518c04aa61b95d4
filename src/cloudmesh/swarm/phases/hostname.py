"""Hostname: give every host its inventory name, the way the seed did by hand.

All Pis are born `raspberrypi`, and a swarm (and `check`) needs unique hostnames. Like
raspi-config: /etc/hostname, the 127.0.1.1 line of /etc/hosts (so sudo can resolve its own
name), and hostnamectl where systemd-hostnamed runs; `hostname` otherwise.
"""

from __future__ import annotations

import shlex

from cloudmesh.swarm.phases import Context, Phase
from cloudmesh.swarm.plan import Plan, Step


class HostnamePhase(Phase):
    title = "Set hostnames"

    def plan(self, ctx: Context, host: str, stage: str) -> Plan:
        facts = ctx.facts[host]
        name = host.split(".")[0]
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
