"""Shrink the last ext4 partition of a captured image and make it grow again on first boot.

What PiShrink does, without root or loop devices: capture.py writes the last partition
into a file of its own (sparse where the card held zeros), so resize2fs works on a plain
file (given an offset into a whole image it would truncate the file wrongly). Here:
e2fsck -fy (a live card gives a crash-consistent copy: replay the journal, fix), install a
one-shot systemd unit that grows partition and file system to the whole card on first
boot, resize2fs to the minimum plus a margin, e2fsck -fn to prove it is clean.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from pathlib import Path

from cloudmesh.swarm.image import ext4

GROW_SCRIPT = """#!/bin/sh
# cms-swarm: grow the root partition and file system to fill the card, once
# (installed by `cms-swarm image capture --shrink`; removes itself).
root=$(findmnt -no SOURCE /)
name=$(basename "$root")
disk=/dev/$(lsblk -no PKNAME "$root" | head -n1)
part=$(cat "/sys/class/block/$name/partition")
if command -v growpart >/dev/null 2>&1; then
    growpart "$disk" "$part"
elif command -v sfdisk >/dev/null 2>&1; then
    echo ", +" | sfdisk --no-reread --no-tell-kernel -N "$part" "$disk" && partx -u "$disk"
elif command -v parted >/dev/null 2>&1; then
    parted -s "$disk" resizepart "$part" 100%
fi
resize2fs "$root"
systemctl disable cms-swarm-grow.service
rm -f /etc/systemd/system/cms-swarm-grow.service /usr/local/sbin/cms-swarm-grow
"""
GROW_UNIT = """[Unit]
Description=Grow the root file system to fill the card (cms-swarm image capture --shrink)
After=local-fs.target
ConditionPathExists=/usr/local/sbin/cms-swarm-grow

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/cms-swarm-grow

[Install]
WantedBy=multi-user.target
"""
SCRIPT_PATH = "/usr/local/sbin/cms-swarm-grow"
UNIT_PATH = "/etc/systemd/system/cms-swarm-grow.service"
WANTS_LINK = "/etc/systemd/system/multi-user.target.wants/cms-swarm-grow.service"


def _block_info(part: Path) -> tuple[int, int]:
    """(block size, block count) from the superblock."""
    out = ext4.run([ext4.tool("dumpe2fs"), "-h", str(part)], "reading the superblock")
    size = re.search(r"^Block size:\s+(\d+)", out, re.MULTILINE)
    count = re.search(r"^Block count:\s+(\d+)", out, re.MULTILINE)
    if not size or not count:
        raise ValueError("dumpe2fs gave no block size")
    return int(size.group(1)), int(count.group(1))


def install_grow(part: Path) -> bool:
    """Add the grow-once unit to the file system in `part`; False when it has no systemd."""
    if not ext4.exists(part, 0, "/etc/systemd/system"):
        return False
    with tempfile.TemporaryDirectory(prefix="cms-grow-") as tmp:
        script = Path(tmp) / "grow"
        unit = Path(tmp) / "unit"
        script.write_text(GROW_SCRIPT)
        unit.write_text(GROW_UNIT)
        commands = [
            "mkdir /usr/local", "mkdir /usr/local/sbin", f"rm {SCRIPT_PATH}",
            f"write {script} {SCRIPT_PATH}", f"sif {SCRIPT_PATH} mode 0100755",
            f"sif {SCRIPT_PATH} uid 0", f"sif {SCRIPT_PATH} gid 0",
            f"rm {UNIT_PATH}", f"write {unit} {UNIT_PATH}", f"sif {UNIT_PATH} mode 0100644",
            f"sif {UNIT_PATH} uid 0", f"sif {UNIT_PATH} gid 0",
            "mkdir /etc/systemd/system/multi-user.target.wants", f"rm {WANTS_LINK}",
            f"symlink {WANTS_LINK} {UNIT_PATH}",
        ]
        cmds = Path(tmp) / "cmds"
        cmds.write_text("\n".join(commands) + "\n")
        ext4.run([ext4.tool("debugfs"), "-w", "-f", str(cmds), str(part)], "installing the grow unit")
    return ext4.exists(part, 0, UNIT_PATH) and ext4.exists(part, 0, WANTS_LINK)


def shrink(part: Path, margin_mb: float | None = None,
           after_fsck: Callable[[Path], object] | None = None) -> tuple[int, int, bool]:
    """Shrink the ext file system in the file `part` (truncated to it); returns
    (old bytes, new bytes, grow unit installed). `after_fsck` edits the checked file system
    before it shrinks (sysprep)."""
    old = part.stat().st_size
    ext4.run([ext4.tool("e2fsck"), "-fy", str(part)], "e2fsck before shrinking", ok=(0, 1, 2))
    if after_fsck is not None:
        after_fsck(part)
    grows = install_grow(part)
    block, count = _block_info(part)
    out = ext4.run([ext4.tool("resize2fs"), "-P", str(part)], "estimating the minimum size")
    found = re.search(r"minimum size of the filesystem:\s*(\d+)", out)
    if not found:
        raise ValueError(f"resize2fs -P said: {out.strip()}")
    minimum = int(found.group(1))
    margin = (margin_mb * (1 << 20) if margin_mb is not None
              else minimum * block * 0.10 + (32 << 20))
    wanted = minimum + int(margin // block) + 1
    wanted = -(-wanted // 1024) * 1024 if block == 1024 else -(-wanted // 256) * 256  # 1 MiB
    if wanted < count:
        ext4.run([ext4.tool("resize2fs"), str(part), str(wanted)], "resize2fs")
        count = wanted
    ext4.run([ext4.tool("e2fsck"), "-fn", str(part)], "e2fsck after shrinking")
    with open(part, "r+b") as handle:
        handle.truncate(count * block)
    return old, count * block, grows
