"""Every command declared once: its help, its arguments, its phases and what runs after it.

`cli/main.py` builds the parser from COMMANDS, `actions.run_action` runs a command's phases
and after-steps by it, and `cms help swarm` is generated from the parser it builds. A new
command is one entry here (k0sctl's action list, Ansible's module argument specs).
Importing this module imports no phase: a command's phases are names (`actions.PHASES`).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from cloudmesh.swarm.cli import image, lab, using
from cloudmesh.swarm.options import DOCKER_REPO

SubParsers = Any  # argparse._SubParsersAction[argparse.ArgumentParser], private in typeshed


def _port(text: str) -> int:
    """An argparse type: a TCP port number, or a clear error."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port number (1-65535)")
    return value


@dataclass(frozen=True)
class Flag:
    """One argparse argument as data: its names and `add_argument`'s keywords."""

    names: tuple[str, ...]
    keywords: tuple[tuple[str, Any], ...] = ()

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(*self.names, **dict(self.keywords))

    @property
    def dest(self) -> str:
        given = dict(self.keywords).get("dest")
        long = next((n for n in self.names if n.startswith("--")), self.names[0])
        return str(given or long.lstrip("-").replace("-", "_"))


def flag(*names: str, **keywords: Any) -> Flag:
    return Flag(names, tuple(keywords.items()))


# -- argument groups shared by commands ----------------------------------------------------
COMMON = (
    flag("--user", help="SSH user for a host list (default: pi)"),
    flag("--key", metavar="FILE", help="SSH private key (default: agent / ~/.ssh)"),
    flag("--port", type=_port, help="SSH port (default: 22)"),
    flag("--name", default="swarm", help="cluster name for a host list (default: swarm)"),
    flag("--strict-host-keys", action="store_true",
         help="refuse hosts whose key is not in known_hosts (default: accept new)"),
    flag("--ask-become-pass", action="store_true",
         help="prompt for the sudo password (kept in memory only)"),
    flag("--concurrency", type=int, default=32, metavar="N", help="hosts worked on at once (default: 32)"),
    flag("--connect-timeout", type=float, default=15.0, metavar="S",
         help="SSH connect timeout in seconds (default: 15)"),
    flag("-q", "--quiet", action="store_true", help="only errors and the result"),
    flag("-v", "--verbose", action="store_true", help="show the commands run"),
    flag("--json", action="store_true",
         help="one JSON document on stdout (docs/result.schema.json); human output on stderr"),
)
INVENTORY = flag("-i", "--inventory", metavar="FILE", help="inventory YAML file")
HOST_LIST = (flag("hosts", nargs="?", metavar="HOSTS",
                  help="host list such as pi[85-87], or NAME=ADDRESS,... (instead of -i)"),
             INVENTORY, *COMMON)
TARGETS = (flag("targets", metavar="HOSTS",
                help="the hosts to act on: inventory names, e.g. pi3 or pi[3-4]"),
           flag("--cluster", dest="hosts", metavar="HOSTLIST",
                help="the cluster as a host list (instead of -i)"),
           INVENTORY, *COMMON)
ONE_HOST = (flag("archive", metavar="ARCHIVE", help="a .tar.gz written by backup"),
            flag("--host", required=True, metavar="HOST",
                 help="where to restore: an inventory name, NAME=ADDRESS, or an address"),
            INVENTORY, *COMMON)
DRY_RUN = flag("--dry-run", action="store_true",
               help="print per host the exact commands it would run; change nothing")
EVEN_MANAGERS = "allow an even number of managers"


def force(help_text: str) -> Flag:
    return flag("--force", action="store_true", help=help_text)


AUTOLOCK = flag("--autolock", action="store_true",
                help="turn swarm autolock on; the unlock key is shown once")
TEST_SERVICE = (
    flag("--test-image", default="", metavar="IMAGE",
         help="busybox-like image (sh, httpd, nc) for the test service, pulled by the nodes where "
              "missing (default: each node makes its own from busybox-static; no registry needed)"),
    flag("--verify-port", type=_port, default=38080, metavar="PORT",
         help="host-mode port of the test service (default: 38080)"),
)
ENGINE = (
    flag("--engine", default="distro", metavar="ENGINE",
         help="distro: docker.io from the OS (default); docker-ce: from Docker's apt repository"),
    flag("--engine-version", dest="engine_version", default="", metavar="V",
         help="apt version of the engine to install (default: the newest)"),
    flag("--engine-repo", default=DOCKER_REPO, metavar="URL",
         help=f"docker-ce: Docker's repository or a mirror of it (default: {DOCKER_REPO})"),
)
FIXES = (
    flag("--fix-clock", action="store_true",
         help="set clocks more than 30 s off from this machine's (and NTP on)"),
    flag("--fix-identities", action="store_true",
         help="give cloned cards their own machine-id, SSH host keys (known_hosts updated) and "
              "Docker engine ID"),
)

