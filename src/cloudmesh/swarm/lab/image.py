"""Build (once per kind) the lab host images: Debian as a fresh Raspberry Pi OS install.

No registry can be reached, so images are made with `debootstrap` and `docker import`.
What a fresh Pi has: systemd, sshd (host keys made at first boot), user `pi` with
passwordless sudo, python3, no Docker and no container images. A kind is a release
(bookworm, trixie) and an architecture (amd64, or arm64 through qemu-user, see binfmt.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
import requests

from cloudmesh.swarm.errors import SwarmError, UsageError

RECIPE = "5"  # bump when the recipe below changes: cached images with another value are rebuilt
REPOSITORY = "cms-swarm-lab"
LABEL = "cloudmesh.swarm.lab.recipe"
MIRROR_HOST = "deb.debian.org"
MIRROR = f"http://{MIRROR_HOST}/debian"
RELEASES = ("bookworm", "trixie")
ARCHES = ("amd64", "arm64")
PACKAGES = ("systemd", "systemd-sysv", "dbus", "openssh-server", "sudo", "python3",
            "ca-certificates", "iproute2", "procps", "kmod", "iptables", "netbase")


@dataclass(frozen=True)
class Kind:
    """What a lab host is: a Debian release on an architecture."""

    release: str = "bookworm"
    arch: str = "amd64"

    def __post_init__(self) -> None:
        if self.release not in RELEASES:
            raise UsageError(f"--os {self.release!r}: choose one of {', '.join(RELEASES)}")
        if self.arch not in ARCHES:
            raise UsageError(f"--arch {self.arch!r}: choose one of {', '.join(ARCHES)}")

    @property
    def image(self) -> str:
        """The tag names the recipe, so checkouts of different recipes keep their own."""
        return f"{REPOSITORY}:{self.release}-{self.arch}-r{RECIPE}"

    def __str__(self) -> str:
        return f"{self.release}/{self.arch}"


def files(kind: Kind) -> dict[str, tuple[str, int]]:
    """The files that make a debootstrapped root look like a freshly flashed card."""
    security = f"{kind.release}-security"
    found = {
        "etc/sudoers.d/010_pi-nopasswd": ("pi ALL=(ALL) NOPASSWD: ALL\n", 0o440),
        "etc/apt/sources.list": (
            f"deb {MIRROR} {kind.release} main\n"
            f"deb {MIRROR} {kind.release}-updates main\n"
            f"deb http://{MIRROR_HOST}/debian-security {security} main\n", 0o644),
        # Host keys are made at first boot, so every lab host has its own (like a fresh Pi).
        "etc/systemd/system/lab-hostkeys.service": (
            "[Unit]\nDescription=Generate SSH host keys on first boot\n"
            "Before=ssh.service\nConditionPathExists=!/etc/ssh/ssh_host_ed25519_key\n"
            "[Service]\nType=oneshot\nExecStart=/usr/bin/ssh-keygen -A\n"
            "[Install]\nWantedBy=multi-user.target\n", 0o644),
        "etc/ssh/sshd_config.d/lab.conf": ("PasswordAuthentication no\nUseDNS no\n", 0o644),
    }
    if kind.arch != host_arch():
        # Lab-only, and a property of the host image: qemu-user has no nftables netlink, so
        # dockerd runs only without its iptables rules. The product keeps a daemon.json it finds.
        found["etc/docker/daemon.json"] = ('{"iptables": false}\n', 0o644)
    return found


LINKS = {
    "etc/systemd/system/multi-user.target.wants/lab-hostkeys.service":
        "/etc/systemd/system/lab-hostkeys.service",
    # Nothing to do in a container; masked so boot is quick and quiet.
    "etc/systemd/system/getty@tty1.service": "/dev/null",
    "etc/systemd/system/console-getty.service": "/dev/null",
    "etc/systemd/system/systemd-udevd.service": "/dev/null",
    "etc/systemd/system/systemd-udev-trigger.service": "/dev/null",
}


def host_arch() -> str:
    """This machine's architecture in Debian's words."""
    machine = os.uname().machine
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


class LabError(SwarmError):
    """The lab cannot be set up on this machine; the message says how to fix it."""


def engine() -> docker.DockerClient:
    """A client for this machine's Docker engine, or LabError with the fix."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    why = ""
    if host.startswith("unix://") and not Path(host[len("unix://"):]).exists():
        why = f"{host[len('unix://'):]} does not exist"
    else:
        client = docker.from_env(version="1.41", timeout=120)  # no probe in the constructor
        try:
            client.ping()
            return client
        except (docker.errors.DockerException, requests.RequestException) as error:
            client.close()
            why = str(error).splitlines()[0][:120]
    raise LabError(f"no Docker engine answers on this machine ({why}); install and start one: "
                   "apt-get install docker.io && dockerd & (or run scripts/setup-host.sh)")


