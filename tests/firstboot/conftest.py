"""Roots made like Raspberry Pi OS before first boot (scripts/rpi-root.sh, cached), in which a
customised image's first boot is run for real, as root in a chroot with its own pid, mount,
UTS and network namespaces (so nothing it does reaches this machine):
- bookworm, arm64 under qemu-user (raspi-config sees `dpkg --print-architecture` = arm64 and
  edits cmdline.txt as on a Pi), carrying Raspberry Pi's own first-boot scripts
  (tests/firstboot/rpi, from their repositories at a named commit): firstboot's cmdline.txt
  edits (boot 1), then the `systemd.run=` script of cmdline.txt (boot 2);
- trixie with Debian's cloud-init and netplan and pi-gen's NoCloud configuration: cloud-init's
  four stages on the boot partition's user-data, meta-data and network-config.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cloudmesh.swarm.image import customize
from cloudmesh.swarm.image.fat import Fat

REPO = Path(__file__).resolve().parents[2]
RPI = Path(__file__).with_name("rpi")
SCRIPTS = {  # file here -> path on a Raspberry Pi OS bookworm card
    "raspberrypi-sys-mods/imager_custom": "usr/lib/raspberrypi-sys-mods/imager_custom",
    "raspberrypi-sys-mods/firstboot": "usr/lib/raspberrypi-sys-mods/firstboot",
    "raspi-config/raspi-config": "usr/bin/raspi-config",
    "userconf-pi/userconf": "usr/lib/userconf-pi/userconf",
    "userconf-pi/cancel-rename": "usr/bin/cancel-rename",
}


def _root(kind: str) -> Path:
    if os.geteuid() != 0:
        pytest.skip("first-boot tests need root (chroot, mounts)")
    if kind == "bookworm" and not Path("/proc/sys/fs/binfmt_misc/qemu-aarch64").exists():
        pytest.fail("no binfmt handler for aarch64: run scripts/setup-host.sh")
    done = subprocess.run(["bash", str(REPO / "scripts/rpi-root.sh"), kind], capture_output=True,
                          text=True, timeout=1200, check=False)
    assert done.returncode == 0, done.stderr
    return Path(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def rpi_root() -> Path:
    """The cached arm64 bookworm root (built on first use: debootstrap under qemu-user, ~4 min)."""
    return _root("bookworm")


@pytest.fixture(scope="session")
def trixie_root() -> Path:
    """The cached trixie root with cloud-init (built on first use: debootstrap, ~1.5 min)."""
    return _root("trixie")


@dataclass
class FirstBoot:
    """A root after first boot: its files, firstrun.sh's output."""

    root: Path
    output: str

    def read(self, path: str) -> str:
        return (self.root / path.lstrip("/")).read_text()

    @property
    def boot(self) -> Path:
        return self.root / "boot/firmware"


class Overlays:
    """Copy-on-write roots over a cached one (overlayfs), unmounted at the end of the test."""

    def __init__(self, lower: Path, tmp: Path) -> None:
        self.lower, self.tmp, self.mounts = lower, tmp, list[Path]()

    def new(self) -> Path:
        work = self.tmp / f"boot{len(self.mounts)}"
        upper, scratch, root = work / "upper", work / "work", work / "root"
        for folder in (upper, scratch, root):
            folder.mkdir(parents=True)
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                        f"lowerdir={self.lower},upperdir={upper},workdir={scratch}", str(root)],
                       check=True)
        self.mounts.append(root)
        return root

    def close(self) -> None:
        for root in reversed(self.mounts):
            subprocess.run(["umount", str(root)], check=False)


def copy_boot(image: Path, root: Path) -> tuple[customize.Layout, Path]:
    """The image's boot partition into the root's mount point, as a vfat mount shows it."""
    layout = customize.detect(image)
    assert layout.boot is not None
    fat = Fat(image, layout.boot.offset)
    boot = root / layout.boot_mount.lstrip("/")
    boot.mkdir(parents=True, exist_ok=True)
    for name in fat.names():
        (boot / name).write_bytes(fat.read(name) or b"")
        (boot / name).chmod(0o755)  # a vfat mount shows every file executable
    return layout, boot


