"""Per-host log files under ~/.cloudmesh/swarm/logs/<cluster>/, private to the user."""

from __future__ import annotations

import os
import time
from pathlib import Path

from cloudmesh.swarm.plan import redact
from cloudmesh.swarm.private_files import open_private, private_dir

__all__ = ["HostLog", "private_dir", "state_dir"]  # private_dir: its old home, still imported


def state_dir() -> Path:
    """Where cloudmesh-swarm keeps its files; CMS_SWARM_HOME overrides (tests)."""
    return Path(os.environ.get("CMS_SWARM_HOME", "~/.cloudmesh/swarm")).expanduser()


class HostLog:
    """Appends timestamped, redacted lines to one host's log file (mode 0600)."""

    def __init__(self, cluster: str, host: str) -> None:
        directory = private_dir(state_dir() / "logs" / cluster)
        self.path = directory / f"{host}.log"
        self._file = open_private(self.path, "a")

    def write(self, text: str) -> None:
        now = time.time()
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now)) + f".{int(now % 1 * 1000):03d}"
        for line in redact(text).rstrip("\n").splitlines() or [""]:
            self._file.write(f"{stamp} {line}\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()
