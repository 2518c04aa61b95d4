"""`cms-swarm image burn|customize|capture|info`: SD-card images (see cloudmesh.swarm.image).

Every check that can fail on input runs before anything is written: the image, the
target device, the settings, the secrets (read from a prompt or stdin, never argv).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from cloudmesh.swarm.credentials import ask_become_password, read_secret
from cloudmesh.swarm.errors import InputError, SwarmError
from cloudmesh.swarm.image.errors import ImageInputError

HELP = "SD-card images: burn (verified, customised), customize, capture a host's card, info"
SECRET_ON_ARGV = ("passwords are not accepted on the command line (other users see it in `ps`, "
                  "shells keep it in history); use the prompt or --{}-stdin")


class _Refuse(argparse.Action):
    """--password VALUE and friends: refused without ever echoing the value."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        kind = "wifi-password" if "wifi" in (option_string or "") else "password"
        parser.error(f"{option_string}: " + SECRET_ON_ARGV.format(kind))


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    image = commands.add_parser("image", help=HELP, description=HELP)
    verbs = image.add_subparsers(dest="image_command", metavar="VERB", required=True)

    burn = verbs.add_parser(
        "burn", help="write an image to a card (or file), verify it, customise first boot",
        description="Write IMAGE (.img, .img.xz, .img.gz, .zip; decompressed as a stream) to "
        "DEV, verify it by reading it back, then write first-boot settings into its boot "
        "partition. With --hosts, burn one card per host, asking to swap cards in between.")
    burn.add_argument("image", metavar="IMAGE")
    burn.add_argument("--device", required=True, metavar="DEV",
                      help="whole disk (e.g. /dev/sdb) or a regular file; with --hosts, "
                           "'{host}' in DEV gives one file per host")
    names = burn.add_mutually_exclusive_group()
    names.add_argument("--hostname", metavar="NAME", help="host name of the burned Pi")
    names.add_argument("--hosts", metavar="LIST", help="host list, e.g. red[01-03]: one card each")
    burn.add_argument("--inventory-out", metavar="FILE",
                      help="with --hosts: inventory to write (default: <prefix>.yaml here)")
    burn.add_argument("--yes", action="store_true", help="do not ask before erasing DEV")
    burn.add_argument("--force", action="store_true", help="allow a non-removable disk")
    burn.add_argument("--no-verify", action="store_true", help="skip reading the card back")
    _add_settings(burn)

    custom = verbs.add_parser("customize", help="write first-boot settings into an image file",
                              description="The same first-boot settings as burn, written into "
                              "an image file (raw .img) in place; nothing is mounted.")
    custom.add_argument("image", metavar="IMAGE_FILE")
    custom.add_argument("--hostname", metavar="NAME", help="host name")
    _add_settings(custom)

    cap = verbs.add_parser("capture", help="copy a host's card over SSH into a compressed image",
                           description="Read HOST's card with sudo over SSH (after sync), "
                           "compressed on the fly, with FILE.sha256 beside it.")
    cap.add_argument("host", metavar="HOST", help="a host of -i FILE, or an address/name")
    cap.add_argument("-o", "--output", required=True, metavar="FILE",
                     help="FILE.img.xz, FILE.img.gz or FILE.img")
    cap.add_argument("--device", default="/dev/mmcblk0", help="the card on the host "
                     "(default: /dev/mmcblk0)")
    cap.add_argument("--shrink", action="store_true",
                     help="shrink the last ext4 partition to its minimum plus a margin; it "
                          "grows to the whole card again on first boot")
    cap.add_argument("--sysprep", action="store_true",
                     help="with --shrink: strip machine-id, SSH host keys, Docker's engine ID and "
                          "swarm state, so each card burned from the image is born unique")
    cap.add_argument("--margin", type=float, metavar="MB",
                     help="free space left by --shrink (default: 10%% of the used size + 32 MB)")
    cap.add_argument("--force", action="store_true", help="replace FILE if it exists")
    cap.add_argument("--json", action="store_true", help="one JSON document on stdout "
                     "(docs/result.schema.json: the host, and the image's path, sizes, sha256); "
                     "the human lines go to stderr")
    cap.add_argument("-i", "--inventory", metavar="FILE", help="inventory YAML file")
    cap.add_argument("--user", help="SSH user without -i (default: pi)")
    cap.add_argument("--key", metavar="FILE", help="SSH private key")
    cap.add_argument("--port", type=int, help="SSH port (default: 22)")
    cap.add_argument("--strict-host-keys", action="store_true",
                     help="refuse a host whose key is not in known_hosts")
    cap.add_argument("--ask-become-pass", action="store_true", help="prompt for the sudo password")
    cap.add_argument("--connect-timeout", type=float, default=15.0, metavar="S")

    info = verbs.add_parser("info", help="partitions, OS, first-boot mechanism, sha256",
                            description="Describe an image file or card; exit 1 when it is an "
                            "interrupted burn.")
    info.add_argument("file", metavar="FILE")
    info.add_argument("--json", action="store_true", help="the same as JSON")
    info.add_argument("--no-sha256", action="store_true", help="skip the checksum")
    for verb in verbs.choices.values():
        verb.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def _add_settings(sub: argparse.ArgumentParser) -> None:
    group = sub.add_argument_group("first-boot settings (written into the boot partition)")
    group.add_argument("--user", default=None, help="login user (default: pi)")
    group.add_argument("--ssh-key", metavar="FILE",
                       help="public key to authorise (default: ~/.ssh/id_ed25519.pub if present)")
    group.add_argument("--ask-password", action="store_true",
                       help="prompt for a login password (default: key-only login)")
    group.add_argument("--password-stdin", action="store_true",
                       help="read the login password from stdin's first line")
    group.add_argument("--wifi-ssid", metavar="SSID", help="Wi-Fi network (password is prompted)")
    group.add_argument("--wifi-country", metavar="CC", help="Wi-Fi country code, e.g. DE")
    group.add_argument("--wifi-hidden", action="store_true",
                       help="the network does not broadcast its SSID")
    group.add_argument("--wifi-password-stdin", action="store_true",
                       help="read the Wi-Fi password from stdin (after the login password)")
    group.add_argument("--timezone", metavar="TZ", help="e.g. Europe/Berlin")
    for flag in ("--password", "--wifi-password", "--wifi-psk", "--passwd"):
        group.add_argument(flag, action=_Refuse, nargs="?", help=argparse.SUPPRESS)


