"""An arm64 Raspberry Pi OS-like root (scripts/rpi-root.sh, cached) carrying Raspberry Pi's own
first-boot scripts (tests/firstboot/rpi, from their repositories at a named commit), in which
a customised image's first boot is run for real: firstboot's cmdline.txt edits (boot 1), then
the `systemd.run=` script of cmdline.txt as root in a chroot (boot 2), under qemu-user, so
raspi-config sees `dpkg --print-architecture` = arm64 and edits cmdline.txt as on a Pi.
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


@pytest.fixture(scope="session")
def rpi_root() -> Path:
    """The cached arm64 root (built on first use: debootstrap under qemu-user, ~3-8 min)."""
    if os.geteuid() != 0:
        pytest.skip("first-boot tests need root (chroot, mounts)")
    if not Path("/proc/sys/fs/binfmt_misc/qemu-aarch64").exists():
        pytest.fail("no binfmt handler for aarch64: run scripts/setup-host.sh")
    done = subprocess.run(["bash", str(REPO / "scripts/rpi-root.sh")], capture_output=True,
                          text=True, timeout=1200, check=False)
    assert done.returncode == 0, done.stderr
    return Path(done.stdout.strip().splitlines()[-1])


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


@pytest.fixture
def first_boot(rpi_root: Path, tmp_path: Path) -> Iterator[object]:
    """first_boot(image) -> FirstBoot: a fresh copy-on-write root per call."""
    mounts: list[Path] = []

    def run(image: Path) -> FirstBoot:
        work = tmp_path / f"boot{len(mounts)}"
        upper, scratch, root = work / "upper", work / "work", work / "root"
        for folder in (upper, scratch, root):
            folder.mkdir(parents=True)
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                        f"lowerdir={rpi_root},upperdir={upper},workdir={scratch}", str(root)],
                       check=True)
        mounts.append(root)
        for here, there in SCRIPTS.items():
            target = root / there
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(RPI / here, target)
            target.chmod(0o755)
        layout = customize.detect(image)
        assert layout.boot is not None
        fat = Fat(image, layout.boot.offset)
        boot = root / layout.boot_mount.lstrip("/")
        boot.mkdir(parents=True, exist_ok=True)
        for name in fat.names():
            (boot / name).write_bytes(fat.read(name) or b"")
            (boot / name).chmod(0o755)  # a vfat mount shows every file executable
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
    for root in reversed(mounts):
        subprocess.run(["umount", str(root)], check=False)


def _chroot(root: Path, argv: list[str], env: dict[str, str]) -> str:
    """argv as root in `root`, in its own pid and mount namespace (own /proc, host /dev)."""
    inner = f'mount --bind /dev "{root}/dev" && exec chroot "{root}" "$@"'
    done = subprocess.run(
        ["unshare", "--pid", "--fork", "--mount", f"--mount-proc={root}/proc",
         "/bin/sh", "-c", inner, "sh", *argv],
        capture_output=True, text=True, timeout=300, check=False,
        env={"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
             "LANG": "C.UTF-8", "HOME": "/root", **env})
    assert done.returncode == 0, f"{argv} exit {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr
