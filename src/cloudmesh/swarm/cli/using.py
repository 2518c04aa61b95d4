"""Commands for using the swarm from this machine: context, deploy, services, completion,
inventory new: their own options and run functions (each declared in commands.py)."""

from __future__ import annotations

import argparse
import math
import re
import sys
from pathlib import Path
from typing import Any

from cloudmesh.swarm.errors import UsageError

_STACK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}\Z")
SHELLS = ("bash", "zsh", "fish")


# -- context ---------------------------------------------------------------------------------
def context_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--use", action="store_true",
                     help="make it the docker CLI's current context (docker context use)")


def deploy_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("stack", metavar="NAME", help="the stack's name")
    sub.add_argument("-c", "--compose-file", dest="compose", action="append", default=[],
                     metavar="FILE", help="compose file; repeat for overrides (later wins)")
    sub.add_argument("--rm", action="store_true", help="remove the stack instead")
    sub.add_argument("--timeout", type=float, default=300.0, metavar="S",
                     help="seconds to wait for every service's tasks to run (default: 300)")
    sub.add_argument("--image-archive", dest="archives", action="append", default=[],
                     metavar="TAR", help="a `docker save` file loaded on every host first "
                     "(images without a registry); repeatable")
    sub.add_argument("--resolve-image", default="always", choices=("always", "changed", "never"),
                     help="ask a registry for image digests (docker's default: always); "
                          "never: use the images the nodes have (no registry)")


def deploy_run(args: argparse.Namespace) -> int:
    from cloudmesh.swarm import stack

    if not _STACK.match(args.stack):
        raise UsageError(f"NAME: {args.stack!r} is not a stack name (letters, digits, '_.-')")
    if args.rm and args.compose:
        raise UsageError("--rm removes a stack: give no -c FILE with it")
    if not args.rm and not args.compose:
        raise UsageError("-c FILE: deploy needs at least one compose file")
    files = [Path(f).expanduser() for f in args.compose]
    for path in files:
        if not path.is_file():
            raise UsageError(f"-c: {path} is not a file")
    archives = tuple(Path(f).expanduser() for f in args.archives)
    for path in archives:
        if not path.is_file():
            raise UsageError(f"--image-archive: {path} is not a file")
    if not math.isfinite(args.timeout) or args.timeout <= 0:
        raise UsageError("--timeout must be a number of seconds, more than 0")
    inventory, options, reporter = _prepared(args)
    if args.rm:
        result = stack.remove(inventory, options, reporter, args.stack)
        code = 0
    else:
        result = stack.deploy(inventory, options, reporter, args.stack, files, args.timeout,
                              args.resolve_image, archives)
        code = 0 if result["converged"] else 1
    _emit(args, reporter, result, code)
    return code


def services_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--stack", default="", metavar="NAME", help="only this stack's services")


def services_run(args: argparse.Namespace) -> int:
    from cloudmesh.swarm import stack

    if args.stack and not _STACK.match(args.stack):
        raise UsageError(f"--stack: {args.stack!r} is not a stack name")
    inventory, options, reporter = _prepared(args)
    result = stack.services(inventory, options, reporter, args.stack)
    if not args.json:
        reporter.services(result["services"])
    _emit(args, reporter, result, 0)
    return 0


def _prepared(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    from cloudmesh.swarm.cli.main import checked_options, load_inventory, reporter_for

    inventory = load_inventory(args)
    return inventory, checked_options(args, inventory), reporter_for(args)


def _emit(args: argparse.Namespace, reporter: Any, result: dict[str, Any], code: int) -> None:
    if args.json:
        reporter.document({"command": args.command, "ok": code == 0, "exit_code": code,
                           "dry_run": False, **result})


# -- completion ------------------------------------------------------------------------------
def completion_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("shell", choices=SHELLS, help="the shell to complete in")


def completion_run(args: argparse.Namespace) -> int:
    from argcomplete.shell_integration import shellcode

    sys.stdout.write(shellcode(["cms-swarm"], shell=args.shell))
    return 0


def inventory_hosts(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> list[str]:
    """Completion of host names: those of the inventory given with -i on the line."""
    path = getattr(parsed_args, "inventory", None)
    if not path:
        return []
    try:
        from cloudmesh.swarm.inventory import load

        return [h.name for h in load(path).hosts if h.name.startswith(prefix)]
    except Exception:  # noqa: BLE001 (completion never fails loudly)
        return []


# -- inventory new ---------------------------------------------------------------------------
def inventory_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("verb", choices=("new",), help="new: write an inventory from a host list")
    sub.add_argument("hosts", metavar="HOSTS", help="host list such as red[01-03], or NAME=ADDRESS,...")
    sub.add_argument("--user", default="pi", help="SSH user (default: pi)")
    sub.add_argument("--key", metavar="FILE", help="SSH private key (default: agent / ~/.ssh)")
    sub.add_argument("--port", type=int, default=22, help="SSH port (default: 22)")
    sub.add_argument("--name", default="", help="cluster name (default: from -o, else swarm)")
    sub.add_argument("-o", "--output", metavar="FILE", help="file to write (default: stdout)")
    sub.add_argument("--force", action="store_true", help="replace an existing -o file")
    sub.add_argument("--no-resolve", action="store_true",
                     help="keep names as addresses (no DNS lookups here)")


def inventory_run(args: argparse.Namespace) -> int:
    from cloudmesh.swarm.inventory_new import new_inventory

    out = Path(args.output).expanduser() if args.output else None
    if out is not None and out.exists() and not args.force:
        raise UsageError(f"-o: {out} exists (--force replaces it)")
    if out is not None and not out.parent.is_dir():
        raise UsageError(f"-o: {out.parent} is not a directory")
    if not 1 <= args.port <= 65535:
        raise UsageError(f"--port: {args.port} is not a port number (1-65535)")
    name = args.name or (re.sub(r"[^A-Za-z0-9_.-]", "-", out.stem) if out else "swarm")
    text = new_inventory(args.hosts, user=args.user, key=args.key, port=args.port, name=name,
                         resolve_names=not args.no_resolve)
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
        print(f"{out}: inventory of {text.count('  - name: ')} hosts; next: cms-swarm check -i {out}",
              file=sys.stderr)
    return 0