# -- settings and secrets ------------------------------------------------------------------
def _wants_settings(args: argparse.Namespace) -> bool:
    return any(getattr(args, name, None) not in (None, False) for name in (  # "" is a value
        "hostname", "hosts", "user", "ssh_key", "ask_password", "password_stdin", "wifi_ssid",
        "wifi_country", "wifi_password_stdin", "wifi_hidden", "timezone"))


def _secret(what: str, from_stdin: bool, flag: str) -> str:
    """A password being set on the card: from stdin, or asked twice on the terminal."""
    return read_secret(what, flag, from_stdin, confirm=True, error=ImageInputError).reveal()


def _public_keys(path: str | None) -> list[str]:
    if path is None:
        for name in ("id_ed25519.pub", "id_ecdsa.pub", "id_rsa.pub"):
            candidate = Path("~/.ssh").expanduser() / name
            if candidate.is_file():
                path = str(candidate)
                break
        else:
            return []
    file = Path(path).expanduser()
    if file.suffix != ".pub" and Path(f"{file}.pub").is_file():
        file = Path(f"{file}.pub")
    try:
        if file.exists() and not file.is_file():
            raise ImageInputError(f"--ssh-key: {file} is not a regular file")
        text = file.read_text(encoding="utf-8")
    except OSError as error:
        raise ImageInputError(f"--ssh-key: cannot read {file}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise ImageInputError(f"--ssh-key: {file} is not a public key file (binary)") from None
    keys = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if not keys or "PRIVATE KEY" in text:
        raise ImageInputError(f"--ssh-key: {file} is not a public key file")
    return keys


def _settings(args: argparse.Namespace, hostname: str | None) -> Any:
    from cloudmesh.swarm.image import customize
    from cloudmesh.swarm.image.cryptpw import sha512_crypt, wpa_psk

    if args.ask_password and args.password_stdin:
        raise ImageInputError("--ask-password and --password-stdin: give one")
    if args.wifi_password_stdin and args.wifi_ssid is None:
        raise ImageInputError("--wifi-password-stdin: goes with --wifi-ssid")
    keys = _public_keys(args.ssh_key)
    # validate everything else before asking for secrets
    probe = customize.settings(hostname=hostname, user="pi" if args.user is None else args.user,
                               password_hash="x" if (args.ask_password or args.password_stdin)
                               else None, ssh_keys=keys, wifi_ssid=args.wifi_ssid,
                               wifi_psk="0" * 64 if args.wifi_ssid is not None else None,
                               wifi_country=args.wifi_country, timezone=args.timezone,
                               wifi_hidden=args.wifi_hidden)
    password_hash = None
    if args.ask_password or args.password_stdin:
        password = _secret("login password", args.password_stdin, "--password-stdin")
        password_hash = sha512_crypt(password)
        del password
    psk = None
    if args.wifi_ssid:
        passphrase = _secret(f"Wi-Fi password for {args.wifi_ssid}", args.wifi_password_stdin,
                             "--wifi-password-stdin")
        customize.check_wifi_passphrase(passphrase)
        psk = passphrase.lower() if len(passphrase) == 64 else wpa_psk(args.wifi_ssid, passphrase)
        del passphrase
    from dataclasses import replace

    return replace(probe, password_hash=password_hash, wifi_psk=psk)


# -- commands ------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> int:
    verb = args.image_command
    if verb == "info":
        return _info(args)
    if verb == "customize":
        return _customize(args)
    if verb == "burn":
        return _burn(args)
    if verb == "capture":
        return _capture(args)
    raise ImageInputError(f"unknown image command {verb!r}")


def _say(text: str) -> None:
    from cloudmesh.swarm.plan import printable

    print(printable(text), file=sys.stderr)  # may quote a host (mount points)


def _info(args: argparse.Namespace) -> int:
    from cloudmesh.swarm.image.info import describe, render

    found = describe(Path(args.file), with_sha=not args.no_sha256, quiet=args.quiet)
    if args.json:
        print(json.dumps(found, indent=2))
    else:
        print("\n".join(render(found)))
    bad = found["status"] != "ok" or found.get("sha256_file") == "DIFFERS"
    return 1 if bad else 0


def _customize(args: argparse.Namespace) -> int:
    from cloudmesh.swarm.image import customize
    from cloudmesh.swarm.image.source import open_image

    path = Path(args.image)
    source = open_image(path)
    if source.kind != "raw":
        raise ImageInputError(f"IMAGE_FILE: {path} is compressed ({source.kind}); customize "
                              "works on a raw .img (burn customises compressed images)")
    if not os.access(path, os.W_OK):
        raise ImageInputError(f"IMAGE_FILE: {path} is not writable")
    layout = customize.detect(path)
    customize.require(layout, path)
    settings = _settings(args, args.hostname)
    layout, written = customize.apply(path, settings, layout)
    print(f"customised {path} ({layout.mechanism}): {', '.join(written)}")
    return 0


def _confirm(question: str) -> bool:
    try:  # the terminal, not stdin: stdin may carry passwords or be a pipe
        with open("/dev/tty", "w") as out, open("/dev/tty") as answer:
            out.write(question)
            out.flush()
            return answer.readline().strip().lower() in ("y", "yes")
    except OSError:
        raise ImageInputError("no terminal to confirm on: add --yes") from None


def _burn(args: argparse.Namespace) -> int:
    from cloudmesh.swarm.image import burn, customize, device
    from cloudmesh.swarm.image.device import human
    from cloudmesh.swarm.image.source import open_image

    source = open_image(args.image)
    hosts: list[str | None] = [args.hostname]
    if args.hosts:
        hosts = _expand(args.hosts)
    elif args.inventory_out:
        raise ImageInputError("--inventory-out: goes with --hosts")
    per_host = "{host}" in args.device
    if per_host and not args.hosts:
        raise ImageInputError("--device: '{host}' needs --hosts")
    settings = _settings(args, hosts[0]) if _wants_settings(args) else None
    if settings is not None:
        layout = customize.detect_source(source)
        customize.require(layout, source.path)
    inventory_path = _inventory_path(args, hosts) if args.hosts else None
    inventory_text = _inventory_text(inventory_path, hosts, args, settings) if inventory_path else ""
    size = source.size or source.estimate
    swap = len(hosts) > 1 and not per_host
    if swap:
        try:
            open("/dev/tty").close()
        except OSError:
            raise ImageInputError("--hosts: swapping cards needs a terminal; or give a "
                                  "'{host}' pattern in --device") from None
    first_target = device.inspect(args.device.replace("{host}", str(hosts[0])))
    device.check(first_target, size, force=args.force, image_path=source.path)
    for index, host in enumerate(hosts):
        dev = args.device.replace("{host}", str(host))
        if index and swap and not _confirm(f"insert the card for {host} into {dev}, then press "
                                           "y and Enter (anything else stops): "):
            _say(f"stopped before {host}")
            return 1
        target = first_target if index == 0 else device.inspect(dev)
        device.check(target, size, force=args.force, image_path=source.path)
        if not args.yes:
            _say(f"about to ERASE {target.describe()}")
            for line in target.contents:
                _say(f"  holds {line}: it will be destroyed")
            if not _confirm(f"write {source.path.name} ({human(size)}) to {target.path}? [y/N] "):
                _say("not confirmed: nothing written")
                return 2
        written = burn.write(source, target, quiet=args.quiet)
        line = (f"{host or target.path}: wrote {human(written.size)} to {target.path} in "
                f"{written.seconds:.1f} s ({written.size / written.seconds / 1e6:.0f} MB/s)")
        if not args.no_verify:
            written = burn.verify(target, written, source, quiet=args.quiet)
            line += f", verified in {written.verify_seconds:.1f} s"
        else:
            line += ", NOT verified (--no-verify)"
        if written.sha256:
            line += f", sha256 {written.sha256[:16]}..."
        if settings is not None:
            current = settings.with_hostname(host) if host else settings
            layout, names = customize.apply(target.path, current)
            line += f"; first boot ({layout.mechanism}): {', '.join(names)}"
        print(line)
    if inventory_path is not None:
        inventory_path.write_text(inventory_text)
        print(f"inventory for the burned hosts: {inventory_path} "
              f"(after first boot: cms-swarm create -i {inventory_path})")
    return 0


def _expand(hostlist: str) -> list[str | None]:
    import hostlist as hl

    from cloudmesh.swarm.image.customize import check_hostname

    try:
        names = hl.expand_hostlist(hostlist)
    except hl.BadHostlist as error:
        raise ImageInputError(f"--hosts: {hostlist!r}: {error}") from None
    if not names:
        raise ImageInputError(f"--hosts: {hostlist!r} names no host")
    return [check_hostname(name, "--hosts") for name in names]


def _inventory_path(args: argparse.Namespace, hosts: list[str | None]) -> Path:
    if args.inventory_out:
        path = Path(args.inventory_out)
    else:
        prefix = os.path.commonprefix([h or "" for h in hosts]).rstrip("-0123456789") or "swarm"
        path = Path(f"{prefix}.yaml")
    if path.exists():
        raise ImageInputError(f"--inventory-out: {path} exists; give another name")
    if not path.absolute().parent.is_dir():
        raise ImageInputError(f"--inventory-out: directory {path.absolute().parent} does not exist")
    return path


def _inventory_text(path: Path, hosts: list[str | None], args: argparse.Namespace,
                    settings: Any) -> str:
    """The inventory for the burned hosts, checked before the first card is written (bad
    input then, not after every card is burned)."""
    from cloudmesh.swarm import inventory
    from cloudmesh.swarm.errors import InventoryError

    name = path.stem if path.stem[:1].isalnum() else "swarm"
    lines = [f"name: {name}", "ssh:", f"  user: {settings.user if settings else 'pi'}"]
    if args.ssh_key:
        private = Path(args.ssh_key).expanduser().absolute()
        private = private.with_suffix("") if private.suffix == ".pub" else private
        if private.is_file():
            lines.append(f"  key: {json.dumps(str(private))}")
    lines.append("hosts:")
    for host in hosts:
        lines += [f"  - name: {host}", f"    address: {host}.local"]
    text = "\n".join(lines) + "\n"
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:  # the file must be one that `create` accepts
        inventory._validate(YAML(typ="rt").load(text), str(path))
    except (InventoryError, YAMLError) as error:
        raise ImageInputError(f"--inventory-out: {' '.join(str(error).split())}") from None
    return text


def _capture(args: argparse.Namespace) -> int:
    import asyncio

    from cloudmesh.swarm.image import capture
    from cloudmesh.swarm.image.device import human

    output = Path(args.output)
    if args.sysprep and not args.shrink:
        raise ImageInputError("--sysprep: works on the root file system --shrink splits off; "
                              "add --shrink")
    capture.check_output(output, args.force)
    capture.check_device(args.device)
    target = _ssh_target(args)
    password = None
    if args.ask_become_pass:
        password = ask_become_password()

    said: list[str] = []

    def say(text: str) -> None:
        said.append(text)
        _say(text)

    async def work() -> Any:
        from cloudmesh.swarm.transport import SshTransport

        async with await SshTransport.connect(target, password) as transport:
            return await capture.capture(transport, args.device, output, shrink=args.shrink,
                                         margin_mb=args.margin, quiet=args.quiet or args.json,
                                         say=say, sysprep=args.sysprep)

    steps = [f"read {args.device} (sudo, after sync), compressed into {output}"]
    steps += ["shrink the last ext4 partition"] * args.shrink
    steps += ["strip machine-id, SSH host keys, engine ID and swarm state"] * args.sysprep
    try:
        done = asyncio.run(work())
    except SwarmError as error:
        if not args.json or isinstance(error, InputError):
            raise
        print(json.dumps(_capture_json(args, target.name, steps, said, str(error), None), indent=2))
        return 1
    line = (f"captured {target.name}:{args.device} ({human(done.card_size)}) into {done.output} "
            f"({human(done.file_size)}; image {human(done.image_size)})")
    if args.shrink:
        line += (f"; shrunk from {human(done.shrunk_from)}"
                 + ("" if done.grows else " (no systemd in the image: it will NOT grow on first boot)"))
    if args.sysprep:
        line += f"; sysprep removed: {', '.join(done.stripped) or 'nothing (none found)'}"
    out = sys.stderr if args.json else sys.stdout
    print(line, file=out)
    print(f"sha256 {done.sha256} in {done.output}.sha256", file=out)
    if args.json:
        result = {"path": str(done.output), "sha256": done.sha256, "bytes": done.file_size,
                  "card_bytes": done.card_size, "image_bytes": done.image_size,
                  "shrunk_from": done.shrunk_from or None, "sysprep_removed": done.stripped}
        print(json.dumps(_capture_json(args, target.name, steps, said, None, result), indent=2))
    return 0


def _capture_json(args: argparse.Namespace, host: str, steps: list[str], warnings: list[str],
                  error: str | None, result: dict[str, Any] | None) -> dict[str, Any]:
    """`image capture --json`: the shape every host command's --json has (one host)."""
    from cloudmesh.swarm.plan import printable

    ok = error is None
    if error is not None and not error.startswith(f"{host}:"):
        error = f"{host}: {error}"
    return {"command": "image capture", "cluster": _cluster_name(args), "ok": ok,
            "exit_code": 0 if ok else 1, "dry_run": False,
            "hosts": {host: {"ok": ok, "changed": False, "steps": steps,
                             "warnings": [printable(w) for w in warnings],
                             "error": None if error is None else printable(error)}},
            "capture": result}


def _cluster_name(args: argparse.Namespace) -> str:
    if not args.inventory:
        return ""
    from cloudmesh.swarm import inventory

    return inventory.load(args.inventory).name


def _ssh_target(args: argparse.Namespace) -> Any:
    from cloudmesh.swarm import inventory
    from cloudmesh.swarm.ssh_settings import ssh_target

    if args.inventory:
        if args.user or args.key or args.port:
            raise ImageInputError("--user/--key/--port go with a host address; with -i set them "
                                  "in the file")
        inv = inventory.load(args.inventory)
        names = [h.name for h in inv.hosts]
        if args.host not in names:
            raise ImageInputError(f"HOST: {args.host!r} is not in {args.inventory} "
                                  f"(hosts: {', '.join(names)})")
    else:
        inv = inventory.from_hostlist(args.host, user=args.user, key=args.key, port=args.port,
                                      name="capture")
        if len(inv.hosts) != 1:
            raise ImageInputError(f"HOST: {args.host!r} names {len(inv.hosts)} hosts; capture one")
    spec = inv.host(args.host) if args.inventory else inv.hosts[0]
    return ssh_target(inv, spec, strict_host_keys=args.strict_host_keys,
                      connect_timeout=args.connect_timeout)
