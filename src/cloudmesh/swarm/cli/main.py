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

from cloudmesh.swarm import __version__, commands
from cloudmesh.swarm.errors import InputError, SwarmError, UsageError
from cloudmesh.swarm.options import DOCKER_REPO
from cloudmesh.swarm.plan import printable

if TYPE_CHECKING:  # imported lazily at run time: a no-op command starts fast
    from cloudmesh.swarm.inventory import Inventory

COMMANDS = commands.ON_HOSTS  # the commands that work on hosts (lab, image, deploy, ... run themselves)
ENGINES = ("distro", "docker-ce")
EPILOG = """\
hosts come from -i FILE (see docs/inventory.md) or a host list such as pi[85-87]
or 10.1.1.[2-5] with --user/--key/--port. Exit codes: 0 ok, 1 a host failed,
2 bad input (nothing was done). Logs: ~/.cloudmesh/swarm/logs/<cluster>/<host>.log
After create: docker --context swarm-<cluster> ..., cms-swarm deploy/services, --json,
cms-swarm completion bash|zsh|fish (docs/using.md).
"""


class Parser(argparse.ArgumentParser):
    """argparse, but `--opt=--` gives the value "--" (argparse drops it and hands on [], which
    the checks behind it do not expect): the value then meets the option's own check."""

    def _get_values(self, action: argparse.Action, arg_strings: list[str]) -> Any:
        if action.option_strings and action.nargs is None and arg_strings == ["--"]:
            return self._get_value(action, "--")
        return super()._get_values(action, arg_strings)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="cms-swarm", description="From bare Debian-family hosts to a verified Docker Swarm.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"cloudmesh-swarm {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in commands.COMMANDS.values():
        if command.parser is not None:  # lab, image: verbs of their own
            command.parser(subparsers)
            continue
        sub = subparsers.add_parser(command.name, help=command.help, description=command.help,
                                    epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
        if command.options is not None:
            command.options(sub)
        for flag in command.flags:
            flag.add_to(sub)
    return parser


def load_inventory(args: argparse.Namespace) -> Inventory:
    """The inventory from -i or from a host list; UsageError when neither or both.
    For `restore`, --host is the host list, or picks its one host from -i."""
    from cloudmesh.swarm import inventory

    restore = "host" in commands.COMMANDS[args.command].dests  # --host: one host from -i
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
    command = commands.COMMANDS[args.command]
    key = inventory.ssh.key
    if key is not None and command.extras != "keys" and not key.expanduser().is_file():
        flag = "--key" if args.key else "ssh.key"
        raise UsageError(f"{flag}: {key} is not a file (keys makes one: cms-swarm keys HOSTS)")
    if getattr(args, "test_image", ""):  # "": verify makes its own
        from cloudmesh.swarm.phases.verify import check_image

        check_image(args.test_image)
    if "hostname" in command.phases:
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

    if args.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    if not math.isfinite(args.connect_timeout) or not 0 < args.connect_timeout <= 3600:
        raise UsageError("--connect-timeout must be a number of seconds, more than 0 and at most 3600")
    _check_input(args, inventory)
    if commands.COMMANDS[args.command].forms:  # forming with an even count is bad input
        managers(inventory, getattr(args, "force", False))
    engine, engine_version, engine_repo = _engine_options(args)
    password = None
    if args.ask_become_pass:
        from cloudmesh.swarm.credentials import ask_become_password

        password = ask_become_password()
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

    command = commands.COMMANDS[args.command]
    inventory = load_inventory(args)
    new_hosts: list[dict[str, Any]] = []
    implied: list[str] = []
    if command.extras == "add":  # its targets are new hosts
        from cloudmesh.swarm.inventory import expand_hosts, extend

        inventory, new_hosts, implied = extend(inventory, expand_hosts(args.targets), args.role)
    options = checked_options(args, inventory)
    if command.extras in ("backup", "restore"):  # not phases: backup.py runs them
        from cloudmesh.swarm import backup

        reporter = reporter_for(args)
        if command.extras == "backup":
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
                      show_status="status" in command.after, as_json=as_json,
                      connector=connector, extras=extras)
    if code == 0 and args.inventory and not options.dry_run and "inventory-file" in command.after:
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
    if commands.COMMANDS[args.command].extras != "add":  # remove
        inventory_file.remove_hosts(path, targets)
        print(f"{path}: removed {', '.join(targets)}", file=out)
    elif new_hosts:
        inventory_file.add_hosts(path, new_hosts, implied)
        print(f"{path}: added {', '.join(h['name'] for h in new_hosts)}", file=out)


def _extras(args: argparse.Namespace, inventory: Any) -> tuple[Any, Any]:
    """Secrets and connector a command needs beyond RunOptions (read before any host is touched)."""
    from cloudmesh.swarm.actions import Extras
    from cloudmesh.swarm.credentials import DEFAULT_KEY, read_secret
    from cloudmesh.swarm.runner import ssh_connector

    kind = commands.COMMANDS[args.command].extras
    if kind == "targets":
        return Extras(targets=_targets(args, inventory), labels=_labels(args)), ssh_connector
    if kind == "unlock":
        key = read_secret("swarm unlock key", "--unlock-key-stdin", args.unlock_key_stdin)
        return Extras(secrets={"unlock": key}), ssh_connector
    if kind == "keys":
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
    if kind == "harden" and not args.undo:
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
        run_itself = commands.COMMANDS[args.command].run  # lab, image, deploy, services, ...
        return int(run_itself(args)) if run_itself is not None else dispatch(args)
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
    import traceback

    from cloudmesh.swarm.hostlog import state_dir
    from cloudmesh.swarm.plan import redact
    from cloudmesh.swarm.private_files import private_dir, write_private

    where = "the log could not be written"
    try:
        path = private_dir(state_dir() / "logs") / "internal-errors.log"
        write_private(path, redact("".join(traceback.format_exception(error))) + "\n", append=True)
        where = f"traceback in {path}"
    except OSError:
        pass
    text = " ".join(printable(str(error)).split())[:300]
    print(f"error: internal error: {type(error).__name__}: {text} ({where})", file=sys.stderr)
    return 1


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
