"""Secrets the user gives (passwords, unlock keys) and the key pair `keys` installs.

A secret comes from a prompt or, with a --...-stdin flag, from the first line of stdin;
never from argv or the environment, where `ps` and child processes would see it. It is
held as a Secret (shown as `***`) and dropped when the command ends.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from cloudmesh.swarm.errors import UsageError
from cloudmesh.swarm.plan import Secret
from cloudmesh.swarm.private_files import write_private

DEFAULT_KEY = Path("~/.ssh/id_ed25519")


def read_secret(what: str, flag: str, from_stdin: bool) -> Secret:
    """The secret from stdin's first line (`from_stdin`) or a prompt on the terminal."""
    if from_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise UsageError(f"{flag}: no {what} on stdin")
        return Secret(line)
    if not sys.stdin.isatty():
        raise UsageError(f"no terminal to ask for the {what}: use {flag} and pipe it in")
    import getpass

    value = getpass.getpass(f"{what}: ")
    if not value:
        raise UsageError(f"no {what} given")
    return Secret(value)


def ensure_key_pair(path: Path) -> tuple[str, bool]:
    """The public key line of `path`, making an ed25519 pair (0600, in a 0700 dir) when absent;
    second value: whether it was made now."""
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
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = asyncssh.generate_private_key("ssh-ed25519", comment=f"cms-swarm@{os.uname().nodename}")
    write_private(path, key.export_private_key(), exclusive=True)
    public.write_bytes(key.export_public_key())
    return public.read_text().strip(), True
