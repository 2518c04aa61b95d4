"""Record a host's new SSH host keys in the control machine's known_hosts file.

Used after --fix-identities gave a cloned card new host keys: the new public keys were
read over the connection its old key authenticated, so they are trusted; the file's old
lines for that host (plain or hashed) are replaced. The file is rewritten atomically, 0600.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

from cloudmesh.swarm.private_files import replace_private

DEFAULT_KNOWN_HOSTS = Path("~/.ssh/known_hosts")


def known_hosts_file(configured: Path | None) -> Path:
    """The known_hosts file in use: the inventory's `ssh.known_hosts`, else ssh's own."""
    return (configured or DEFAULT_KNOWN_HOSTS).expanduser()


def entry_name(address: str, port: int) -> str:
    """The host field ssh writes: `address`, or `[address]:port` off port 22."""
    return address if port == 22 else f"[{address}]:{port}"


def fingerprint(key: str) -> str:
    """`SHA256:...` of a "type blob" public key, as ssh-keygen -l prints it."""
    blob = base64.b64decode(key.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def _matches(field: str, name: str) -> bool:
    """Does a known_hosts host field (comma list, or one `|1|salt|hash`) name `name`?"""
    for pattern in field.split(","):
        if pattern.startswith("|1|"):
            try:
                _, _, salt, digest = pattern.split("|")
                mac = hmac.new(base64.b64decode(salt), name.encode(), hashlib.sha1).digest()
            except ValueError:
                continue
            if base64.b64encode(mac).decode() == digest:
                return True
        elif pattern == name:
            return True
    return False


def keys_of(path: Path, name: str) -> list[str]:
    """The "type blob" keys the file holds for `name` (markers like @cert-authority skipped)."""
    if not path.is_file():
        return []
    found = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        words = line.split()
        if len(words) >= 3 and not words[0].startswith(("#", "@")) and _matches(words[0], name):
            found.append(f"{words[1]} {words[2]}")
    return found


def replace_keys(path: Path, name: str, keys: list[str]) -> bool:
    """Make `keys` the file's keys for `name`; False when it held no others (no change)."""
    old = keys_of(path, name)
    if not old or set(old) <= set(keys):
        return False
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    kept = [line for line in lines
            if not (len(line.split()) >= 3 and not line.startswith(("#", "@"))
                    and _matches(line.split()[0], name))]
    kept += [f"{name} {key}" for key in keys]
    replace_private(path, "\n".join(kept) + "\n")
    return True
