"""Capture a host's SD card over the command's one SSH connection, compressed on the fly.

The host runs `sync` then `dd` with sudo; its stdout comes over the SSH channel (flow
controlled: the host waits while we are busy) into a writer thread that compresses
(`xz -T0` when installed, else liblzma; gzip by zlib; or raw) into `FILE.partial`, renamed
when complete, with `FILE.sha256` beside it (sha256sum -c format). A card whose file
systems are mounted (a running Pi) gives a crash-consistent copy, like pulling the power:
we say so. With --shrink the stream is split instead into the part before the last
partition and the last partition (sparse), which shrink.py shrinks; then both are
compressed into FILE. No full-size copy of the card is ever made.
"""

from __future__ import annotations

import asyncio
import hashlib
import lzma
import math
import os
import queue
import re
import shlex
import shutil
import subprocess
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from cloudmesh.swarm.errors import CommandError
from cloudmesh.swarm.image import mbr
from cloudmesh.swarm.image.errors import ImageError, ImageInputError
from cloudmesh.swarm.image.progress import Meter
from cloudmesh.swarm.image.source import BLOCK
from cloudmesh.swarm.private_files import open_private
from cloudmesh.swarm.sha256_file import write_sha256_file

_DEVICE = re.compile(r"^/[A-Za-z0-9._/+-]+\Z")
ZEROS = bytes(BLOCK)


def output_kind(path: Path) -> str:
    name = path.name.lower()
    for suffix, kind in ((".img.xz", "xz"), (".img.gz", "gz"), (".img", "raw"), (".xz", "xz"),
                         (".gz", "gz")):
        if name.endswith(suffix) and len(name) > len(suffix):
            return kind
    raise ImageInputError(f"-o: {path.name} must end in .img.xz, .img.gz or .img")


def check_output(path: Path, force: bool) -> str:
    kind = output_kind(path)
    if not path.absolute().parent.is_dir():
        raise ImageInputError(f"-o: directory {path.absolute().parent} does not exist")
    if path.exists() and not force:
        raise ImageInputError(f"-o: {path} exists; add --force to replace it")
    return kind


def check_device(device: str) -> str:
    if not _DEVICE.match(device) or ".." in device.split("/"):
        raise ImageInputError(f"--device: {device!r} is not an absolute device path")
    return device


def private_file(path: Path) -> IO[bytes]:
    """`path` opened for writing, mode 0600 whatever the umask: a card holds shadow hashes,
    SSH host keys, the swarm's Raft keys and Wi-Fi passwords (closed by close/abort)."""
    return open_private(path, "wb")


