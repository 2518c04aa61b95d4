"""The ext4 root file system of an image, read and edited with e2fsprogs, never mounted.

debugfs, e2fsck and resize2fs accept `FILE?offset=N` to work on a partition inside an
image file (e2fsprogs' unix I/O manager), so reading /etc/os-release of an image needs
neither root nor a loop device. resize2fs is only ever run on a file that holds the
partition alone (see shrink.py): given an offset it would truncate the file wrongly.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from cloudmesh.swarm.image.errors import ImageError, ToolMissing


def tool(name: str) -> str:
    for folder in ("", "/sbin/", "/usr/sbin/", "/opt/homebrew/opt/e2fsprogs/sbin/",
                   "/usr/local/opt/e2fsprogs/sbin/"):
        found = shutil.which(folder + name) if folder else shutil.which(name)
        if found:
            return found
    raise ToolMissing(f"{name} (e2fsprogs) is needed: apt-get install e2fsprogs / "
                      "brew install e2fsprogs")


def spec(image: Path, offset: int) -> str:
    return f"{image}?offset={offset}" if offset else str(image)


def read_file(image: Path, offset: int, path: str) -> bytes | None:
    """A file of the ext file system at `offset`, or None when it is absent or unreadable."""
    done = subprocess.run([tool("debugfs"), "-R", f"cat {path}", spec(image, offset)],
                          capture_output=True, timeout=120, check=False)
    if done.returncode != 0 or b"File not found" in done.stderr or b"not found" in done.stderr:
        return None
    return done.stdout


def exists(image: Path, offset: int, path: str) -> bool:
    done = subprocess.run([tool("debugfs"), "-R", f"stat {path}", spec(image, offset)],
                          capture_output=True, timeout=120, check=False)
    return done.returncode == 0 and b"Inode:" in done.stdout


def run(argv: list[str], what: str, ok: tuple[int, ...] = (0,), timeout: float = 1800) -> str:
    """Run an e2fsprogs tool; ImageError naming `what` unless its exit status is in `ok`."""
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode not in ok:
        tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
        raise ImageError(f"{what} failed (exit {done.returncode}): {tail}")
    return done.stdout + done.stderr
