"""Small Raspberry Pi OS-like images built from scratch: for tests, the benchmark, and trying
`image` commands without downloading a 500 MB release.

Layout as Pi OS ships it: an MBR (disk id, partitions aligned to 4 MiB), a FAT32 boot
partition with `cmdline.txt` and `config.txt`, and an ext4 root with /etc/os-release and
/etc/fstab. `kind` picks the first-boot mechanism: "cloud-init" (trixie: user-data and
meta-data in the boot partition), "firstrun" (bookworm), "captured" (bookworm after its
first boot: no `init=` hook left), "trixie-2025-10-01" (trixie without cloud-init, refused),
or "unknown" (neither). Built
with mtools (mformat, mcopy) and mke2fs -d at an offset: no root, no loop device.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import tempfile
from pathlib import Path

from cloudmesh.swarm.image import ext4, mbr
from cloudmesh.swarm.image.errors import ToolMissing

MiB = 1 << 20
OS_RELEASE = {
    "cloud-init": ('PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\nNAME="Debian GNU/Linux"\n'
                   'VERSION_ID="13"\nVERSION="13 (trixie)"\nVERSION_CODENAME=trixie\nID=debian\n'),
    "firstrun": ('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\n'
                 'VERSION_ID="12"\nVERSION="12 (bookworm)"\nVERSION_CODENAME=bookworm\nID=debian\n'),
    "unknown": 'PRETTY_NAME="Fedora Linux 41"\nNAME="Fedora Linux"\nVERSION_ID=41\nID=fedora\n',
}
OS_RELEASE["captured"] = OS_RELEASE["firstrun"]
OS_RELEASE["trixie-2025-10-01"] = OS_RELEASE["cloud-init"]


def _run(argv: list[str]) -> None:
    if shutil.which(argv[0]) is None:
        raise ToolMissing(f"{argv[0]} is needed to build a test image (mtools, e2fsprogs)")
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False,
                          env={**os.environ, "MTOOLS_SKIP_CHECK": "1", "MTOOLSRC": os.devnull})
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {done.stderr.strip()}")


def build(path: Path, kind: str = "cloud-init", *, size_mb: int = 72, boot_mb: int = 36,
          data_mb: int = 4, seed: int = 1, extra: dict[str, bytes] | None = None) -> Path:
    """Write a Pi OS-like image of `size_mb` MiB to `path` and return `path`; `extra` adds
    files to the root file system ({"/etc/machine-id": b"..."})."""
    disk_id = 0x5EED0000 + seed
    boot_start = 4 * MiB // mbr.SECTOR
    boot_sectors = boot_mb * MiB // mbr.SECTOR
    root_start = boot_start + boot_sectors
    root_sectors = size_mb * MiB // mbr.SECTOR - root_start
    partuuid = f"{disk_id:08x}"
    with open(path, "wb") as handle:
        handle.truncate(size_mb * MiB)
        handle.write(mbr.build([
            mbr.Partition(1, 0x0C, boot_start, boot_sectors),
            mbr.Partition(2, mbr.LINUX, root_start, root_sectors)], disk_id))
    boot_offset = boot_start * mbr.SECTOR
    spec = f"{path}@@{boot_offset}"
    _run(["mformat", "-i", spec, "-F", "-T", str(boot_sectors), "-h", "64", "-s", "32",
          "-c", "1", "-v", "BOOTFS", "::"])
    with tempfile.TemporaryDirectory(prefix="cms-synth-") as tmp:
        boot = Path(tmp) / "boot"
        boot.mkdir()
        cmdline = (f"console=serial0,115200 console=tty1 root=PARTUUID={partuuid}-02 "
                   "rootfstype=ext4 fsck.repair=yes rootwait")
        if kind != "captured":  # firstboot removes " quiet" and its init= on first boot
            cmdline += " quiet"
        if kind == "firstrun":
            cmdline += " init=/usr/lib/raspberrypi-sys-mods/firstboot"
        (boot / "cmdline.txt").write_text(cmdline + "\n")
        (boot / "config.txt").write_text("# synthetic Raspberry Pi OS image\narm_64bit=1\n"
                                         "dtparam=audio=on\n")
        (boot / "start4.elf").write_bytes(random.Random(seed).randbytes(256 * 1024))
        if kind == "cloud-init":
            (boot / "user-data").write_text("#cloud-config\n# default user-data of the image\n")
            (boot / "meta-data").write_text("instance-id: rpios-image\n")
            (boot / "network-config").write_text("network:\n  version: 2\n")
        for item in sorted(boot.iterdir()):
            _run(["mcopy", "-i", spec, str(item), f"::/{item.name}"])
        root = Path(tmp) / "root"
        for folder in ("etc/systemd/system/multi-user.target.wants", "usr/lib", "boot/firmware",
                       "home/pi", "var/lib"):
            (root / folder).mkdir(parents=True, exist_ok=True)
        (root / "etc/os-release").write_text(OS_RELEASE[kind])
        mount = "/boot/firmware"
        (root / "etc/fstab").write_text(
            "proc            /proc           proc    defaults          0       0\n"
            f"PARTUUID={partuuid}-01  {mount}  vfat    defaults          0       2\n"
            f"PARTUUID={partuuid}-02  /               ext4    defaults,noatime  0       1\n")
        (root / "etc/hostname").write_text("raspberrypi\n")
        rng = random.Random(seed)
        (root / "var/lib/data.bin").write_bytes(rng.randbytes(data_mb * MiB // 2)
                                                + b"swarm " * (data_mb * MiB // 12))
        for name, data in (extra or {}).items():
            (root / name.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
            (root / name.lstrip("/")).write_bytes(data)
        _run([ext4.tool("mke2fs"), "-q", "-F", "-t", "ext4", "-L", "rootfs", "-d", str(root),
              "-E", f"offset={root_start * mbr.SECTOR}", str(path),
              f"{root_sectors * mbr.SECTOR // 1024}k"])
    return path
