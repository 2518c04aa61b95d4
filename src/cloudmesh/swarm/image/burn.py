"""Write an image to a card (or file), verify it by reading it back, mark it while incomplete.

The order makes an interrupted burn visible: sector 0 first gets a marker ("burn in
progress", no partition table), then the image is written from its second block on, and
its first block (with the real partition table) last, after everything else is on the
card; then fsync. A burn killed at any point before that leaves the marker, which
`image info` reports as an incomplete card, and the card does not boot as a half-written
system. Verification evicts the device's pages from the cache and reads it back, so it
compares what the card holds, not what Linux remembers writing.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cloudmesh.swarm.image.device import Target, human
from cloudmesh.swarm.image.errors import ImageError
from cloudmesh.swarm.image.pipeline import Hasher, prefetch
from cloudmesh.swarm.image.progress import Meter
from cloudmesh.swarm.image.source import BLOCK, ImageSource
from cloudmesh.swarm.private_files import private_fd

MARKER = b"CMS-SWARM BURN INCOMPLETE\n"
BLKFLSBUF = 0x1261
SYNC_EVERY = 256 << 20  # block devices: flush this often so progress shows the card's speed


@dataclass(frozen=True)
class Written:
    """What a burn wrote: size and sha256 of the image, time taken, the verify result."""

    size: int
    sha256: str
    seconds: float
    verified: bool = False
    verify_seconds: float = 0.0


def marker(source: ImageSource) -> bytes:
    """Sector 0 while a burn runs: the magic line, then JSON about the burn, zero padded."""
    info = json.dumps({"image": source.path.name, "size": source.size,
                       "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}).encode()
    return (MARKER + info + b"\n").ljust(512, b"\0")[:512]


def read_marker(sector0: bytes) -> dict[str, object] | None:
    """The marker's JSON when sector 0 holds one (an interrupted burn), else None."""
    if not sector0.startswith(MARKER):
        return None
    try:
        data = json.loads(sector0[len(MARKER):].split(b"\n")[0].decode())
        return data if isinstance(data, dict) else {}
    except (ValueError, UnicodeDecodeError):
        return {}


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        done = os.pwrite(fd, view, offset)
        view = view[done:]
        offset += done


def _open_target(target: Target) -> int:
    if target.kind == "block":
        try:  # O_EXCL on a block device: the kernel refuses if anything has it open/mounted
            return os.open(target.path, os.O_WRONLY | os.O_EXCL | getattr(os, "O_CLOEXEC", 0))
        except OSError as error:
            from cloudmesh.swarm.image.errors import DeviceRefused

            raise DeviceRefused(f"--device: cannot open {target.path} for writing: "
                                f"{error.strerror}") from None
    return private_fd(target.path)  # it will hold secrets (customize)


def write(source: ImageSource, target: Target, *, quiet: bool = False) -> Written:
    """Stream the image onto the target (see the module docstring for the order).

    A compressed image is hashed while it is written (decompression is the bottleneck, the
    hash is free on another core); a raw image is hashed later, in `verify`, side by side
    with the read-back, so writing runs at the speed of the disk. Written.sha256 is then ""."""
    started = time.monotonic()
    created = target.kind == "file" and not target.exists
    fd = _open_target(target)
    ok = False
    try:
        _pwrite_all(fd, marker(source), 0)
        os.fsync(fd)
        hasher = Hasher() if source.kind != "raw" else None
        first = b""
        offset = synced = 0
        with Meter(f"write {target.path}", source.size or source.estimate, quiet=quiet) as meter:
            for block in prefetch(source.blocks()):
                if hasher is not None:
                    hasher.update(block)
                if offset == 0:
                    first = block
                else:
                    if target.kind == "block" and offset + len(block) > target.size:
                        raise ImageError(f"IMAGE: {source.path} is larger than {target.path} "
                                         f"({human(target.size)}); the card is incomplete")
                    _pwrite_all(fd, block, offset)
                offset += len(block)
                meter.advance(len(block))
                if target.kind == "block" and offset - synced >= SYNC_EVERY:
                    os.fdatasync(fd)
                    synced = offset
            if offset == 0:
                raise ImageError(f"IMAGE: {source.path} holds no data")
            if source.size is not None and offset != source.size:
                raise ImageError(f"IMAGE: {source.path} gave {offset} bytes, its header says "
                                 f"{source.size}; the card is incomplete")
            os.fsync(fd)
            _pwrite_all(fd, first, 0)
            if target.kind == "file" and os.fstat(fd).st_size > offset:
                os.ftruncate(fd, offset)
            os.fsync(fd)
        ok = True
        return Written(offset, hasher.hexdigest() if hasher else "", time.monotonic() - started)
    finally:
        os.close(fd)
        if not ok and created:
            Path(target.path).unlink(missing_ok=True)  # a file we made: leave nothing behind


def drop_cache(fd: int, block_device: bool) -> None:
    """Evict the target's pages (written and fsync'd, so clean) so reads come from the medium."""
    if hasattr(os, "posix_fadvise"):
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    if block_device:
        try:
            fcntl.ioctl(fd, BLKFLSBUF)
        except OSError:
            pass


def read_blocks(fd: int, size: int, block: int = BLOCK) -> Iterator[bytes]:
    """`size` bytes of `fd` from offset 0 in blocks (ImageError if it is shorter)."""
    offset = 0
    while offset < size:
        chunk = os.pread(fd, min(block, size - offset), offset)
        if not chunk:
            raise ImageError(f"read back ended at byte {offset} of {size}")
        offset += len(chunk)
        yield chunk


def sha256_of(path: Path, size: int | None = None, *, title: str = "verify",
              quiet: bool = False, cold: bool = True) -> str:
    """sha256 of the first `size` bytes (default: all) of a file or device, read from the
    medium (`cold`), reading ahead in one thread while this one hashes."""
    fd = os.open(path, os.O_RDONLY)
    try:
        if size is None:
            size = os.lseek(fd, 0, os.SEEK_END)
        if cold:
            drop_cache(fd, not path.is_file())
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
        digest = hashlib.sha256()
        with Meter(f"{title} {path}", size, quiet=quiet) as meter:
            for chunk in prefetch(read_blocks(fd, size)):
                digest.update(chunk)
                meter.advance(len(chunk))
        return digest.hexdigest()
    finally:
        os.close(fd)


def verify(target: Target, written: Written, source: ImageSource | None = None, *,
           quiet: bool = False) -> Written:
    """Read the card back; ImageError (exit 1) when it differs from the image. When the image
    was not hashed while writing (raw), it is hashed now in a second thread, in parallel."""
    started = time.monotonic()
    expected = written.sha256
    if expected:
        got = sha256_of(target.path, written.size, quiet=quiet)
    else:
        from concurrent.futures import ThreadPoolExecutor

        if source is None or source.kind != "raw":
            raise ValueError("verify needs the raw source when the image was not hashed")
        with ThreadPoolExecutor(1, thread_name_prefix="cms-image-src") as pool:
            future = pool.submit(sha256_of, source.path, written.size, quiet=True, cold=False)
            got = sha256_of(target.path, written.size, quiet=quiet)
            expected = future.result()
    if got != expected:
        raise ImageError(f"verify FAILED: {target.path} reads back different from the image "
                         f"(sha256 {got[:16]}... instead of {expected[:16]}...); the card "
                         "may be failing or fake")
    return Written(written.size, expected, written.seconds, True, time.monotonic() - started)
