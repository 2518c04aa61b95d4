"""The facts probe: shell (and one Python) programs kept as files of this package, each
fact group's command beside its parser (`install.sh` is parsed by `install.py`, ...).

`probe.sh` is the frame: helpers and the basic facts (parsed in facts.py); each `@GROUP@`
line in it is replaced by `group.sh` here, and engine.sh's `@PROGRAM@` by `engine.py.in`
(run by python3 on the host). The result, SCRIPT, is read once at import and sent as one
command: one round trip per host. Full-line comments are dropped on the way.
"""

from __future__ import annotations

import re
from importlib.resources import files

GROUPS = ("engine", "install", "health", "identity", "network")
SOCKET = "/var/run/docker.sock"
MARKER = re.compile(r"^@([A-Z]+)@$", re.MULTILINE)


def read(name: str) -> str:
    """A program file of this package without its comment lines and surrounding blank lines."""
    text = files(__name__).joinpath(name).read_text(encoding="utf-8")
    return "\n".join(line for line in text.splitlines() if not line.startswith("#")).strip()


def assemble() -> str:
    """probe.sh with every group filled in: the one script the runner sends to each host."""
    parts = {group.upper(): read(f"{group}.sh") for group in GROUPS}
    parts["ENGINE"] = parts["ENGINE"].replace("@PROGRAM@", ENGINE_PROGRAM.replace("@SOCKET@", SOCKET))
    frame = read("probe.sh")
    return "\n" + MARKER.sub(lambda found: parts[found.group(1)], frame) + "\n"


ENGINE_PROGRAM = read("engine.py.in")  # its socket path is @SOCKET@ (tests use their own)
SCRIPT = assemble()