def cached(client: docker.DockerClient, kind: Kind) -> bool:
    """True when the kind's image exists and was built from this recipe."""
    try:
        image = client.images.get(kind.image)
    except docker.errors.ImageNotFound:
        return False
    return (image.labels or {}).get(LABEL) == RECIPE


def ensure(client: docker.DockerClient, kind: Kind = Kind(),
           say: Callable[[str], None] = print) -> str:
    """Build the kind's image unless the cached one is current; return its name."""
    from cloudmesh.swarm.lab import binfmt

    binfmt.ensure(kind.arch)  # also needed to run hosts of a cached foreign image
    if cached(client, kind):
        return kind.image
    for tool, package in (("debootstrap", "debootstrap"), ("tar", "tar")):
        if shutil.which(tool) is None:
            raise LabError(f"building the lab image needs {tool}: apt-get install {package}")
    minutes = "about a minute" if kind.arch == host_arch() else "a few minutes under qemu"
    say(f"building the lab image {kind.image} with debootstrap (once, {minutes})")
    with tempfile.TemporaryDirectory(prefix="cms-swarm-lab-", dir="/var/tmp") as work:
        rootfs = Path(work) / "rootfs"
        _debootstrap(rootfs, kind)
        _customise(rootfs, kind)
        _import(client, rootfs, kind)
    say(f"lab image {kind.image} ready")
    return kind.image


def _run(args: list[str], what: str) -> None:
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        tail = " ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
        raise LabError(f"{what} failed (exit {done.returncode}): {tail}")


def _debootstrap(rootfs: Path, kind: Kind) -> None:
    _run(["debootstrap", "--variant=minbase", f"--arch={kind.arch}",
          "--include=" + ",".join(PACKAGES), kind.release, str(rootfs), MIRROR],
         f"debootstrap of Debian {kind}")


def _customise(rootfs: Path, kind: Kind) -> None:
    """Make the file tree look like a fresh Raspberry Pi OS install (see module docstring)."""
    _run(["chroot", str(rootfs), "useradd", "-m", "-s", "/bin/bash", "-G", "sudo", "-u", "1000",
          "pi"], "adding user pi")
    _run(["chroot", str(rootfs), "passwd", "-l", "pi"], "locking pi's password")
    for relative, (text, mode) in files(kind).items():
        path = rootfs / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(mode)
    for relative, target in LINKS.items():
        path = rootfs / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        path.symlink_to(target)
    for key in (rootfs / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    for listing in (rootfs / "etc/apt/sources.list.d").glob("*.sources"):
        listing.unlink()  # trixie's debootstrap writes debian.sources; ours is sources.list
    (rootfs / "etc/hostname").write_text("raspberrypi\n")
    (rootfs / "etc/machine-id").write_text("")  # systemd makes a new one per host at boot
    # dbus's postinst made one at debootstrap time, and systemd copies that one when it finds
    # it: every host would share it (as pi-gen does, remove it; dbus reads /etc/machine-id)
    (rootfs / "var/lib/dbus/machine-id").unlink(missing_ok=True)
    shutil.rmtree(rootfs / "var/lib/apt/lists", ignore_errors=True)
    (rootfs / "var/lib/apt/lists/partial").mkdir(parents=True)
    shutil.rmtree(rootfs / "var/cache/apt/archives", ignore_errors=True)
    (rootfs / "var/cache/apt/archives/partial").mkdir(parents=True)


def _import(client: docker.DockerClient, rootfs: Path, kind: Kind) -> None:
    """`tar | docker import` through the engine's API, streaming (no temporary tarball)."""
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "--numeric-owner", "-c", "."],
                           stdout=subprocess.PIPE)
    assert tar.stdout is not None
    repository, tag = kind.image.split(":")
    changes = ['CMD ["/sbin/init"]', f"LABEL {LABEL}={RECIPE}", "ENV container=docker"]
    try:
        client.api.import_image_from_stream(tar.stdout, repository=repository, tag=tag,
                                            changes=changes)
    finally:
        tar.stdout.close()
        if tar.wait() != 0:
            raise LabError("tar of the lab root file system failed")
    if not cached(client, kind):
        raise LabError(f"docker import did not produce {kind.image} with label {LABEL}={RECIPE}")
