"""`cms-swarm`: parse arguments, build the inventory, run an action, map errors to exit codes.

Exit codes: 0 success, 1 a host failed, 2 bad input (and then nothing was done).
This is the only module that turns exceptions into exit codes; `run` is the only exit.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cloudmesh.swarm import __version__
from cloudmesh.swarm.errors import InputError, SwarmError, UsageError
from cloudmesh.swarm.options import DOCKER_REPO
from cloudmesh.swarm.plan import printable

if TYPE_CHECKING:  # imported lazily at run time: a no-op command starts fast
    from cloudmesh.swarm.inventory import Inventory

COMMANDS = {
    "create": "all phases: check, install Docker, form the swarm, verify; then show status",
    "check": "preflight checks only (the prepare phase); changes nothing",
    "install": "install and start the Docker engine (docker.io; --engine docker-ce), logs rotated",
    "init": "form or complete the swarm: init, join managers, join workers, labels",
    "verify": "test the swarm: node health, a test service on every node, overlay, mesh",
    "status": "one table of nodes, plus hosts that are unreachable or not in the swarm",
    "reset": "every host leaves the swarm (workers first); --purge also removes Docker",
    "keys": "key login from the first contact: install your public key with the password once",
    "harden": "turn off password and root login in sshd (after key login works); --undo",
    "rotate-tokens": "rotate both swarm join tokens (old tokens stop working)",
    "unlock": "unlock autolocked managers after a restart (key from a prompt or stdin)",
    "hostname": "give every host its inventory name (/etc/hostname, /etc/hosts, hostnamectl)",
    "promote": "make nodes managers (an even manager count needs --force)",
    "demote": "make managers workers (never the last one; an even count needs --force)",
    "drain": "move all tasks off nodes (availability drain)",
    "activate": "let nodes run tasks again (availability active)",
    "label": "set node labels key=value (key- removes one)",
    "rebalance": "keep an odd manager count: 1-2 ready nodes -> 1, 3-4 -> 3, 5+ -> 5",
    "add": "prepare, install and join new hosts; the inventory file gets them (comments kept)",
    "remove": "demote, drain, leave and remove nodes; refuses to lose quorum (--force)",
    "upgrade": "rolling Docker engine upgrade: one node at a time, workers first, leader last",
    "backup": "archive a manager's swarm state (Docker stopped there meanwhile), sha256 beside it",
    "restore": "bring a swarm back from a backup on a (fresh) host with --force-new-cluster",
}
CHANGES_HOSTS = {"create", "install", "init", "reset", "keys", "harden", "rotate-tokens", "unlock",
                 "hostname", "promote", "demote", "drain", "activate", "label", "rebalance",
                 "add", "remove", "backup", "restore", "upgrade"}
FORCE_HELP = {
    "create": "allow an even number of managers", "init": "allow an even number of managers",
    "promote": "allow an even number of managers", "demote": "allow an even number of managers",
    "remove": "remove even when that loses the last manager or quorum",
    "restore": "replace the swarm the host is in now",
    "backup": "replace an existing -o file",
}
ENGINES = ("distro", "docker-ce")
TARGETED = {"promote", "demote", "drain", "activate", "label", "add", "remove"}  # some hosts of a cluster
EPILOG = """\
hosts come from -i FILE (see docs/inventory.md) or a host list such as pi[85-87]
or 10.1.1.[2-5] with --user/--key/--port. Exit codes: 0 ok, 1 a host failed,
2 bad input (nothing was done). Logs: ~/.cloudmesh/swarm/logs/<cluster>/<host>.log
After create: docker --context swarm-<cluster> ..., cms-swarm deploy/services, --json,
cms-swarm completion bash|zsh|fish (docs/using.md).
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cms-swarm", description="From bare Debian-family hosts to a verified Docker Swarm.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"cloudmesh-swarm {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text, epilog=EPILOG,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
        if name == "restore":
            sub.add_argument("archive", metavar="ARCHIVE", help="a .tar.gz written by backup")
            sub.add_argument("--host", required=True, metavar="HOST",
                             help="where to restore: an inventory name, NAME=ADDRESS, or an address")
            sub.add_argument("-i", "--inventory", metavar="FILE", help="inventory YAML file")
            _add_common_options(sub)
        else:
            _add_host_options(sub, targeted=name in TARGETED)
        if name == "upgrade":
            sub.add_argument("--version", dest="engine_version", default="", metavar="V",
                             help="engine version (docker.io or docker-ce) as apt names it (default: the newest apt offers)")
        if name == "backup":
            sub.add_argument("-o", "--output", metavar="FILE",
                             help="archive to write (default: swarm-CLUSTER-DATE.tar.gz here)")
        if name == "label":
            sub.add_argument("labels", nargs="+", metavar="KEY=VALUE",
                             help="labels to set (key=value) or remove (key-)")
        if name in CHANGES_HOSTS or name == "check":  # check --fix changes hosts
            sub.add_argument("--dry-run", action="store_true",
                             help="print per host the exact commands it would run; change nothing")
        if name == "add":
            sub.add_argument("--role", choices=("manager", "worker"),
                             help="role of the new hosts (default: the inventory's rule)")
        if name in FORCE_HELP:
            sub.add_argument("--force", action="store_true", help=FORCE_HELP[name])
        if name in ("create", "init"):
            sub.add_argument("--autolock", action="store_true",
                             help="turn swarm autolock on; the unlock key is shown once")
        if name == "keys":
            sub.add_argument("--password-stdin", action="store_true",
                             help="read the login password from stdin (default: prompt)")
            sub.add_argument("--accept-host-key", action="store_true",
                             help="send the password to a host whose key is not yet in known_hosts "
                                  "(default: refuse, showing its fingerprint to check)")
        if name == "harden":
            sub.add_argument("--undo", action="store_true",
                             help="remove what harden wrote (password login as before)")
        if name == "unlock":
            sub.add_argument("--unlock-key-stdin", action="store_true",
                             help="read the unlock key from stdin (default: prompt)")
        if name in ("create", "verify"):
            sub.add_argument("--test-image", default="", metavar="IMAGE",
                             help="busybox-like image (sh, httpd, nc) for the test service, "
                                  "pulled by the nodes where missing (default: each node "
                                  "makes its own from busybox-static; no registry needed)")
            sub.add_argument("--verify-port", type=_port, default=38080, metavar="PORT",
                             help="host-mode port of the test service (default: 38080)")
        if name == "create":
            sub.add_argument("--skip-verify", action="store_true", help="do not run the verify phase")
            sub.add_argument("--use", action="store_true",
                             help="make the Docker context swarm-CLUSTER current (docker context use)")
        if name in ("install", "create", "add"):
            sub.add_argument("--engine", default="distro", metavar="ENGINE",
                             help="distro: docker.io from the OS (default); docker-ce: from "
                                  "Docker's apt repository")
            sub.add_argument("--engine-version", dest="engine_version", default="", metavar="V",
                             help="apt version of the engine to install (default: the newest)")
            sub.add_argument("--engine-repo", default=DOCKER_REPO, metavar="URL",
                             help=f"docker-ce: Docker's repository or a mirror of it (default: {DOCKER_REPO})")
        if name in ("check", "create", "add"):
            sub.add_argument("--fix-clock", action="store_true",
                             help="set clocks more than 30 s off from this machine's (and NTP on)")
            sub.add_argument("--fix-identities", action="store_true",
                             help="give cloned cards their own machine-id, SSH host keys (known_hosts "
                                  "updated) and Docker engine ID")
        if name == "check":
            sub.add_argument("--fix", dest="fix_identities", action="store_true",
                             help="the same as --fix-identities")
        if name == "reset":
            sub.add_argument("--purge", action="store_true", help="also remove Docker and its data")
    from cloudmesh.swarm.cli import image, lab, using

    using.add_parsers(commands, EPILOG)
    lab.add_parser(commands)
    image.add_parser(commands)
    return parser