# what runs after a command's phases (actions._run), when they succeeded for real
After = Literal["status", "write-context", "keep-context", "key-login", "inventory-file"]
Report = Literal["summary", "status", "context"]  # status/context: the swarm's table, no summary


@dataclass(frozen=True)
class Command:
    """One command: how it is parsed, which phases it runs, and what happens around them."""

    name: str
    help: str
    flags: tuple[Flag, ...] = HOST_LIST  # every argument, in --help order
    phases: tuple[str, ...] = ()  # names in actions.PHASES, run in this order
    forms: bool = False  # forms or joins the swarm: an even manager count is bad input
    report: Report = "summary"
    after: tuple[After, ...] = ()
    # what cli/main reads for it before any host is touched: plain, targets (inventory hosts),
    # add (new hosts), keys/unlock (a secret), harden; backup/restore: backup.py runs them
    extras: str = "plain"
    options: Callable[[argparse.ArgumentParser], None] | None = None  # added before `flags`
    parser: Callable[[SubParsers], None] | None = None  # builds its own sub-parser (lab, image)
    run: Callable[[argparse.Namespace], int] | None = None  # runs itself, not through run_action
    usage: str = ""  # its docopt line for `cms help swarm` where the generated one falls short
    dests: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "dests", frozenset(f.dest for f in self.flags))

    @property
    def changes_hosts(self) -> bool:
        """It offers --dry-run (check too: --fix changes hosts)."""
        return DRY_RUN in self.flags


