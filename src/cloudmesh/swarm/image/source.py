"""Image sources: a raw `.img`, or `.img.xz`, `.img.gz`, `.zip` decompressed as a stream.

The format is told by magic bytes, not by the name. Each source yields the image in
blocks of exactly BLOCK bytes (the last may be shorter) so writes stay large and aligned,
and never holds more than a block or two: memory stays flat whatever the image size.
What can be checked before anything is written is checked in `open_image`: the file
exists, the format is known, an `.xz` is complete (its index is read from the end, which
also gives the exact uncompressed size), a `.zip` holds exactly one image. Corruption
inside the compressed data can only be found while decompressing; it raises ImageError
and burn.py leaves the card marked as incomplete.
"""

from __future__ import annotations

import fcntl
import lzma
import os
import shutil
import struct
import subprocess
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cloudmesh.swarm.image.errors import ImageError, ImageInputError

BLOCK = 4 << 20  # 4 MiB: a multiple of every erase block and page size that matters
XZ_MAGIC = b"\xfd7zXZ\x00"
GZ_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"


@dataclass(frozen=True)
class ImageSource:
    """An image file and how to read it; `size` is the exact image size when known."""

    path: Path
    kind: str  # raw | xz | gz | zip
    size: int | None
    file_size: int
    member: str = ""  # the image inside a zip

    @property
    def estimate(self) -> int:
        """Size for progress bars when `size` is unknown (gz): a guess, never a promise."""
        if self.size is not None:
            return self.size
        return self._gzip_isize() or self.file_size * 3

    def _gzip_isize(self) -> int:
        with open(self.path, "rb") as handle:
            handle.seek(-4, os.SEEK_END)
            isize = int(struct.unpack("<I", handle.read(4))[0])
        while isize < self.file_size:  # ISIZE is the size modulo 4 GiB
            isize += 1 << 32
        return isize

    def blocks(self, block: int = BLOCK) -> Iterator[bytes]:
        """The decompressed image, `block` bytes at a time."""
        if self.kind == "raw":
            return _raw_blocks(self.path, block)
        if self.kind == "xz":
            if shutil.which("xz"):
                return _rechunk(_xz_process_chunks(self.path, block), block)
            return _rechunk(_xz_chunks(self.path, block), block)
        if self.kind == "gz":
            return _rechunk(_gz_chunks(self.path, block), block)
        return _rechunk(_zip_chunks(self.path, self.member, block), block)


def open_image(path: str | os.PathLike[str]) -> ImageSource:
    """Check the image up front (ImageInputError names what is wrong; nothing was written)."""
    image = Path(path)
    try:
        size = image.stat().st_size
        with open(image, "rb") as handle:
            magic = handle.read(8)
    except FileNotFoundError:
        raise ImageInputError(f"IMAGE: {image} does not exist") from None
    except IsADirectoryError:
        raise ImageInputError(f"IMAGE: {image} is a directory, not an image file") from None
    except OSError as error:
        raise ImageInputError(f"IMAGE: cannot read {image}: {error.strerror}") from None
    if size == 0:
        raise ImageInputError(f"IMAGE: {image} is empty")
    if magic.startswith(XZ_MAGIC):
        return ImageSource(image, "xz", xz_uncompressed_size(image), size)
    if magic.startswith(GZ_MAGIC):
        if size < 18:
            raise ImageInputError(f"IMAGE: {image} is a truncated .gz file")
        return ImageSource(image, "gz", None, size)
    if magic.startswith(ZIP_MAGIC):
        member, length = _zip_member(image)
        return ImageSource(image, "zip", length, size, member)
    if image.suffix.lower() in (".xz", ".gz", ".zip", ".zst", ".bz2", ".7z"):
        raise ImageInputError(f"IMAGE: {image} is named {image.suffix} but is not in that "
                              "format (corrupt or truncated download?)")
    return ImageSource(image, "raw", size, size)