def _add_host_options(sub: argparse.ArgumentParser, targeted: bool = False) -> None:
    if targeted:
        sub.add_argument("targets", metavar="HOSTS",
                         help="the hosts to act on: inventory names, e.g. pi3 or pi[3-4]")
        sub.add_argument("--cluster", dest="hosts", metavar="HOSTLIST",
                         help="the cluster as a host list (instead of -i)")
    else:
        sub.add_argument("hosts", nargs="?", metavar="HOSTS",
                         help="host list such as pi[85-87], or NAME=ADDRESS,... (instead of -i)")
    sub.add_argument("-i", "--inventory", metavar="FILE", help="inventory YAML file")
    _add_common_options(sub)


def _add_common_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--user", help="SSH user for a host list (default: pi)")
    sub.add_argument("--key", metavar="FILE", help="SSH private key (default: agent / ~/.ssh)")
    sub.add_argument("--port", type=_port, help="SSH port (default: 22)")
    sub.add_argument("--name", default="swarm", help="cluster name for a host list (default: swarm)")
    sub.add_argument("--strict-host-keys", action="store_true",
                     help="refuse hosts whose key is not in known_hosts (default: accept new)")
    sub.add_argument("--ask-become-pass", action="store_true",
                     help="prompt for the sudo password (kept in memory only)")
    sub.add_argument("--concurrency", type=int, default=32, metavar="N",
                     help="hosts worked on at once (default: 32)")
    sub.add_argument("--connect-timeout", type=float, default=15.0, metavar="S",
                     help="SSH connect timeout in seconds (default: 15)")
    sub.add_argument("-q", "--quiet", action="store_true", help="only errors and the result")
    sub.add_argument("-v", "--verbose", action="store_true", help="show the commands run")
    sub.add_argument("--json", action="store_true",
                     help="one JSON document on stdout (docs/result.schema.json); "
                          "human output on stderr")


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port number (1-65535)")
    return value


