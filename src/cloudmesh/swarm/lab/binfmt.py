"""Foreign-architecture lab hosts: the kernel's binfmt_misc handler for qemu-user.

An arm64 lab host on an amd64 machine runs every program through `qemu-aarch64`. Two flags
of the handler matter: F (the interpreter is opened once at registration, so it works inside
containers that do not have it) and C (setuid programs such as sudo run with their owner's
rights). Debian's qemu-user-static registers `PF`; we re-register with `OCPF` when we can.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from cloudmesh.swarm.lab.image import LabError, host_arch

BINFMT = Path("/proc/sys/fs/binfmt_misc")
DEFINITIONS = Path("/usr/share/binfmts")  # qemu-user-static's handler definitions
QEMU = {"arm64": "qemu-aarch64"}
FLAGS = "OCPF"


def flags_of(entry: str) -> str:
    """The flags line of a /proc/sys/fs/binfmt_misc/<name> entry ('' when absent)."""
    for line in entry.splitlines():
        if line.startswith("flags:"):
            return line.split(":", 1)[1].strip()
    return ""


def register_line(name: str, definition: str, flags: str = FLAGS) -> str:
    """The `register` line for a Debian binfmts definition file (update-binfmts format)."""
    fields = dict(line.split(" ", 1) for line in definition.splitlines() if " " in line)
    try:
        return (f":{name}:M:{fields.get('offset', '0')}:{fields['magic']}:{fields['mask']}:"
                f"{fields['interpreter']}:{flags}")
    except KeyError as missing:
        raise LabError(f"{DEFINITIONS / name} has no {missing.args[0]} line") from None


def ensure(arch: str, root: Path = BINFMT, definitions: Path = DEFINITIONS) -> None:
    """Make `arch` binaries runnable in lab containers, or LabError saying how."""
    if arch == host_arch():
        return
    name = QEMU.get(arch)
    if name is None:
        raise LabError(f"lab hosts of architecture {arch} cannot run on this {host_arch()} machine")
    definition = definitions / name
    if not definition.exists():
        raise LabError(f"{arch} lab hosts need qemu-user: apt-get install qemu-user-static "
                       "(scripts/setup-host.sh does)")
    try:
        if not (root / "register").exists():
            subprocess.run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(root)],
                           capture_output=True, check=False)
        entry = root / name
        current = entry.read_text() if entry.exists() else ""
        if current and "enabled" in current and {"F", "C"} <= set(flags_of(current)):
            return
        if current:
            entry.write_text("-1")  # remove, to register again with the flags we need
        (root / "register").write_text(register_line(name, definition.read_text()))
    except OSError as error:
        raise LabError(f"cannot register the {name} binfmt handler with flags {FLAGS} "
                       f"({error.strerror}); as root: mount -t binfmt_misc binfmt_misc {root}; "
                       f"then re-register {name} with flags {FLAGS}") from None