class Compressor:
    """Writes raw image bytes to `path` compressed as `kind`; sha256 of the raw bytes too."""

    def __init__(self, path: Path, kind: str) -> None:
        self.path = path
        self.kind = kind
        self.raw_sha = hashlib.sha256()
        self.raw_size = 0
        self._file: IO[bytes] = private_file(path)
        self._proc: subprocess.Popen[bytes] | None = None
        self._lzma: Any = None
        self._zlib: Any = None
        if kind == "xz":
            if shutil.which("xz"):
                self._proc = subprocess.Popen(["xz", "-T0", "-3", "-c"], stdin=subprocess.PIPE,
                                              stdout=self._file)
            else:
                self._lzma = lzma.LZMACompressor(lzma.FORMAT_XZ, preset=3)
        elif kind == "gz":
            self._zlib = zlib.compressobj(6, zlib.DEFLATED, 31)

    def write(self, data: bytes) -> None:
        self.raw_sha.update(data)
        self.raw_size += len(data)
        if self._proc is not None:
            assert self._proc.stdin is not None
            self._proc.stdin.write(data)
        elif self._lzma is not None:
            self._file.write(self._lzma.compress(data))
        elif self._zlib is not None:
            self._file.write(self._zlib.compress(data))
        else:
            self._file.write(data)

    def close(self) -> None:
        if self._proc is not None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            if self._proc.wait() != 0:
                raise ImageError(f"xz failed while writing {self.path}")
        elif self._lzma is not None:
            self._file.write(self._lzma.flush())
        elif self._zlib is not None:
            self._file.write(self._zlib.flush())
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()

    def abort(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
        self._file.close()


class Splitter:
    """Writes the stream into `head` (before the last partition) and `part` (the last
    partition, sparse where blocks are all zeros), for shrinking."""

    def __init__(self, head: Path, part: Path) -> None:
        self.head = private_file(head)
        self.part = private_file(part)
        self.offset = 0
        self.boundary: int | None = None
        self.table: mbr.Table | None = None
        self._pending = b""

    def write(self, data: bytes) -> None:
        if self.boundary is None:
            self._pending += data
            if len(self._pending) < mbr.SECTOR:
                return
            self.table = mbr.parse(self._pending[:mbr.SECTOR])
            last = self.table.last()
            if self.table.kind != "mbr" or last is None:
                raise ImageError("--shrink: the card has no MBR partition table")
            if last.type_id != mbr.LINUX:
                raise ImageError(f"--shrink: the last partition ({last.number}) is not a Linux "
                                 "partition")
            self.boundary = last.offset
            data, self._pending = self._pending, b""
        start = self.offset
        self.offset += len(data)
        if start < self.boundary:
            cut = min(len(data), self.boundary - start)
            self.head.write(data[:cut])
            data = data[cut:]
            start += cut
        if data:
            if data == ZEROS[:len(data)]:
                self.part.seek(start - self.boundary + len(data))
            else:
                self.part.seek(start - self.boundary)
                self.part.write(data)

    def close(self) -> None:
        if self.boundary is None:
            raise ImageError("--shrink: the card is smaller than one sector")
        self.part.truncate(max(self.offset - self.boundary, 0))
        self.head.close()
        self.part.close()

    def abort(self) -> None:
        self.head.close()
        self.part.close()


class ThreadSink:
    """An async sink for `stream_out` that hands chunks to `writer` in a thread (bounded)."""

    def __init__(self, writer: Any, meter: Meter) -> None:
        self.writer = writer
        self.meter = meter
        self.error: BaseException | None = None
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=8)
        self._thread = threading.Thread(target=self._run, name="cms-capture-write", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (chunk := self._queue.get()) is not None:
            if self.error is None:
                try:
                    self.writer.write(chunk)
                except BaseException as error:  # noqa: BLE001 (raised in the event loop)
                    self.error = error

    async def __call__(self, chunk: bytes) -> None:
        if self.error is not None:
            raise self.error
        try:
            self._queue.put_nowait(chunk)
        except queue.Full:
            await asyncio.get_running_loop().run_in_executor(None, self._queue.put, chunk)
        self.meter.advance(len(chunk))

    def finish(self) -> None:
        self._queue.put(None)
        self._thread.join()
        if self.error is not None:
            raise self.error


@dataclass
class Captured:
    output: Path
    card_size: int
    image_size: int
    file_size: int
    sha256: str
    mounted: list[str]
    shrunk_from: int = 0
    grows: bool = False
    stripped: list[str] = field(default_factory=list)  # --sysprep: what was removed


PROBE = """dev={dev}
sync
if [ -b "$dev" ]; then echo "size $(blockdev --getsize64 "$dev")"
elif [ -f "$dev" ]; then echo "size $(stat -c %s "$dev")"
else echo "missing"; exit 3; fi
if [ -b "$dev" ]; then lsblk -nro MOUNTPOINT "$dev" 2>/dev/null | sed -n 's/^\\(.\\+\\)$/mount \\1/p'
awk -v d="$dev" 'index($1, d) == 1 {{print "mount " $2}}' /proc/mounts; fi
"""


async def capture(transport: Any, device: str, output: Path, *, shrink: bool = False,
                  margin_mb: float | None = None, quiet: bool = False,
                  say: Callable[[str], None] = print, sysprep: bool = False) -> Captured:
    """Read `device` on the host into `output` (see the module docstring)."""
    host = transport.name
    kind = output_kind(output)
    if sysprep and not shrink:
        raise ImageInputError("--sysprep works on the root file system --shrink splits off; "
                              "add --shrink")
    stripped: list[str] = []
    probe = await transport.run(PROBE.format(dev=shlex.quote(device)), sudo=True, timeout=120)
    if probe.exit_status == 3:
        raise ImageError(f"{host}: --device {device} does not exist there")
    if not probe.ok:
        raise CommandError(host, f"look at {device}", probe.exit_status, probe.stderr)
    size = 0
    mounted: list[str] = []
    for line in probe.stdout.splitlines():
        if line.startswith("size "):
            word = line[5:].strip()
            if not word.isdigit():
                raise ImageError(f"{host}: {device}: the host reported size {word[:40]!r}")
            size = int(word)
        elif line.startswith("mount ") and line[6:] not in mounted:
            mounted.append(line[6:])
    if size <= 0:
        raise ImageError(f"{host}: {device} is empty")
    if mounted:
        say(f"warning: {host}:{device} is in use (mounted on {', '.join(mounted)}): the copy is "
            "crash-consistent, like pulling the power; stop services or capture from another "
            "reader for a clean copy")
    partial = output.with_name(f".{output.name}.partial")
    head = output.with_name(f".{output.name}.head")
    part = output.with_name(f".{output.name}.part")
    writer: Any = Splitter(head, part) if shrink else Compressor(partial, kind)
    command = f"exec dd if={shlex.quote(device)} bs=4M status=none"
    try:
        with Meter(f"capture {host}:{device}", size, quiet=quiet) as meter:
            sink = ThreadSink(writer, meter)
            try:
                result = await transport.stream_out(command, sink, sudo=True,
                                                    timeout=600 + size / 1e6)
            finally:
                sink.finish()
        if not result.ok:
            raise CommandError(host, f"read {device}", result.exit_status, result.stderr)
        received = writer.offset if shrink else writer.raw_size
        if received != size:
            raise ImageError(f"{host}: got {received} bytes of {device}, expected {size}")
        writer.close()
        shrunk_from = 0
        grows = False
        if shrink:
            shrunk_from, grows, writer = _shrink_and_pack(writer, head, part, partial, kind,
                                                          margin_mb, quiet,
                                                          stripped if sysprep else None)
        image_size = writer.raw_size
        os.replace(partial, output)
    except BaseException:
        writer.abort()
        partial.unlink(missing_ok=True)
        raise
    finally:
        head.unlink(missing_ok=True)
        part.unlink(missing_ok=True)
    digest = _sha256_file(output)
    write_sha256_file(output, digest)
    return Captured(output, size, image_size, output.stat().st_size, digest, mounted,
                    shrunk_from, grows, stripped)


def _shrink_and_pack(splitter: Splitter, head: Path, part: Path, partial: Path, kind: str,
                     margin_mb: float | None, quiet: bool,
                     stripped: list[str] | None = None) -> tuple[int, bool, Compressor]:
    """Shrink (and with `stripped`, sysprep: what it removed is added there), then pack."""
    from cloudmesh.swarm.image import shrink as shrinker
    from cloudmesh.swarm.image.sysprep import sysprep

    assert splitter.table is not None
    last = splitter.table.last()
    assert last is not None
    strip = None if stripped is None else (lambda fs: stripped.extend(sysprep(fs)))
    old, new, grows = shrinker.shrink(part, margin_mb, strip)
    sectors = math.ceil(new / mbr.SECTOR)
    packer = Compressor(partial, kind)
    try:
        total = head.stat().st_size + sectors * mbr.SECTOR
        with Meter(f"compress {partial.name[1:-8]}", total, quiet=quiet) as meter:
            with open(head, "rb") as source:
                first = source.read(mbr.SECTOR)
                packer.write(mbr.with_size(first, last.number, sectors))
                meter.advance(len(first))
                while chunk := source.read(BLOCK):
                    packer.write(chunk)
                    meter.advance(len(chunk))
            with open(part, "rb") as source:
                while chunk := source.read(BLOCK):
                    packer.write(chunk)
                    meter.advance(len(chunk))
            pad = sectors * mbr.SECTOR - new
            if pad:
                packer.write(bytes(pad))
        packer.close()
    except BaseException:
        packer.abort()
        raise
    return old + last.offset, grows, packer


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(BLOCK):
            digest.update(chunk)
    return digest.hexdigest()