def load_inventory(args: argparse.Namespace) -> Inventory:
    """The inventory from -i or from a host list; UsageError when neither or both.
    For `restore`, --host is the host list, or picks its one host from -i."""
    from cloudmesh.swarm import inventory

    restore = args.command == "restore"
    hostlist = (None if args.inventory else args.host) if restore else args.hosts
    if args.inventory and hostlist:
        raise UsageError("give either -i FILE or a host list, not both")
    if args.inventory:
        if args.user or args.key or args.port:
            raise UsageError("--user/--key/--port go with a host list; with -i set them in the file")
        loaded = inventory.load(args.inventory)
        return _restore_target(loaded, args.host) if restore else loaded
    if not hostlist:
        raise UsageError("no hosts: give -i FILE or a host list such as pi[85-87]")
    listed = inventory.from_hostlist(hostlist, user=args.user, key=args.key, port=args.port,
                                     name=args.name)
    if restore and len(listed.hosts) != 1:
        raise UsageError("--host: restore goes to one host")
    return listed


def _targets(args: argparse.Namespace, inventory: Any) -> tuple[str, ...]:
    """Target host names, each one of the inventory's (bad input otherwise)."""
    from cloudmesh.swarm.inventory import expand_hosts

    names = [name for name, _ in expand_hosts(args.targets)]
    known = {host.name for host in inventory.hosts}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise UsageError(f"{', '.join(unknown)}: not in the inventory (hosts: {', '.join(sorted(known))})")
    return tuple(names)


def _labels(args: argparse.Namespace) -> tuple[str, ...]:
    import re

    labels = tuple(getattr(args, "labels", ()) or ())
    for label in labels:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*(=[^\s=]*|-)", label):
            raise UsageError(f"label {label!r}: use key=value to set or key- to remove")
    return labels


def _engine_options(args: argparse.Namespace) -> tuple[str, str, str]:
    """--engine, --engine-version and --engine-repo, checked (bad input otherwise)."""
    import re

    if not hasattr(args, "engine"):
        return "distro", "", DOCKER_REPO
    if args.engine not in ENGINES:
        raise UsageError(f"--engine: {args.engine!r} is not one of: {', '.join(ENGINES)}")
    if args.engine_version and not re.fullmatch(r"(\d+:)?[0-9][A-Za-z0-9.+~-]*", args.engine_version):
        raise UsageError(f"--engine-version: {args.engine_version!r} is not an apt version "
                         "(such as 26.1.5+dfsg1-9 or 5:28.0.4-1~debian.12~bookworm)")
    if not re.fullmatch(r"https?://[A-Za-z0-9.:\[\]_-]+(/[A-Za-z0-9._~%/-]*)?", args.engine_repo):
        raise UsageError(f"--engine-repo: {args.engine_repo!r} is not an http(s) URL")
    if args.engine_repo != DOCKER_REPO and args.engine != "docker-ce":
        raise UsageError("--engine-repo goes with --engine docker-ce")
    return args.engine, args.engine_version, args.engine_repo


def _restore_target(loaded: Any, host: str) -> Any:
    """The inventory's entry named `host`, or `host` as NAME=ADDRESS / an address."""
    from cloudmesh.swarm import inventory

    named = [h for h in loaded.hosts if h.name == host]
    if named:
        return loaded.model_copy(update={"hosts": named})
    pairs = inventory.expand_hosts(host)
    if len(pairs) != 1:
        raise UsageError("--host: restore goes to one host")
    return inventory.with_hosts(loaded, pairs)


def _check_input(args: argparse.Namespace, inventory: Any) -> None:
    """What can be checked on this machine is checked before any host is contacted."""
    key = inventory.ssh.key
    if key is not None and args.command != "keys" and not key.expanduser().is_file():
        flag = "--key" if args.key else "ssh.key"
        raise UsageError(f"{flag}: {key} is not a file (keys makes one: cms-swarm keys HOSTS)")
    if args.command in ("create", "verify") and args.test_image:  # "": verify makes its own
        from cloudmesh.swarm.phases.verify import check_image

        check_image(args.test_image)
    if args.command == "hostname":
        from cloudmesh.swarm.phases.hostname import hostname_for

        for host in inventory.hosts:
            hostname_for(host.name)
    _enough_files(len(inventory.hosts))


def _enough_files(hosts: int) -> None:
    """Each host needs a socket and a log file: raise the soft limit of open files when that is
    not enough (up to the hard limit), else bad input now rather than failures halfway."""
    import resource

    needed = 2 * hosts + 64
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        wanted = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError):
            wanted = soft
        if wanted < needed:
            raise UsageError(f"{hosts} hosts need about {needed} open files; `ulimit -n` allows "
                             f"{wanted}: raise it or give fewer hosts")


def checked_options(args: argparse.Namespace, inventory: Any) -> Any:
    """Everything checkable here checked (bad input: nothing done yet), as RunOptions."""
    from cloudmesh.swarm.inventory import managers
    from cloudmesh.swarm.options import RunOptions
    from cloudmesh.swarm.plan import Secret

    if args.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    if not math.isfinite(args.connect_timeout) or not 0 < args.connect_timeout <= 3600:
        raise UsageError("--connect-timeout must be a number of seconds, more than 0 and at most 3600")
    _check_input(args, inventory)
    if args.command in ("create", "init", "add"):  # forming with an even count is bad input
        managers(inventory, getattr(args, "force", False))
    engine, engine_version, engine_repo = _engine_options(args)
    password = None
    if args.ask_become_pass:
        import getpass

        password = Secret(getpass.getpass("sudo password: "))
    return RunOptions(
        dry_run=getattr(args, "dry_run", False),
        force=getattr(args, "force", False),
        purge=getattr(args, "purge", False),
        strict_host_keys=args.strict_host_keys,
        become_password=password,
        test_image=getattr(args, "test_image", ""),
        verify_port=getattr(args, "verify_port", 38080),
        concurrency=args.concurrency,
        connect_timeout=args.connect_timeout,
        undo=getattr(args, "undo", False),
        fix_clock=getattr(args, "fix_clock", False),
        engine=engine, engine_version=engine_version, engine_repo=engine_repo,
        fix_identities=getattr(args, "fix_identities", False),
    )


