"""Files and directories only the user may read (0600 / 0700), whatever the umask.

They hold what must not leak: SSH keys, logs with host output, backups and card images with
the swarm's keys, the Docker context's SSH settings. One home for the open-with-0600 dance,
so no copy forgets the mode (a file created by `open()` gets 0644 under the usual umask).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Any, Literal, overload

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700

_FLAGS = {"w": os.O_TRUNC, "a": os.O_APPEND, "x": os.O_EXCL}


def private_dir(path: Path) -> Path:
    """Create `path` and every missing parent with mode 0700 (not the umask's); return it.
    For directories of our own: an existing `path` is set to 0700 too."""
    missing = []
    parent = path
    while not parent.exists():
        missing.append(parent)
        parent = parent.parent
    for directory in reversed(missing):
        directory.mkdir(mode=PRIVATE_DIR, exist_ok=True)
        os.chmod(directory, PRIVATE_DIR)
    os.chmod(path, PRIVATE_DIR)
    return path


def parent_dir(path: Path) -> Path:
    """The directory of file `path`, created (with its parents) 0700 when missing; an existing
    one is left as it is (it may be the user's ~/.ssh or a folder they chose)."""
    path.parent.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    return path.parent


def private_fd(path: Path, flags: int = 0) -> int:
    """A write-only descriptor of `path`, created 0600 (an existing file is made 0600; not
    truncated unless `flags` says os.O_TRUNC): for writers that seek, such as burning."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | flags | getattr(os, "O_CLOEXEC", 0), PRIVATE_FILE)
    try:
        os.fchmod(fd, PRIVATE_FILE)
    except BaseException:
        os.close(fd)
        raise
    return fd


@overload
def open_private(path: Path, mode: Literal["w", "a", "x"] = "w") -> IO[str]: ...
@overload
def open_private(path: Path, mode: Literal["wb", "ab", "xb"]) -> IO[bytes]: ...
@overload
def open_private(path: Path, mode: str) -> IO[Any]: ...


def open_private(path: Path, mode: str = "w") -> IO[Any]:
    """`path` opened for writing with mode 0600; an existing file is made 0600 too.

    `mode`: "w" truncates, "a" appends, "x" refuses an existing file (FileExistsError);
    a "b" suffix for bytes. Text is UTF-8."""
    kind, binary = mode.rstrip("b"), mode.endswith("b")
    if kind not in _FLAGS or mode not in (kind, kind + "b"):
        raise ValueError(f"open_private: mode {mode!r} is not one of w, a, x (with b)")
    fd = private_fd(path, _FLAGS[kind])
    try:
        if binary:
            return os.fdopen(fd, "ab" if kind == "a" else "wb")
        return os.fdopen(fd, "a" if kind == "a" else "w", encoding="utf-8")
    except BaseException:
        os.close(fd)
        raise


def write_private(path: Path, data: str | bytes, *, append: bool = False,
                  exclusive: bool = False) -> None:
    """Write `data` to `path` (0600): replace it, or `append`, or (`exclusive`) only create it."""
    mode = ("a" if append else "x" if exclusive else "w") + ("b" if isinstance(data, bytes) else "")
    with open_private(path, mode) as handle:
        handle.write(data)


def replace_private(path: Path, data: str, *, mode: int = PRIVATE_FILE) -> None:
    """Atomically make `data` the whole of `path` (`mode`, 0600 unless said): a temporary
    file beside it, then a rename, so a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.cms-swarm-tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0), mode)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
