"""MBR partition tables and file-system signatures, read from bytes (no tools, no root).

Raspberry Pi OS images are MBR disks: a FAT32 boot partition and an ext4 root. Everything
here works on the first sectors of an image file, a device, or a decompressed stream, so
`info`, `customize` and `shrink` find partitions the same way everywhere.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

SECTOR = 512
FAT_TYPES = {0x01, 0x04, 0x06, 0x0B, 0x0C, 0x0E, 0xEF}
LINUX = 0x83
EXTENDED = {0x05, 0x0F, 0x85}
GPT_PROTECTIVE = 0xEE


@dataclass(frozen=True)
class Partition:
    """One primary MBR entry; offsets in bytes."""

    number: int  # 1..4
    type_id: int
    start_sector: int
    sectors: int
    bootable: bool = False

    @property
    def offset(self) -> int:
        return self.start_sector * SECTOR

    @property
    def size(self) -> int:
        return self.sectors * SECTOR

    @property
    def end(self) -> int:
        return self.offset + self.size


@dataclass(frozen=True)
class Table:
    """The partition table of sector 0: kind is 'mbr', 'gpt' (protective MBR) or 'none'."""

    kind: str
    disk_id: int
    partitions: tuple[Partition, ...]

    def last(self) -> Partition | None:
        return max(self.partitions, key=lambda p: p.start_sector, default=None)

    @property
    def end(self) -> int:
        """First byte after the last partition (0 without partitions)."""
        return max((p.end for p in self.partitions), default=0)


def parse(sector0: bytes) -> Table:
    """The table in the first 512 bytes; 'none' when the boot signature is missing."""
    if len(sector0) < SECTOR or sector0[510:512] != b"\x55\xaa":
        return Table("none", 0, ())
    disk_id = struct.unpack_from("<I", sector0, 440)[0]
    parts = []
    for index in range(4):
        entry = sector0[446 + 16 * index: 446 + 16 * (index + 1)]
        status, type_id = entry[0], entry[4]
        start, count = struct.unpack_from("<II", entry, 8)
        if type_id == 0 or count == 0:
            continue
        if type_id == GPT_PROTECTIVE:
            return Table("gpt", disk_id, ())
        parts.append(Partition(index + 1, type_id, start, count, status == 0x80))
    return Table("mbr", disk_id, tuple(parts))


def entry_bytes(part: Partition) -> bytes:
    """The 16-byte MBR entry (CHS fields set to the LBA-only marker, as sfdisk does past 8 GB)."""
    chs = b"\xfe\xff\xff"
    return (bytes([0x80 if part.bootable else 0]) + chs + bytes([part.type_id]) + chs
            + struct.pack("<II", part.start_sector, part.sectors))


def build(partitions: list[Partition], disk_id: int) -> bytes:
    """A whole sector 0 holding these primary partitions (used by tests and by shrink)."""
    sector = bytearray(SECTOR)
    struct.pack_into("<I", sector, 440, disk_id)
    for part in partitions:
        sector[446 + 16 * (part.number - 1): 446 + 16 * part.number] = entry_bytes(part)
    sector[510:512] = b"\x55\xaa"
    return bytes(sector)


def with_size(sector0: bytes, number: int, sectors: int) -> bytes:
    """Sector 0 with partition `number` resized to `sectors` (everything else kept)."""
    sector = bytearray(sector0[:SECTOR])
    at = 446 + 16 * (number - 1) + 12
    struct.pack_into("<I", sector, at, sectors)
    return bytes(sector)


def filesystem(head: bytes) -> str:
    """'vfat', 'ext4'/'ext3'/'ext2', 'swap' or '' from the first 64 KiB of a partition."""
    if len(head) >= 0x438 + 2 and head[0x438:0x43A] == b"\x53\xef":
        compat, incompat = struct.unpack_from("<II", head, 0x45C)
        if incompat & 0x40 or incompat & 0x80 or incompat & 0x200:  # extents, 64bit, flex_bg
            return "ext4"
        return "ext3" if compat & 0x4 else "ext2"
    if len(head) >= 90 and head[510:512] == b"\x55\xaa" and (
            head[82:87] == b"FAT32" or head[54:59] in (b"FAT12", b"FAT16")):
        return "vfat"
    if len(head) >= 4096 and head[4086:4096] in (b"SWAPSPACE2", b"SWAP-SPACE"):
        return "swap"
    return ""


def label(head: bytes, fs: str) -> str:
    """The volume label, if any."""
    if fs.startswith("ext") and len(head) >= 0x488:
        return head[0x478:0x488].split(b"\0")[0].decode("utf-8", "replace")
    if fs == "vfat" and len(head) >= 82:
        raw = head[71:82] if head[82:87] == b"FAT32" else head[43:54]
        text = raw.decode("ascii", "replace").strip()
        return "" if text == "NO NAME" else text
    return ""


def read_at(fd: int, offset: int, length: int) -> bytes:
    """Up to `length` bytes at `offset` (short at the end of the file)."""
    out = bytearray()
    while len(out) < length:
        chunk = os.pread(fd, length - len(out), offset + len(out))
        if not chunk:
            break
        out += chunk
    return bytes(out)