@pytest.fixture
def first_boot(rpi_root: Path, tmp_path: Path) -> Iterator[object]:
    """first_boot(image) -> FirstBoot: a fresh copy-on-write bookworm root per call."""
    overlays = Overlays(rpi_root, tmp_path)

    def run(image: Path) -> FirstBoot:
        root = overlays.new()
        for here, there in SCRIPTS.items():
            target = root / there
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(RPI / here, target)
            target.chmod(0o755)
        layout, boot = copy_boot(image, root)
        # boot 1: raspberrypi-sys-mods' firstboot; its own cmdline.txt edits, run as they are
        # (firstboot itself resizes, remounts and reboots, which a chroot cannot do)
        lines = (RPI / "raspberrypi-sys-mods/firstboot").read_text().splitlines()
        first = next(i for i, line in enumerate(lines) if "s| init=" in line)
        last = lines.index('mount "$FWLOC" -o remount,ro')
        edits = lines[first:last]  # strip init= and sdhci quirk; drop " quiet" unless splash
        assert sum("cmdline.txt" in line for line in edits) == 4, edits
        _chroot(root, ["/bin/sh", "-ec", "\n".join(edits)], {"FWLOC": layout.boot_mount})
        # boot 2: systemd runs the cmdline's systemd.run= command as root
        words = (boot / "cmdline.txt").read_text().split()
        hooks = [w.split("=", 1)[1] for w in words if w.startswith("systemd.run=")]
        assert len(hooks) == 1, words
        output = _chroot(root, [hooks[0]], {})
        return FirstBoot(root, output)

    yield run
    overlays.close()


# No systemd runs in a chroot: `systemctl show ... ActiveState` (cloud-init's set-passwords
# asks whether sshd runs, to restart it) says "inactive", and `enable --now` only enables
# (starting needs the bus), offline (in its own pid namespace the chroot is not detected);
# everything else is systemctl's own.
SYSTEMCTL_SHIM = """#!/bin/sh
case "$*" in *ActiveState*) echo inactive; exit 0 ;; esac
if [ "$1" = enable ] && [ "$2" = --now ]; then shift 2; set -- enable "$@"; fi
SYSTEMD_OFFLINE=1 exec /usr/bin/systemctl "$@"
"""
CLOUD_INIT_STAGES = ("cloud-init init --local && cloud-init init && "
                     "cloud-init modules --mode=config && cloud-init modules --mode=final")


@pytest.fixture
def cloud_init_boot(trixie_root: Path, tmp_path: Path) -> Iterator[object]:
    """cloud_init_boot(image, boots=1) -> FirstBoot: cloud-init's stages `boots` times on a
    fresh copy-on-write trixie root with the image's boot partition; then `cloud-init status`."""
    overlays = Overlays(trixie_root, tmp_path)

    def run(image: Path, boots: int = 1) -> FirstBoot:
        root = overlays.new()
        config = root / "etc/cloud/cloud.cfg.d/99_raspberry-pi.cfg"
        shutil.copyfile(RPI / "pi-gen/99_raspberry-pi.cfg", config)
        shim = root / "usr/local/sbin/systemctl"
        shim.write_text(SYSTEMCTL_SHIM)
        shim.chmod(0o755)
        copy_boot(image, root)
        output = ""
        for _ in range(boots):
            output += _chroot(root, ["/bin/sh", "-c", CLOUD_INIT_STAGES], {}, sysfs=True)
        return FirstBoot(root, output)

    yield run
    overlays.close()


def _chroot(root: Path, argv: list[str], env: dict[str, str], sysfs: bool = False,
            ok: tuple[int, ...] = (0,)) -> str:
    """argv as root in `root`, in its own pid, mount, UTS (a `hostname` call stays inside) and
    network namespace, with its own /proc (and /sys) and this machine's /dev."""
    inner = f'mount --bind /dev "{root}/dev" && '
    if sysfs:
        inner += f'mount -t sysfs sysfs "{root}/sys" && '
    inner += f'exec chroot "{root}" "$@"'
    done = subprocess.run(
        ["unshare", "--pid", "--fork", "--mount", "--uts", "--net", f"--mount-proc={root}/proc",
         "/bin/sh", "-c", inner, "sh", *argv],
        capture_output=True, text=True, timeout=300, check=False,
        env={"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
             "LANG": "C.UTF-8", "HOME": "/root", **env})
    assert done.returncode in ok, f"{argv} exit {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr
