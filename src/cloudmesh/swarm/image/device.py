"""What a burn target is, and the checks that refuse a dangerous one before anything is written.

A target is a whole block device (an SD card in a reader, a loop device) or a regular
file (an image to copy later; tests use files). Refused, with one line that says why:
a device that holds the running system's root, any mounted or swapped-on partition (or
one held by device-mapper/RAID), a partition instead of the whole disk, a device smaller
than the image, a non-removable disk unless --force, and for files: the image itself, a
file attached to a loop device, a file under /dev, too little free space. Linux sysfs
and /proc are read; on other systems block devices are refused (files still work).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from cloudmesh.swarm.image import mbr
from cloudmesh.swarm.image.errors import DeviceRefused

SYS_BLOCK = Path("/sys/dev/block")


@dataclass
class Target:
    """A burn target as found now; `disk` is the sysfs name of a block device (e.g. sdb)."""

    path: Path
    kind: str  # "file" or "block"
    exists: bool
    size: int  # device size, or the file's current size
    disk: str = ""
    model: str = ""
    removable: bool = True
    contents: list[str] = field(default_factory=list)  # what a burn would destroy

    def describe(self) -> str:
        size = human(self.size)
        if self.kind == "file":
            what = f"regular file {self.path}" + (f" ({size})" if self.exists else " (new)")
        else:
            what = (f"{self.path}: {self.model or 'unknown model'}, {size}, "
                    f"{'removable' if self.removable else 'NOT removable'}")
        return what


def human(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(size) < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"


def inspect(device: str | os.PathLike[str]) -> Target:
    """Look at DEV without changing it (DeviceRefused for what can never be a target)."""
    path = Path(device)
    try:
        info = path.stat()
    except FileNotFoundError:
        if str(path.absolute()).startswith("/dev/"):
            raise DeviceRefused(f"--device: {path} does not exist (is the card reader plugged in?)") from None
        parent = path.absolute().parent
        if not parent.is_dir():
            raise DeviceRefused(f"--device: directory {parent} does not exist") from None
        return Target(path, "file", False, 0)
    except OSError as error:
        raise DeviceRefused(f"--device: cannot look at {path}: {error.strerror}") from None
    if stat.S_ISREG(info.st_mode):
        if str(path.resolve()).startswith("/dev/"):
            raise DeviceRefused(f"--device: {path} is a regular file under /dev, not a device")
        return Target(path, "file", True, info.st_size, contents=_contents(path))
    if not stat.S_ISBLK(info.st_mode):
        raise DeviceRefused(f"--device: {path} is neither a block device nor a regular file")
    return _block_target(path, info)


def _block_target(path: Path, info: os.stat_result) -> Target:
    sysdir = _sysdir(info.st_rdev)
    if sysdir is None:
        raise DeviceRefused(f"--device: {path}: cannot identify the device (no /sys/dev/block); "
                            "block devices are only supported on Linux")
    if (sysdir / "partition").exists():
        disk = sysdir.parent.name
        raise DeviceRefused(f"--device: {path} is a partition of /dev/{disk}; give the whole disk "
                            f"(--device /dev/{disk})")
    name = sysdir.name
    size = int(_read(sysdir / "size") or 0) * 512
    target = Target(path, "block", True, size, disk=name, model=_model(sysdir),
                    removable=_removable(sysdir))
    target.contents = _contents(path)
    return target


def _sysdir(rdev: int) -> Path | None:
    link = SYS_BLOCK / f"{os.major(rdev)}:{os.minor(rdev)}"
    return link.resolve() if link.exists() else None


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def _model(sysdir: Path) -> str:
    if (sysdir / "loop" / "backing_file").exists():
        return f"loop device of {_read(sysdir / 'loop' / 'backing_file')}"
    parts = [_read(sysdir / "device" / "vendor"), _read(sysdir / "device" / "model"),
             _read(sysdir / "device" / "name")]
    return " ".join(p for p in parts if p)


def _removable(sysdir: Path) -> bool:
    """Removable media flag, a USB reader, or an SD/MMC card slot."""
    if _read(sysdir / "removable") == "1" or sysdir.name.startswith("mmcblk"):
        return True
    return "/usb" in str(sysdir)


def _contents(path: Path) -> list[str]:
    """Partitions and file systems found on the target (best effort; for the warning)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return []
    try:
        table = mbr.parse(mbr.read_at(fd, 0, mbr.SECTOR))
        found = []
        for part in table.partitions:
            head = mbr.read_at(fd, part.offset, 65536)
            fs = mbr.filesystem(head)
            label = mbr.label(head, fs)
            found.append(f"partition {part.number}: {human(part.size)} {fs or 'unknown'}"
                         + (f" '{label}'" if label else ""))
        if table.kind == "gpt":
            found.append("a GPT partition table")
        return found
    finally:
        os.close(fd)


