"""Per-host log files under ~/.cloudmesh/swarm/logs/<cluster>/, private to the user."""

from __future__ import annotations

import os
import time
from pathlib import Path

from cloudmesh.swarm.plan import redact


def state_dir() -> Path:
    """Where cloudmesh-swarm keeps its files; CMS_SWARM_HOME overrides (tests)."""
    return Path(os.environ.get("CMS_SWARM_HOME", "~/.cloudmesh/swarm")).expanduser()


def private_dir(path: Path) -> Path:
    """Create `path` and every missing parent with mode 0700 (not the umask's); return it."""
    missing = []
    parent = path
    while not parent.exists():
        missing.append(parent)
        parent = parent.parent
    for directory in reversed(missing):
        directory.mkdir(mode=0o700, exist_ok=True)
        os.chmod(directory, 0o700)
    os.chmod(path, 0o700)
    return path


class HostLog:
    """Appends timestamped, redacted lines to one host's log file (mode 0600)."""

    def __init__(self, cluster: str, host: str) -> None:
        directory = private_dir(state_dir() / "logs" / cluster)
        self.path = directory / f"{host}.log"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.fchmod(fd, 0o600)
        self._file = os.fdopen(fd, "a", encoding="utf-8")

    def write(self, text: str) -> None:
        now = time.time()
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now)) + f".{int(now % 1 * 1000):03d}"
        for line in redact(text).rstrip("\n").splitlines() or [""]:
            self._file.write(f"{stamp} {line}\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()