def dispatch(args: argparse.Namespace) -> int:
    from cloudmesh.swarm.actions import run_action

    inventory = load_inventory(args)
    new_hosts: list[dict[str, Any]] = []
    implied: list[str] = []
    if args.command == "add":
        from cloudmesh.swarm.inventory import expand_hosts, extend

        inventory, new_hosts, implied = extend(inventory, expand_hosts(args.targets), args.role)
    options = checked_options(args, inventory)
    if args.command in ("backup", "restore"):
        from cloudmesh.swarm import backup

        reporter = reporter_for(args)
        if args.command == "backup":
            out = Path(args.output) if args.output else None
            return backup.run_backup(inventory, options, reporter, out)
        return backup.run_restore(inventory, options, reporter, Path(args.archive),
                                  inventory.hosts[0].name)
    extras, connector = _extras(args, inventory)
    if extras.key_path is not None:
        from cloudmesh.swarm.credentials import ensure_key_pair

        public, made = ensure_key_pair(extras.key_path)
        if made:
            print(f"made a new ed25519 key pair: {extras.key_path} (.pub beside it)", file=sys.stderr)
        options = dataclasses.replace(options, public_key=public)
    as_json = getattr(args, "json", False)
    reporter = reporter_for(args)
    code = run_action(args.command, inventory, options, reporter,
                      skip_verify=getattr(args, "skip_verify", False),
                      show_status=args.command in ("create", "add"), as_json=as_json,
                      connector=connector, extras=extras)
    if code == 0 and args.inventory and not options.dry_run:
        _update_inventory_file(args, new_hosts, implied, extras.targets)
    return code


def reporter_for(args: argparse.Namespace) -> Any:
    """--json: human output goes to stderr, the one JSON document to stdout."""
    from cloudmesh.swarm.report import Reporter

    if getattr(args, "json", False):
        return Reporter(quiet=args.quiet, verbose=args.verbose, file=sys.stderr,
                        json_file=sys.stdout)
    return Reporter(quiet=args.quiet, verbose=args.verbose)


def _update_inventory_file(args: argparse.Namespace, new_hosts: list[dict[str, Any]],
                           implied: list[str], targets: tuple[str, ...]) -> None:
    """After a successful add/remove, the file says what the cluster is."""
    from cloudmesh.swarm import inventory_file

    path = Path(args.inventory).expanduser()
    out = sys.stderr if getattr(args, "json", False) else sys.stdout
    if args.command == "add" and new_hosts:
        inventory_file.add_hosts(path, new_hosts, implied)
        print(f"{path}: added {', '.join(h['name'] for h in new_hosts)}", file=out)
    elif args.command == "remove":
        inventory_file.remove_hosts(path, targets)
        print(f"{path}: removed {', '.join(targets)}", file=out)