# -- the checks ------------------------------------------------------------------------------
def check(target: Target, image_size: int, *, force: bool = False,
          image_path: Path | None = None) -> None:
    """Refuse a dangerous target (DeviceRefused, exit 2); return quietly when it is safe."""
    if target.kind == "file":
        _check_file(target, image_size, image_path)
        return
    root = root_disks()
    if target.disk in root:
        raise DeviceRefused(f"--device: {target.path} holds the running system's root file "
                            "system; refusing to overwrite it")
    users = disk_users()
    if target.disk in users:
        raise DeviceRefused(f"--device: {target.path} is in use: {', '.join(sorted(users[target.disk]))}; "
                            "unmount it first (e.g. sudo umount " + str(target.path) + "*)")
    if target.size < image_size:
        raise DeviceRefused(f"--device: {target.path} is too small: {human(target.size)} for an "
                            f"image of {human(image_size)}")
    if not target.removable and not force:
        raise DeviceRefused(f"--device: {target.path} ({target.model or 'disk'}) is not a "
                            "removable disk; check it is the card and add --force")


def _check_file(target: Target, image_size: int, image_path: Path | None) -> None:
    path = target.path
    if target.exists and image_path is not None and path.resolve() == image_path.resolve():
        raise DeviceRefused(f"--device: {path} is the image itself")
    attached = loop_backing_files()
    if target.exists and str(path.resolve()) in attached:
        raise DeviceRefused(f"--device: {path} is attached to {attached[str(path.resolve())]}; "
                            "detach it first (losetup -d)")
    folder = path.absolute().parent
    try:
        vfs = os.statvfs(folder)
    except OSError as error:
        raise DeviceRefused(f"--device: cannot write in {folder}: {error.strerror}") from None
    free = vfs.f_bavail * vfs.f_frsize + (target.size if target.exists else 0)
    if free < image_size:
        raise DeviceRefused(f"--device: not enough space in {folder} for {path}: "
                            f"{human(free)} free, the image needs {human(image_size)}")
    if not os.access(folder if not target.exists else path, os.W_OK):
        raise DeviceRefused(f"--device: {path} is not writable")


def _mountinfo() -> list[tuple[str, str, str]]:
    """(major:minor, mount point, source) of every mount this process can see."""
    rows: list[tuple[str, str, str]] = []
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return rows
    for line in lines:
        left, _, right = line.partition(" - ")
        fields = left.split()
        extra = right.split()
        if len(fields) >= 5:
            rows.append((fields[2], fields[4].replace("\\040", " "), extra[1] if len(extra) > 1 else ""))
    return rows


def _disks_of(devnum: str, source: str = "") -> set[str]:
    """Whole-disk names under a device number (through partitions, dm, md and loop files)."""
    link = SYS_BLOCK / devnum
    if not link.exists() and source.startswith("/dev/"):
        try:
            rdev = os.stat(source).st_rdev
            link = SYS_BLOCK / f"{os.major(rdev)}:{os.minor(rdev)}"
        except OSError:
            return set()
    if not link.exists():
        return set()
    return _walk_down(link.resolve())


def _walk_down(sysdir: Path, depth: int = 0) -> set[str]:
    if depth > 8:
        return set()
    disk = sysdir.parent if (sysdir / "partition").exists() else sysdir
    found = {disk.name}
    slaves = sysdir / "slaves"
    if slaves.is_dir():
        for slave in slaves.iterdir():
            found |= _walk_down(slave.resolve(), depth + 1)
    return found


def root_disks() -> set[str]:
    """The disks that hold `/` (and what it sits on: LVM, RAID)."""
    found: set[str] = set()
    for devnum, point, source in _mountinfo():
        if point == "/":
            found |= _disks_of(devnum, source)
    return found


def disk_users() -> dict[str, set[str]]:
    """disk name -> what uses it: mounts, swap, device-mapper or RAID holders."""
    users: dict[str, set[str]] = {}
    for devnum, point, source in _mountinfo():
        for disk in _disks_of(devnum, source):
            users.setdefault(disk, set()).add(f"mounted on {point}")
    try:
        swaps = Path("/proc/swaps").read_text().splitlines()[1:]
    except OSError:
        swaps = []
    for line in swaps:
        name = line.split()[0] if line.split() else ""
        if name.startswith("/dev/"):
            for disk in _disks_of("", name):
                users.setdefault(disk, set()).add(f"swap on {name}")
    for disk_dir in Path("/sys/block").glob("*") if Path("/sys/block").is_dir() else []:
        for holder_dir in [disk_dir, *disk_dir.glob(disk_dir.name + "*")]:
            holders = holder_dir / "holders"
            if holders.is_dir():
                for holder in holders.iterdir():
                    users.setdefault(disk_dir.name, set()).add(f"held by {holder.name}")
    return users


def loop_backing_files() -> dict[str, str]:
    """Regular files attached to loop devices: path -> /dev/loopN."""
    found = {}
    for backing in Path("/sys/block").glob("loop*/loop/backing_file"):
        path = _read(backing)
        if path:
            found[path.removesuffix(" (deleted)")] = "/dev/" + backing.parent.parent.name
    return found