# -- xz -------------------------------------------------------------------------------------
def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    for index in range(9):
        if at + index >= len(data):
            raise ValueError("index ends inside a number")
        byte = data[at + index]
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, at + index + 1
    raise ValueError("number too long")


def xz_uncompressed_size(path: Path) -> int:
    """The exact image size from the index of every stream (read backwards from the end).

    This finds a truncated or damaged file before anything is written: the stream footer,
    the index and their CRCs must all be intact. It reads only the ends, not the data.
    """
    total = 0
    with open(path, "rb") as handle:
        end = handle.seek(0, os.SEEK_END)
        try:
            while end > 0:
                if end < 12:
                    raise ValueError("too short")
                handle.seek(end - 4)
                if handle.read(4) == b"\0\0\0\0":  # stream padding
                    end -= 4
                    continue
                if end < 24:
                    raise ValueError("too short")
                handle.seek(end - 12)
                footer = handle.read(12)
                if footer[10:12] != b"YZ" or zlib.crc32(footer[4:10]) != struct.unpack("<I", footer[:4])[0]:
                    raise ValueError("no intact stream footer at the end")
                index_size = (struct.unpack("<I", footer[4:8])[0] + 1) * 4
                index_start = end - 12 - index_size
                if index_start < 12:
                    raise ValueError("index larger than the file")
                handle.seek(index_start)
                index = handle.read(index_size)
                if index[0] != 0 or zlib.crc32(index[:-4]) != struct.unpack("<I", index[-4:])[0]:
                    raise ValueError("index damaged")
                count, at = _varint(index, 1)
                blocks = 0
                for _ in range(count):
                    unpadded, at = _varint(index, at)
                    uncompressed, at = _varint(index, at)
                    blocks += (unpadded + 3) & ~3
                    total += uncompressed
                start = index_start - blocks - 12
                if start < 0:
                    raise ValueError("blocks larger than the file")
                handle.seek(start)
                header = handle.read(12)
                if not header.startswith(XZ_MAGIC) or header[6:8] != footer[8:10]:
                    raise ValueError("stream header does not match its footer")
                if zlib.crc32(header[6:8]) != struct.unpack("<I", header[8:12])[0]:
                    raise ValueError("stream header damaged")
                end = start
        except (ValueError, IndexError, OSError) as error:
            raise ImageInputError(f"IMAGE: {path} is not a complete .xz file ({error}); "
                                  "download it again") from None
    return total


