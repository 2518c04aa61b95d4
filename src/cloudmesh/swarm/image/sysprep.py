"""`capture --shrink --sysprep`: strip what must differ between hosts, so clones are born unique.

Works, like shrink.py, on the captured root partition as a plain file with debugfs (no
mount, no root). Removed: /etc/machine-id (left empty: systemd makes a new one at first
boot, as on a fresh Raspberry Pi OS card), a /var/lib/dbus/machine-id copy, the SSH host
keys (a unit makes new ones before sshd starts: Debian does not do that by itself), Docker's
engine identity (/etc/docker/key.json, /var/lib/docker/engine-id; the engine makes a new one
when it starts) and swarm state (/var/lib/docker/swarm), and systemd's random seed.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from cloudmesh.swarm.image import ext4
from cloudmesh.swarm.image.errors import ImageError

KEYS_UNIT = """[Unit]
Description=Make SSH host keys on first boot (cms-swarm image capture --sysprep)
Before=ssh.service ssh.socket sshd.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target
"""
KEYS_UNIT_PATH = "/etc/systemd/system/cms-swarm-hostkeys.service"
KEYS_WANTS = "/etc/systemd/system/multi-user.target.wants/cms-swarm-hostkeys.service"
FILES = {  # path: what the report calls it
    "/var/lib/docker/engine-id": "Docker engine ID",
    "/etc/docker/key.json": "Docker engine ID",
    "/var/lib/systemd/random-seed": "random seed",
}
SWARM = "/var/lib/docker/swarm"
DIR, LINK = 0o040000, 0o120000


def listing(part: Path, path: str) -> list[tuple[str, int]]:
    """(name, mode) of the entries of directory `path` (no . and ..); [] when absent."""
    out = ext4.run([ext4.tool("debugfs"), "-R", f"ls -p {path}", str(part)], f"listing {path}")
    entries = []
    for line in out.splitlines():
        fields = line.strip().split("/")
        if len(fields) >= 7 and fields[2].isdigit() and fields[5] not in (".", "..", ""):
            entries.append((fields[5], int(fields[2], 8)))
    return entries


def file_type(part: Path, path: str) -> int | None:
    """The type bits of `path` (DIR, LINK, or a regular file's), None when absent."""
    parent, _, name = path.rpartition("/")
    for entry, mode in listing(part, parent or "/"):
        if entry == name:
            return mode & 0o170000
    return None


def _tree(part: Path, path: str) -> list[str]:
    """debugfs commands that remove `path` and everything under it, deepest first."""
    commands = []
    for name, mode in listing(part, path):
        child = f"{path}/{name}"
        commands += _tree(part, child) if mode & 0o170000 == DIR else [f"rm {child}"]
    return [*commands, f"rmdir {path}"]


def sysprep(part: Path) -> list[str]:
    """Strip host identity from the ext file system in the file `part`; returns what went."""
    commands: list[str] = []
    removed: list[str] = []
    machine = file_type(part, "/etc/machine-id")
    if machine is not None:
        commands += ["rm /etc/machine-id", "write {empty} /etc/machine-id",
                     "sif /etc/machine-id mode 0100444", "sif /etc/machine-id uid 0",
                     "sif /etc/machine-id gid 0"]
        removed.append("machine-id")
    if file_type(part, "/var/lib/dbus/machine-id") not in (None, LINK):
        commands.append("rm /var/lib/dbus/machine-id")
    keys = [name for name, _ in listing(part, "/etc/ssh") if name.startswith("ssh_host_")]
    if keys:
        commands += [f"rm /etc/ssh/{name}" for name in keys]
        removed.append(f"{len(keys)} SSH host key files")
    if file_type(part, "/etc/ssh") == DIR and file_type(part, "/etc/systemd/system") == DIR:
        commands += [f"rm {KEYS_UNIT_PATH}", "write {unit} " + KEYS_UNIT_PATH,
                     f"sif {KEYS_UNIT_PATH} mode 0100644", f"sif {KEYS_UNIT_PATH} uid 0",
                     f"sif {KEYS_UNIT_PATH} gid 0", "mkdir /etc/systemd/system/multi-user.target.wants",
                     f"rm {KEYS_WANTS}", f"symlink {KEYS_WANTS} {KEYS_UNIT_PATH}"]
    for path, what in FILES.items():
        if file_type(part, path) is not None:
            commands.append(f"rm {path}")
            if what not in removed:
                removed.append(what)
    if file_type(part, SWARM) == DIR:
        commands += _tree(part, SWARM)
        removed.append("swarm state")
    if not commands:
        return removed
    with tempfile.TemporaryDirectory(prefix="cms-sysprep-") as tmp:
        empty = Path(tmp) / "empty"
        empty.write_bytes(b"")
        unit = Path(tmp) / "unit"
        unit.write_text(KEYS_UNIT)
        script = Path(tmp) / "cmds"
        script.write_text("\n".join(c.format(empty=empty, unit=unit) for c in commands) + "\n")
        ext4.run([ext4.tool("debugfs"), "-w", "-f", str(script), str(part)], "sysprep")
    left = [path for path in ("/etc/docker/key.json", "/var/lib/docker/engine-id", SWARM)
            if file_type(part, path) is not None]
    if left or (machine is not None and ext4.read_file(part, 0, "/etc/machine-id") != b""):
        raise ImageError(f"sysprep: could not remove {', '.join(left) or 'machine-id'}")
    return removed
