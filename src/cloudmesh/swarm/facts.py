"""What a host is now, read with one probe script per host and parsed by pure functions.

The probe (the package cloudmesh.swarm.probe: shell files, each fact group's parser beside
its commands) prints marked sections (`=== name ===`); `parse_facts` turns its output into
HostFacts, with the basic facts of probe.sh parsed here. Phases decide from facts only, so
a converged host yields an empty plan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from cloudmesh.swarm import probe
from cloudmesh.swarm.os_release import os_release_values
from cloudmesh.swarm.probe.engine import (
    NodeRow,
    SwarmState,
    parse_node_details,
    parse_nodes,
    parse_swarm,
)
from cloudmesh.swarm.probe.health import (
    THROTTLE_FLAGS,
    PiHealth,
    parse_health,
    parse_root_device,
    parse_throttled,
)
from cloudmesh.swarm.probe.identity import KEY_TYPE, Identity, parse_identity
from cloudmesh.swarm.probe.install import (
    InstallFacts,
    parse_candidates,
    parse_install_facts,
    parse_packages,
)
from cloudmesh.swarm.probe.network import Route, parse_ip_addr, parse_routes
from cloudmesh.swarm.probe.sections import SECTION, as_float, as_int, getter, split_sections

# re-exported: each probe group's parser lives beside its commands (probe/), callers import facts
__all__ = [
    "KEY_TYPE",
    "SECTION",
    "THROTTLE_FLAGS",
    "Identity",
    "InstallFacts",
    "NodeRow",
    "PiHealth",
    "Route",
    "SwarmState",
    "parse_candidates",
    "parse_health",
    "parse_identity",
    "parse_install_facts",
    "parse_ip_addr",
    "parse_node_details",
    "parse_nodes",
    "parse_packages",
    "parse_root_device",
    "parse_routes",
    "parse_swarm",
    "parse_throttled",
    "split_sections",
]

PROBE_SCRIPT = probe.SCRIPT  # one round trip per host; every probe is read-only
ENGINE_PROBE = probe.ENGINE_PROGRAM  # the engine API part, its socket path left as @SOCKET@

KNOWN_CODENAMES = {
    "debian": {"stretch", "buster", "bullseye", "bookworm", "trixie", "forky"},
    "raspbian": {"stretch", "buster", "bullseye", "bookworm", "trixie"},
    "ubuntu": {"bionic", "focal", "jammy", "noble", "oracular", "plucky", "questing"},
}

ARCHES = {
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv7l": "armhf",
    "armv6l": "armhf",
    "armv8l": "armhf",
    "x86_64": "amd64",
    "amd64": "amd64",
}


@dataclass(frozen=True)
class OsRelease:
    """The fields of /etc/os-release we decide on."""

    id: str
    id_like: tuple[str, ...]
    version_id: str
    codename: str
    pretty_name: str

    @property
    def family(self) -> str | None:
        """debian, raspbian or ubuntu when the host is of the Debian family, else None."""
        for candidate in (self.id, *self.id_like):
            if candidate in KNOWN_CODENAMES:
                return self.id if self.id in KNOWN_CODENAMES else candidate
        return None


@dataclass(frozen=True)
class HostFacts:
    """Everything a phase needs to know about one host, read in one round trip."""

    os: OsRelease | None
    arch: str
    kernel: str
    hostname: str
    model: str
    memory_cgroup: bool
    vxlan: str  # yes | no | unknown
    ipvs: str
    var_free_kb: int | None
    clock: float | None
    sudo: bool
    python3: bool
    user: str
    groups: tuple[str, ...]
    apt: bool
    docker_package: str | None  # installed version of docker.io/docker-ce, if any
    docker_active: bool
    docker_enabled: bool
    docker_version: str | None  # server version when the engine answers
    swarm: SwarmState | None
    nodes: tuple[NodeRow, ...] = field(default=())
    sshd: tuple[tuple[str, str], ...] = ()  # effective settings that decide who may log in
    sshd_include: bool = False  # sshd_config includes sshd_config.d/ (bullseye and later)
    sshd_ours: tuple[str, ...] = ()  # "drop-in" and/or "block": what `harden` wrote
    authorized_keys: tuple[str, ...] = ()  # "type blob" of the login user's keys
    loopback_name: str = ""  # the 127.0.1.1 name in /etc/hosts (Debian's own-hostname line)
    dpkg_interrupted: bool = False  # a dpkg run was cut off (power, a killed install)
    docker_candidate: str = ""  # the docker.io version apt would install now
    apt_lists_fresh: bool = False  # package lists younger than a day
    busybox_static: bool = False  # verify makes its test image from it (no registry needed)
    install: InstallFacts = field(default_factory=lambda: InstallFacts())
    health: PiHealth = field(default_factory=lambda: PiHealth())
    identity: Identity = field(default_factory=lambda: Identity())
    addresses: tuple[tuple[str, str], ...] = ()  # (interface, address/prefix), IPv4
    routes: tuple[Route, ...] = ()

    def interface_addresses(self, interface: str) -> list[str]:
        """The IPv4 addresses (without prefix) of `interface`."""
        return [cidr.partition("/")[0] for name, cidr in self.addresses if name == interface]

    def sshd_setting(self, name: str) -> str:
        return dict(self.sshd).get(name, "")

    @property
    def is_raspberry_pi(self) -> bool:
        return "raspberry pi" in self.model.lower()

    @property
    def docker_ready(self) -> bool:
        """A working engine: it answers and systemd keeps it running."""
        return self.docker_version is not None and self.docker_active

    @property
    def in_swarm(self) -> bool:
        return self.swarm is not None and self.swarm.local_state in ("active", "pending", "locked")


def parse_os_release(text: str) -> OsRelease | None:
    """/etc/os-release (shell-style KEY=value) to OsRelease; None when empty."""
    values = os_release_values(text)
    if not values:
        return None
    codename = values.get("VERSION_CODENAME") or values.get("UBUNTU_CODENAME") or ""
    if not codename:  # stretch-era files only say it inside VERSION="9 (stretch)"
        found = re.search(r"\(([a-z]+)\)", values.get("VERSION", ""))
        codename = found.group(1) if found else ""
    return OsRelease(
        id=values.get("ID", "").lower(),
        id_like=tuple(values.get("ID_LIKE", "").lower().split()),
        version_id=values.get("VERSION_ID", ""),
        codename=codename.lower(),
        pretty_name=values.get("PRETTY_NAME", values.get("NAME", "")),
    )


def parse_arch(machine: str) -> str:
    """`uname -m` to a Debian architecture name, or the raw value when unknown."""
    machine = machine.strip()
    return ARCHES.get(machine, machine)


def parse_kernel_version(release: str) -> tuple[int, int]:
    """`uname -r` (e.g. 6.1.0-rpi7-rpi-v8) to (major, minor); (0, 0) when unreadable."""
    found = re.match(r"(\d+)\.(\d+)", release.strip())
    return (int(found.group(1)), int(found.group(2))) if found else (0, 0)


def parse_memory_cgroup(cgroups: str, cgroup2_controllers: str) -> bool:
    """Is the memory controller enabled (cgroup v1 table or v2 controller list)?"""
    if "memory" in cgroup2_controllers.split():
        return True
    for line in cgroups.splitlines():
        cols = line.split()
        if len(cols) >= 4 and cols[0] == "memory":
            return cols[3] == "1"
    return False


def _docker_package(text: str) -> str | None:
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[:3] == ["install", "ok", "installed"]:
            return parts[3]
    return None


def parse_facts(output: str) -> HostFacts:
    """The whole probe output to HostFacts."""
    s = split_sections(output)
    get = getter(s)
    user_lines = get("user").splitlines()
    return HostFacts(
        os=parse_os_release(get("os-release")),
        arch=get("dpkg-arch") or parse_arch(get("arch")),
        kernel=get("kernel"),
        hostname=get("hostname"),
        model=get("model"),
        memory_cgroup=parse_memory_cgroup(get("cgroups"), get("cgroup2")),
        vxlan=get("vxlan") or "unknown",
        ipvs=get("ipvs") or "unknown",
        var_free_kb=as_int(get("var-free")),
        clock=as_float(get("clock")),
        sudo=get("sudo") == "ok",
        python3=bool(get("python3")),
        user=user_lines[0] if user_lines else "",
        groups=tuple(user_lines[1].split()) if len(user_lines) > 1 else (),
        apt=bool(get("apt")),
        docker_package=_docker_package(get("docker-pkg")),
        docker_active=get("docker-active") == "active",
        docker_enabled=get("docker-enabled") == "enabled",
        docker_version=get("docker-version") or None,
        swarm=parse_swarm(get("swarm")),
        nodes=parse_nodes(get("nodes"), get("node-details")),
        sshd=parse_sshd(get("sshd")),
        sshd_include=get("sshd-include") == "yes",
        sshd_ours=tuple(get("sshd-ours").split()),
        authorized_keys=parse_authorized_keys(get("authorized-keys")),
        loopback_name=get("loopback-name"),
        dpkg_interrupted=bool(get("dpkg-interrupted")),
        docker_candidate="" if get("apt-candidate") == "(none)" else get("apt-candidate"),
        apt_lists_fresh=bool(get("apt-lists-fresh")),
        busybox_static=get("busybox-static") == "install ok installed",
        install=parse_install_facts(s),
        health=parse_health(s),
        identity=parse_identity(get("identity")),
        addresses=parse_ip_addr(get("ip-addr")),
        routes=parse_routes(get("ip-route")),
    )


def parse_sshd(text: str) -> tuple[tuple[str, str], ...]:
    """`sshd -T` lines (`keyword value`) to sorted pairs, keywords lower-case."""
    pairs = {}
    for line in text.splitlines():
        keyword, _, value = line.strip().partition(" ")
        if keyword:
            pairs[keyword.lower()] = value.strip().lower()
    return tuple(sorted(pairs.items()))


def parse_authorized_keys(text: str) -> tuple[str, ...]:
    """`type blob` of every key line (options and comments dropped) in authorized_keys."""
    keys = []
    for line in text.splitlines():
        words = line.split()
        for index, word in enumerate(words[:-1]):
            if KEY_TYPE.match(word):
                keys.append(f"{word} {words[index + 1]}")
                break
    return tuple(keys)
