"""Secrets the user gives (passwords, unlock keys) and the key pair `keys` installs.

A secret comes from a prompt or, with a --...-stdin flag, from the first line of stdin;
never from argv or the environment, where `ps` and child processes would see it. It is
held as a Secret (shown as `***`) and dropped when the command ends.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from cloudmesh.swarm.errors import InputError, UsageError
from cloudmesh.swarm.plan import Secret
from cloudmesh.swarm.private_files import parent_dir, write_private

DEFAULT_KEY = Path("~/.ssh/id_ed25519")


def read_secret(what: str, flag: str, from_stdin: bool, *, confirm: bool = False,
                error: type[InputError] = UsageError) -> Secret:
    """The secret from stdin's first line (`from_stdin`) or a prompt on the terminal, asked a
    second time when `confirm` (a password being set, where a typo would lock the user out).
    Bad input raises `error` (exit 2)."""
    if from_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise error(f"{flag}: no {what} on stdin")
        return Secret(line)
    if not sys.stdin.isatty():
        raise error(f"no terminal to ask for the {what}: use {flag} and pipe it in")
    import getpass

    value = getpass.getpass(f"{what}: ")
    if not value:
        raise error(f"no {what} given")
    if confirm and getpass.getpass(f"{what} (again): ") != value:
        raise error(f"the two {what}s differ")
    return Secret(value)


def ask_become_password() -> Secret:
    """The sudo password, asked on the terminal (--ask-become-pass)."""
    import getpass

    return Secret(getpass.getpass("sudo password: "))


def ensure_key_pair(path: Path, comment: str = "") -> tuple[str, bool]:
    """The public key line of `path`, making an ed25519 pair (0600, in a 0700 dir when that is
    new) when absent; second value: whether it was made now. `comment`: the new key's comment
    (default cms-swarm@<this machine>)."""
    import asyncssh

    path = path.expanduser()
    public = path.with_name(path.name + ".pub")
    if path.exists():
        if public.exists():
            return public.read_text().strip(), False
        try:
            key = asyncssh.read_private_key(str(path))
        except (OSError, ValueError, asyncssh.KeyImportError) as error:
            raise UsageError(f"--key {path}: cannot read it ({error}); a passphrase-protected key "
                             "needs its .pub file beside it") from None
        return key.export_public_key().decode().strip(), False
    parent_dir(path)
    key = asyncssh.generate_private_key("ssh-ed25519",
                                        comment=comment or f"cms-swarm@{os.uname().nodename}")
    write_private(path, key.export_private_key(), exclusive=True)
    public.write_bytes(key.export_public_key())
    return public.read_text().strip(), True
