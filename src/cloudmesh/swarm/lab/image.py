"""Build (once) the lab host image: Debian bookworm as a fresh Raspberry Pi OS install.

No registry can be reached, so the image is made with `debootstrap` and `docker import`.
What a fresh Pi has: systemd, sshd (host keys made at first boot), user `pi` with
passwordless sudo, python3, no Docker. Plus, for the lab only: the offline test image,
loaded into the host's Docker whenever Docker starts there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import docker
import docker.errors
import requests

from cloudmesh.swarm.errors import SwarmError
from cloudmesh.swarm.lab import testimage

RECIPE = "4"  # bump when the recipe below changes: cached images with another value are rebuilt
# The tag names the recipe, so checkouts of different recipes on one machine keep their own.
IMAGE = f"cms-swarm-lab:bookworm-r{RECIPE}"
LABEL = "cloudmesh.swarm.lab.recipe"
MIRROR = "http://deb.debian.org/debian"
PACKAGES = ("systemd", "systemd-sysv", "dbus", "openssh-server", "sudo", "python3",
            "ca-certificates", "iproute2", "procps", "kmod", "iptables", "netbase")
TEST_IMAGE_TAR = "/opt/cms-swarm-lab/busybox.tar"

FILES = {
    "etc/sudoers.d/010_pi-nopasswd": ("pi ALL=(ALL) NOPASSWD: ALL\n", 0o440),
    "etc/apt/sources.list": (
        "deb http://deb.debian.org/debian bookworm main\n"
        "deb http://deb.debian.org/debian bookworm-updates main\n"
        "deb http://deb.debian.org/debian-security bookworm-security main\n", 0o644),
    # Host keys are made at first boot, so every lab host has its own (like a fresh Pi).
    "etc/systemd/system/lab-hostkeys.service": (
        "[Unit]\nDescription=Generate SSH host keys on first boot\n"
        "Before=ssh.service\nConditionPathExists=!/etc/ssh/ssh_host_ed25519_key\n"
        "[Service]\nType=oneshot\nExecStart=/usr/bin/ssh-keygen -A\n"
        "[Install]\nWantedBy=multi-user.target\n", 0o644),
    # Pulled in by docker.service (see the .wants link): load the offline test image.
    "etc/systemd/system/lab-testimage.service": (
        "[Unit]\nDescription=Load the lab's offline test image into Docker\n"
        "After=docker.service\n"
        "[Service]\nType=oneshot\n"
        f"ExecStart=/bin/sh -c 'docker image inspect busybox:latest >/dev/null 2>&1 "
        f"|| docker load -q -i {TEST_IMAGE_TAR}'\n", 0o644),
    "etc/ssh/sshd_config.d/lab.conf": ("PasswordAuthentication no\nUseDNS no\n", 0o644),
}
LINKS = {
    "etc/systemd/system/multi-user.target.wants/lab-hostkeys.service":
        "/etc/systemd/system/lab-hostkeys.service",
    "etc/systemd/system/docker.service.wants/lab-testimage.service":
        "/etc/systemd/system/lab-testimage.service",
    # Nothing to do in a container; masked so boot is quick and quiet.
    "etc/systemd/system/getty@tty1.service": "/dev/null",
    "etc/systemd/system/console-getty.service": "/dev/null",
    "etc/systemd/system/systemd-udevd.service": "/dev/null",
    "etc/systemd/system/systemd-udev-trigger.service": "/dev/null",
}


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


def cached(client: docker.DockerClient) -> bool:
    """True when the image exists and was built from this recipe."""
    try:
        image = client.images.get(IMAGE)
    except docker.errors.ImageNotFound:
        return False
    return (image.labels or {}).get(LABEL) == RECIPE


def ensure(client: docker.DockerClient, say: Callable[[str], None] = print) -> str:
    """Build the image unless the cached one is current; return its name."""
    if cached(client):
        return IMAGE
    for tool, package in (("debootstrap", "debootstrap"), ("tar", "tar")):
        if shutil.which(tool) is None:
            raise LabError(f"building the lab image needs {tool}: apt-get install {package}")
    busybox = _busybox()
    say(f"building the lab image {IMAGE} with debootstrap (once, about a minute)")
    with tempfile.TemporaryDirectory(prefix="cms-swarm-lab-", dir="/var/tmp") as work:
        rootfs = Path(work) / "rootfs"
        _debootstrap(rootfs)
        _customise(rootfs, busybox)
        _import(client, rootfs)
    say(f"lab image {IMAGE} ready")
    return IMAGE


def _busybox() -> Path:
    for candidate in ("/bin/busybox", "/usr/bin/busybox"):
        path = Path(candidate)
        if path.exists():
            listing = subprocess.run([candidate, "--list"], capture_output=True, text=True).stdout
            if {"httpd", "nc"} <= set(listing.split()):
                return path
    raise LabError("the lab's test image needs a static busybox with httpd and nc: "
                   "apt-get install busybox-static")


def _run(args: list[str], what: str) -> None:
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        tail = " ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
        raise LabError(f"{what} failed (exit {done.returncode}): {tail}")


def _debootstrap(rootfs: Path) -> None:
    _run(["debootstrap", "--variant=minbase", "--include=" + ",".join(PACKAGES),
          "bookworm", str(rootfs), MIRROR], "debootstrap of Debian bookworm")


def _customise(rootfs: Path, busybox: Path) -> None:
    """Make the file tree look like a fresh Raspberry Pi OS install (see module docstring)."""
    _run(["chroot", str(rootfs), "useradd", "-m", "-s", "/bin/bash", "-G", "sudo", "-u", "1000",
          "pi"], "adding user pi")
    _run(["chroot", str(rootfs), "passwd", "-l", "pi"], "locking pi's password")
    for relative, (text, mode) in FILES.items():
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
    tar = rootfs / TEST_IMAGE_TAR.lstrip("/")
    tar.parent.mkdir(parents=True, exist_ok=True)
    tar.write_bytes(testimage.build(busybox))
    (rootfs / "etc/hostname").write_text("raspberrypi\n")
    (rootfs / "etc/machine-id").write_text("")  # systemd makes a new one per host at boot
    # dbus's postinst made one at debootstrap time, and systemd copies that one when it finds
    # it: every host would share it (as pi-gen does, remove it; dbus reads /etc/machine-id)
    (rootfs / "var/lib/dbus/machine-id").unlink(missing_ok=True)
    shutil.rmtree(rootfs / "var/lib/apt/lists", ignore_errors=True)
    (rootfs / "var/lib/apt/lists/partial").mkdir(parents=True)
    shutil.rmtree(rootfs / "var/cache/apt/archives", ignore_errors=True)
    (rootfs / "var/cache/apt/archives/partial").mkdir(parents=True)


def _import(client: docker.DockerClient, rootfs: Path) -> None:
    """`tar | docker import` through the engine's API, streaming (no temporary tarball)."""
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "--numeric-owner", "-c", "."],
                           stdout=subprocess.PIPE)
    assert tar.stdout is not None
    repository, tag = IMAGE.split(":")
    changes = ['CMD ["/sbin/init"]', f"LABEL {LABEL}={RECIPE}", "ENV container=docker"]
    try:
        client.api.import_image_from_stream(tar.stdout, repository=repository, tag=tag,
                                            changes=changes)
    finally:
        tar.stdout.close()
        if tar.wait() != 0:
            raise LabError("tar of the lab root file system failed")
    if not cached(client):
        raise LabError(f"docker import did not produce {IMAGE} with label {LABEL}={RECIPE}")