def _xz_process_chunks(path: Path, block: int) -> Iterator[bytes]:
    """The image from `xz -dc` (the floor's own decompressor, on its own core) through a
    1 MiB pipe; its failure (corrupt data) becomes ImageError with xz's words."""
    proc = subprocess.Popen(["xz", "-dc", "--", str(path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    assert proc.stdout is not None and proc.stderr is not None
    fd = proc.stdout.fileno()
    try:
        fcntl.fcntl(fd, 1031, 1 << 20)  # F_SETPIPE_SZ: fewer, larger reads
    except OSError:
        pass
    finished = False
    try:
        while chunk := os.read(fd, block):
            yield chunk
        finished = True
    finally:
        if not finished:
            proc.kill()
        status = proc.wait()
        errors = proc.stderr.read().decode("utf-8", "replace").strip()
        proc.stdout.close()
        proc.stderr.close()
    if status != 0:
        tail = errors.splitlines()[-1] if errors else f"xz exit {status}"
        raise ImageError(f"IMAGE: {path} is corrupt: {tail.replace(str(path) + ': ', '')}; "
                         "download it again")


def _xz_chunks(path: Path, block: int) -> Iterator[bytes]:
    """Every stream of the file in turn (xz allows several, with zero padding between), in
    pieces that fill `block`-sized blocks exactly (so blocks are joined with one copy)."""
    with open(path, "rb") as handle:
        decoder = lzma.LZMADecompressor(lzma.FORMAT_XZ)
        consumed = 0
        room = block  # what the current block still needs
        while True:
            if decoder.eof:
                data = decoder.unused_data.lstrip(b"\0")
                while not data:
                    more = handle.read(1 << 20)
                    if not more:
                        return
                    consumed += len(more)
                    data = more.lstrip(b"\0")
                decoder = lzma.LZMADecompressor(lzma.FORMAT_XZ)
            elif decoder.needs_input:
                data = handle.read(1 << 20)
                if not data:
                    raise ImageError(f"IMAGE: {path} ends in the middle of the compressed data "
                                     "(truncated); download it again")
                consumed += len(data)
            else:
                data = b""
            try:
                out = decoder.decompress(data, max_length=room)
            except lzma.LZMAError as error:
                raise ImageError(f"IMAGE: {path} is corrupt: {error} (in the first {consumed} "
                                 "bytes of the .xz file); download it again") from None
            if out:
                room = room - len(out) or block
                yield out


# -- gz / zip / raw -------------------------------------------------------------------------
def _gz_chunks(path: Path, block: int) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        decoder = zlib.decompressobj(wbits=31)
        data = b""
        room = block
        while True:
            if not data:
                data = handle.read(1 << 20)
                if not data:
                    break
            try:
                out = decoder.decompress(data, room)
            except zlib.error as error:
                raise ImageError(f"IMAGE: {path} is corrupt: {error}; download it again") from None
            data = decoder.unconsumed_tail
            if out:
                room = room - len(out) or block
                yield out
            if decoder.eof:
                rest = decoder.unused_data
                if not rest.strip(b"\0") and not handle.read(1).strip(b"\0"):
                    return
                decoder = zlib.decompressobj(wbits=31)  # another gzip member follows
                data = rest + data
        if not decoder.eof:
            raise ImageError(f"IMAGE: {path} ends in the middle of the compressed data "
                             "(truncated); download it again")


def _zip_member(path: Path) -> tuple[str, int]:
    try:
        with zipfile.ZipFile(path) as archive:
            files = [i for i in archive.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, OSError) as error:
        raise ImageInputError(f"IMAGE: {path} is not a readable .zip ({error})") from None
    images = [i for i in files if i.filename.lower().endswith(".img")] or files
    if len(images) != 1:
        names = ", ".join(i.filename for i in images[:5]) or "nothing"
        raise ImageInputError(f"IMAGE: {path} must hold exactly one .img file (found {names})")
    return images[0].filename, images[0].file_size


def _zip_chunks(path: Path, member: str, block: int) -> Iterator[bytes]:
    try:
        with zipfile.ZipFile(path) as archive, archive.open(member) as stream:
            while chunk := stream.read(block):
                yield chunk
    except (zipfile.BadZipFile, zlib.error, EOFError) as error:
        raise ImageError(f"IMAGE: {path} is corrupt: {error}; download it again") from None


def _raw_blocks(path: Path, block: int) -> Iterator[bytes]:
    fd = os.open(path, os.O_RDONLY)
    try:
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
        while chunk := os.read(fd, block):
            while len(chunk) < block:  # reads may be short on pipes and some devices
                more = os.read(fd, block - len(chunk))
                if not more:
                    break
                chunk += more
            yield chunk
    finally:
        os.close(fd)


def _rechunk(chunks: Iterator[bytes], block: int) -> Iterator[bytes]:
    """Exactly `block`-sized pieces from pieces of any size (the last may be shorter)."""
    pieces: list[bytes] = []
    have = 0
    for chunk in chunks:
        if not have and len(chunk) == block:
            yield chunk
            continue
        while chunk:
            take = chunk[:block - have] if have + len(chunk) > block else chunk
            chunk = chunk[len(take):]
            pieces.append(take)
            have += len(take)
            if have == block:
                yield pieces[0] if len(pieces) == 1 else b"".join(pieces)
                pieces, have = [], 0
    if pieces:
        yield b"".join(pieces)
