"""`FILE.sha256` beside a file we write (backup archives, captured images), in the format
`sha256sum -c` checks, and read back before the file is trusted (restore, image info)."""

from __future__ import annotations

from pathlib import Path


def sidecar(path: Path) -> Path:
    """Where the checksum of `path` is kept: `path` + `.sha256`."""
    return path.with_name(path.name + ".sha256")


def sha256_line(path: Path, digest: str) -> str:
    """One `sha256sum` line: the hex digest, two spaces, the file's name (no directory, so the
    pair can be moved together and checked with `sha256sum -c` where they land)."""
    return f"{digest}  {path.name}\n"


def write_sha256_file(path: Path, digest: str) -> Path:
    """Write the sidecar of `path`; return it."""
    sums = sidecar(path)
    sums.write_text(sha256_line(path, digest))
    return sums


def expected_sha256(path: Path) -> str | None:
    """The digest the sidecar of `path` gives (lower case; "" for an empty file), or None when
    there is none. ValueError: not ASCII, so no sha256sum file; OSError: cannot be read."""
    sums = sidecar(path)
    if not sums.exists():
        return None
    words = sums.read_bytes().decode("ascii").split()
    return words[0].lower() if words else ""
