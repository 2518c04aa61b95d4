"""Read and write files in a FAT partition inside an image or on a card, without mounting.

mtools does the FAT work (GNU, maintained since 1986, in Debian and Homebrew): it opens
`IMAGE@@OFFSET` as a FAT file system in user space, so a plain user can customise an image
file on Linux or macOS, and root is only needed for /dev nodes. Files are copied through a
private temporary directory; nothing is mounted.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from cloudmesh.swarm.image.errors import ImageError, ToolMissing
from cloudmesh.swarm.private_files import write_private

_ENV = {"MTOOLS_SKIP_CHECK": "1", "MTOOLS_NO_VFAT": "0", "MTOOLSRC": os.devnull}


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise ToolMissing(f"{name} (mtools) is needed to edit the boot partition: "
                          "apt-get install mtools / brew install mtools")
    return found


class Fat:
    """The FAT file system at byte `offset` of `image` (a file or a block device)."""

    def __init__(self, image: Path, offset: int) -> None:
        self.image = image
        self.offset = offset
        self.spec = f"{image}@@{offset}"

    def _run(self, argv: list[str], what: str) -> subprocess.CompletedProcess[bytes]:
        done = subprocess.run(argv, capture_output=True, timeout=120,
                              env={**os.environ, **_ENV}, check=False)
        if done.returncode != 0:
            tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
            raise ImageError(f"{self.image}: {what} in the boot partition failed: {tail[0]}")
        return done

    def names(self) -> set[str]:
        """Names of the files in the root directory (long names, as written)."""
        done = self._run([_tool("mdir"), "-b", "-i", self.spec, "::/"], "listing files")
        names = set()
        for line in done.stdout.decode("utf-8", "replace").splitlines():
            line = line.strip()
            if line.startswith("::/") and not line.endswith("/"):
                names.add(line[3:])
        return names

    def read(self, name: str) -> bytes | None:
        """A file's bytes, or None when it is not there."""
        if name not in self.names():
            return None
        with tempfile.TemporaryDirectory(prefix="cms-fat-") as tmp:
            local = Path(tmp) / "file"
            self._run([_tool("mcopy"), "-n", "-i", self.spec, f"::/{name}", str(local)],
                      f"reading {name}")
            return local.read_bytes()

    def write(self, files: dict[str, bytes]) -> None:
        """Create or replace these files in the root directory (one mcopy per file)."""
        with tempfile.TemporaryDirectory(prefix="cms-fat-") as tmp:
            os.chmod(tmp, 0o700)
            for name, data in files.items():
                local = Path(tmp) / name
                write_private(local, data)
                self._run([_tool("mcopy"), "-o", "-i", self.spec, str(local), f"::/{name}"],
                          f"writing {name}")
                local.unlink()

    def delete(self, name: str) -> None:
        if name in self.names():
            self._run([_tool("mdel"), "-i", self.spec, f"::/{name}"], f"removing {name}")
