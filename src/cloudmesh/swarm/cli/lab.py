"""`cms-swarm lab up|down|status|ssh`: simulated Pis on this machine (see cloudmesh.swarm.lab)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys

from cloudmesh.swarm.errors import UsageError

HELP = "simulated Raspberry Pis on this machine (containers with systemd and sshd)"


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    lab = commands.add_parser("lab", help=HELP, description=HELP)
    verbs = lab.add_subparsers(dest="lab_command", metavar="VERB", required=True)
    up = verbs.add_parser("up", help="start N lab hosts (default 3) and write their inventory",
                          description="Build the lab image once (debootstrap), start hosts "
                          "pi1..piN, and print the path of an inventory every command accepts.")
    up.add_argument("count", nargs="?", type=int, metavar="N",
                    help="hosts pi1..piN (default 3, or the highest host named in --hosts)")
    up.add_argument("--os", default="bookworm", metavar="RELEASE",
                    help="release of new hosts: bookworm (default) or trixie")
    up.add_argument("--arch", default="amd64", metavar="ARCH",
                    help="architecture of new hosts: amd64 (default) or arm64 (qemu-user: "
                    "no containers run, see docs/lab.md)")
    up.add_argument("--offline", action="store_true",
                    help="air-gapped hosts: routes only to the apt mirror and this machine's "
                    "name servers (no registry reachable)")
    up.add_argument("--hosts", metavar="SPEC", help="per-host kinds, e.g. "
                    "'pi[1-2]:bookworm,pi3:trixie:arm64' (unnamed hosts: --os, --arch)")
    verbs.add_parser("down", help="remove the lab's hosts, volumes, network and files")
    status = verbs.add_parser("status", help="the lab's hosts, addresses and states")
    status.add_argument("--json", action="store_true", help="the same as JSON")
    ssh = verbs.add_parser("ssh", help="log in to a lab host as pi (or run a command there)")
    ssh.add_argument("host", metavar="NAME", help="a lab host, e.g. pi1")
    ssh.add_argument("remote", nargs=argparse.REMAINDER, metavar="COMMAND",
                     help="command to run instead of a login shell")
    for verb in verbs.choices.values():
        verb.add_argument("--name", default="lab", help="lab name (default: lab)")
        verb.add_argument("--subnet", default="10.77.0.0/24",
                          help="the lab network (default: 10.77.0.0/24; hosts at .11, .12, ...)")


def run(args: argparse.Namespace) -> int:
    """Run one lab verb; errors propagate to main's exit-code mapping as SwarmErrors."""
    import docker.errors

    from cloudmesh.swarm.lab.image import LabError

    try:
        return _run(args)
    except docker.errors.DockerException as error:
        explanation = getattr(error, "explanation", None) or str(error)
        raise LabError(f"lab {args.lab_command}: the Docker engine said: {explanation}") from None


def _run(args: argparse.Namespace) -> int:
    from cloudmesh.swarm.lab.hosts import Lab

    lab = Lab(args.name, args.subnet)
    if args.lab_command == "up":
        from cloudmesh.swarm.lab.hosts import parse_hosts_spec
        from cloudmesh.swarm.lab.image import Kind

        default = Kind(args.os, args.arch)
        kinds = parse_hosts_spec(args.hosts, default) if args.hosts else {}
        count = args.count if args.count is not None else max(kinds, default=3)
        path = lab.up(count, say=lambda text: print(text, file=sys.stderr), default=default,
                      kinds=kinds, offline=args.offline)
        print(path)
        return 0
    if args.lab_command == "down":
        removed = lab.down()
        print(f"removed {len(removed)} lab host(s)" + (f": {', '.join(removed)}" if removed else ""))
        return 0
    if args.lab_command == "status":
        hosts = lab.hosts()
        if args.json:
            print(json.dumps({"lab": lab.name, "inventory": str(lab.inventory_path),
                              "hosts": [vars(h) for h in hosts]}, indent=2))
        elif not hosts:
            print(f"lab {lab.name!r} has no hosts; start some with: cms-swarm lab up 3")
        else:
            from rich.console import Console
            from rich.table import Table

            table = Table("host", "kind", "address", "container", "state", title=f"lab {lab.name}")
            for host in hosts:
                table.add_row(host.name, host.kind, host.address, host.container, host.state)
            Console().print(table)
            print(f"inventory: {lab.inventory_path}")
        return 0
    if args.lab_command == "ssh":
        argv = lab.ssh_command(args.host, args.remote)
        if shutil.which("ssh") is None:
            raise UsageError("lab ssh needs the OpenSSH client: apt-get install openssh-client")
        sys.stdout.flush()
        os.execvp("ssh", argv)
    raise UsageError(f"unknown lab command {args.lab_command!r}")