def _extras(args: argparse.Namespace, inventory: Any) -> tuple[Any, Any]:
    """Secrets and connector a command needs beyond RunOptions (read before any host is touched)."""
    from cloudmesh.swarm.actions import Extras
    from cloudmesh.swarm.credentials import DEFAULT_KEY, read_secret
    from cloudmesh.swarm.runner import ssh_connector

    if args.command in TARGETED and args.command != "add":
        return Extras(targets=_targets(args, inventory), labels=_labels(args)), ssh_connector
    if args.command == "unlock":
        key = read_secret("swarm unlock key", "--unlock-key-stdin", args.unlock_key_stdin)
        return Extras(secrets={"unlock": key}), ssh_connector
    if args.command == "keys":
        from cloudmesh.swarm.transport import SshTransport

        password = read_secret("SSH login password", "--password-stdin", args.password_stdin)
        pinned_only = not args.accept_host_key

        async def with_password(target: Any, options: Any) -> Any:
            # the password goes only to a host whose key is pinned, or one the user accepted
            if pinned_only and not target.strict_host_keys:
                target = dataclasses.replace(target, strict_host_keys=True, strict_reason=(
                    "keys sends your password only to a known host: check the fingerprint, then "
                    "re-run with --accept-host-key (or pin it: ssh-keyscan HOST >> known_hosts)"))
            return await SshTransport.connect(target, options.become_password, login_password=password)

        return Extras(key_path=(inventory.ssh.key or DEFAULT_KEY).expanduser()), with_password
    if args.command == "harden" and not args.undo:
        return Extras(), key_only_connector
    return Extras(autolock=getattr(args, "autolock", False),
                  version=getattr(args, "engine_version", ""),
                  use_context=getattr(args, "use", False)), ssh_connector


async def key_only_connector(target: Any, options: Any) -> Any:
    """harden's connection: no ssh agent, only the key(s) that remain after it (ssh.key, else
    ~/.ssh/id_*), so a login that only worked through the agent is refused before any change."""
    from cloudmesh.swarm.errors import LoginRefused
    from cloudmesh.swarm.transport import SshTransport

    try:
        return await SshTransport.connect(dataclasses.replace(target, use_agent=False),
                                          options.become_password)
    except LoginRefused:
        key = target.key or "~/.ssh/id_*"
        raise LoginRefused(target.name, f"key login with {key} alone (no ssh agent) was refused; "
                           "harden would lock you out: cms-swarm keys HOST --key FILE first") from None


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code (never raises SystemExit)."""
    parser = build_parser()
    if "_ARGCOMPLETE" in os.environ:  # a shell asks for completions (cms-swarm completion)
        _complete(parser)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 2
    if args.command is None:
        parser.print_help()
        return 2
    try:
        if args.command == "lab":
            from cloudmesh.swarm.cli import lab

            return lab.run(args)
        if args.command == "image":
            from cloudmesh.swarm.cli import image

            return image.run(args)
        if hasattr(args, "run"):  # cli/using.py: context, deploy, services, completion, inventory
            return int(args.run(args))
        return dispatch(args)
    except InputError as error:
        print(f"error: {printable(str(error))}", file=sys.stderr)
        return 2
    except SwarmError as error:  # may quote a host's words: printable only
        print(f"error: {printable(str(error))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 (a bug: one line on screen, the traceback in a log)
        return _internal_error(error)


def _complete(parser: argparse.ArgumentParser) -> None:
    """Answer the shell's completion request (argcomplete) and exit: commands and options
    from the parser, inventory files for -i, host names from the -i file on the line."""
    import argcomplete

    from cloudmesh.swarm.cli.using import inventory_hosts

    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for sub in subparsers.choices.values():
        for action in sub._actions:
            if action.dest == "inventory":
                action.completer = argcomplete.completers.FilesCompleter(("yaml", "yml"))
            elif action.dest in ("hosts", "targets"):
                action.completer = inventory_hosts
    argcomplete.autocomplete(parser)


def _internal_error(error: Exception) -> int:
    """Report an unexpected exception as one line plus the log path; exit 1."""
    import os
    import traceback

    from cloudmesh.swarm.hostlog import private_dir, state_dir
    from cloudmesh.swarm.plan import redact

    where = "the log could not be written"
    try:
        path = private_dir(state_dir() / "logs") / "internal-errors.log"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as log:
            log.write(redact("".join(traceback.format_exception(error))) + "\n")
        where = f"traceback in {path}"
    except OSError:
        pass
    text = " ".join(printable(str(error)).split())[:300]
    print(f"error: internal error: {type(error).__name__}: {text} ({where})", file=sys.stderr)
    return 1


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