_NODE_OP = ("nodes",)
_LIST: tuple[Command, ...] = (
    Command("create", "all phases: check, install Docker, form the swarm, verify; then show status",
            (*HOST_LIST, DRY_RUN, force(EVEN_MANAGERS), AUTOLOCK, *TEST_SERVICE,
             flag("--skip-verify", action="store_true", help="do not run the verify phase"),
             flag("--use", action="store_true",
                  help="make the Docker context swarm-CLUSTER current (docker context use)"),
             *ENGINE, *FIXES),
            ("prepare", "install", "configure", "autolock", "verify"), forms=True,
            after=("status", "write-context")),
    Command("check", "preflight checks only (the prepare phase); changes nothing",
            (*HOST_LIST, DRY_RUN, *FIXES,
             flag("--fix", dest="fix_identities", action="store_true", help="the same as --fix-identities")),
            ("prepare",)),
    Command("install", "install and start the Docker engine (docker.io; --engine docker-ce), logs rotated",
            (*HOST_LIST, DRY_RUN, *ENGINE), ("prepare", "install")),
    Command("init", "form or complete the swarm: init, join managers, join workers, labels",
            (*HOST_LIST, DRY_RUN, force(EVEN_MANAGERS), AUTOLOCK),
            ("prepare", "configure", "autolock"), forms=True),
    Command("verify", "test the swarm: node health, a test service on every node, overlay, mesh",
            (*HOST_LIST, DRY_RUN, *TEST_SERVICE), ("verify",)),
    Command("status", "one table of nodes, plus hosts that are unreachable or not in the swarm",
            report="status", after=("keep-context",)),
    Command("reset", "every host leaves the swarm (workers first); --purge also removes Docker",
            (*HOST_LIST, DRY_RUN, flag("--purge", action="store_true", help="also remove Docker and its data")),
            ("reset",)),
    Command("keys", "key login from the first contact: install your public key with the password once",
            (*HOST_LIST, DRY_RUN,
             flag("--password-stdin", action="store_true",
                  help="read the login password from stdin (default: prompt)"),
             flag("--accept-host-key", action="store_true",
                  help="send the password to a host whose key is not yet in known_hosts "
                       "(default: refuse, showing its fingerprint to check)")),
            ("keys",), after=("key-login",), extras="keys"),
    Command("harden", "turn off password and root login in sshd (after key login works); --undo",
            (*HOST_LIST, DRY_RUN,
             flag("--undo", action="store_true", help="remove what harden wrote (password login as before)")),
            ("harden",), extras="harden"),
    Command("rotate-tokens", "rotate both swarm join tokens (old tokens stop working)",
            (*HOST_LIST, DRY_RUN), ("rotate-tokens",)),
    Command("unlock", "unlock autolocked managers after a restart (key from a prompt or stdin)",
            (*HOST_LIST, DRY_RUN,
             flag("--unlock-key-stdin", action="store_true",
                  help="read the unlock key from stdin (default: prompt)")),
            ("unlock",), extras="unlock"),
    Command("hostname", "give every host its inventory name (/etc/hostname, /etc/hosts, hostnamectl)",
            (*HOST_LIST, DRY_RUN), ("hostname",)),
    Command("promote", "make nodes managers (an even manager count needs --force)",
            (*TARGETS, DRY_RUN, force(EVEN_MANAGERS)), _NODE_OP, extras="targets"),
    Command("demote", "make managers workers (never the last one; an even count needs --force)",
            (*TARGETS, DRY_RUN, force(EVEN_MANAGERS)), _NODE_OP, extras="targets"),
    Command("drain", "move all tasks off nodes (availability drain)",
            (*TARGETS, DRY_RUN), _NODE_OP, extras="targets"),
    Command("activate", "let nodes run tasks again (availability active)",
            (*TARGETS, DRY_RUN), _NODE_OP, extras="targets"),
    Command("label", "set node labels key=value (key- removes one)",
            (*TARGETS, flag("labels", nargs="+", metavar="KEY=VALUE",
                            help="labels to set (key=value) or remove (key-)"), DRY_RUN),
            _NODE_OP, extras="targets"),
    Command("rebalance", "keep an odd manager count: 1-2 ready nodes -> 1, 3-4 -> 3, 5+ -> 5",
            (*HOST_LIST, DRY_RUN), _NODE_OP),
    Command("add", "prepare, install and join new hosts; the inventory file gets them (comments kept)",
            (*TARGETS, DRY_RUN,
             flag("--role", choices=("manager", "worker"),
                  help="role of the new hosts (default: the inventory's rule)"), *ENGINE, *FIXES),
            ("prepare", "install", "configure"), forms=True, after=("status", "inventory-file"),
            extras="add"),
    Command("remove", "demote, drain, leave and remove nodes; refuses to lose quorum (--force)",
            (*TARGETS, DRY_RUN, force("remove even when that loses the last manager or quorum")),
            ("remove",), after=("keep-context", "inventory-file"), extras="targets"),
    Command("upgrade", "rolling Docker engine upgrade: one node at a time, workers first, leader last",
            (*HOST_LIST, flag("--version", dest="engine_version", default="", metavar="V",
                              help="engine version (docker.io or docker-ce) as apt names it "
                                   "(default: the newest apt offers)"), DRY_RUN),
            ("upgrade",)),
    Command("backup", "archive a manager's swarm state (Docker stopped there meanwhile), sha256 beside it",
            (*HOST_LIST, flag("-o", "--output", metavar="FILE",
                              help="archive to write (default: swarm-CLUSTER-DATE.tar.gz here)"),
             DRY_RUN, force("replace an existing -o file")), extras="backup"),
    Command("restore", "bring a swarm back from a backup on a (fresh) host with --force-new-cluster",
            (*ONE_HOST, DRY_RUN, force("replace the swarm the host is in now")), extras="restore"),
    Command("context", "write the Docker context swarm-CLUSTER (ssh to a manager; --use)",
            report="context", after=("write-context",), options=using.context_options),
    Command("deploy", "docker stack deploy compose files on a manager, wait until all services run "
            "(--rm: remove)", options=using.deploy_options, run=using.deploy_run,
            usage=("deploy NAME [HOSTS] [-i FILE] (-c FILE... | --rm) [--image-archive=TAR...] "
                   "[--timeout=S] [--resolve-image=WHEN] [--json]")),
    Command("services", "the swarm's services: replicas, image, ports, nodes",
            options=using.services_options, run=using.services_run),
    Command("completion", "print a completion script: bash, zsh or fish (see docs/using.md)", (),
            options=using.completion_options, run=using.completion_run),
    Command("inventory", "inventory new HOSTS: write a commented inventory from a host list", (),
            options=using.inventory_options, run=using.inventory_run),
    Command("lab", lab.HELP, (), parser=lab.add_parser, run=lab.run),
    Command("image", image.HELP, (), parser=image.add_parser, run=image.run),
)
COMMANDS: dict[str, Command] = {command.name: command for command in _LIST}
ON_HOSTS = {name: c for name, c in COMMANDS.items() if c.run is None}  # run through run_action/backup
