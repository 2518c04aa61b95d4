"""Lab hosts: containers that boot systemd and sshd like a fresh Raspberry Pi OS install.

Hosts may be of different kinds (release and architecture, see image.Kind), chosen per host.
Each lab has a private bridge network with fixed addresses (host piK at .10+K), one
container and one Docker volume (for the host's own /var/lib/docker) per host, and a
directory under the state dir holding its SSH key pair, a known_hosts file with the
hosts' keys, and an inventory file that every cms-swarm command accepts.
"""

from __future__ import annotations

import io
import ipaddress
import re
import socket
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
from docker.models.containers import Container
from docker.types import IPAMConfig, IPAMPool
from hostlist import expand_hostlist

from cloudmesh.swarm.credentials import ensure_key_pair
from cloudmesh.swarm.errors import UsageError
from cloudmesh.swarm.hostlog import state_dir
from cloudmesh.swarm.lab import image
from cloudmesh.swarm.lab.image import Kind, LabError
from cloudmesh.swarm.private_files import private_dir, write_private

MAX_HOSTS = 200
INOTIFY = Path("/proc/sys/fs/inotify/max_user_instances")
INOTIFY_NEEDED = 1024  # past ~16 systemd hosts, boot fails with the kernel's default of 128
BOOT_TIMEOUT = 120.0
BOOT_TIMEOUT_EMULATED = 360.0  # systemd and sshd under qemu-user start several times slower
LABEL = "cloudmesh.swarm.lab"
KIND_LABEL = "cloudmesh.swarm.lab.kind"
RUN_FLAGS: dict[str, object] = {  # what lets systemd and a nested dockerd run without --privileged
    "cap_add": ["ALL"], "cap_drop": ["SYS_RESOURCE"],
    "security_opt": ["seccomp=unconfined", "apparmor=unconfined"],
    "device_cgroup_rules": ["a *:* rwm"], "tmpfs": {"/run": "", "/run/lock": ""},
}
DEFAULT_KIND = Kind()


@dataclass(frozen=True)
class LabHost:
    """One simulated Pi as `lab status` shows it."""

    name: str
    address: str
    container: str
    state: str  # the container's: running, exited, ... or "absent"
    kind: str = ""  # release/arch, e.g. "trixie/arm64"


def parse_hosts_spec(spec: str, default: Kind = DEFAULT_KIND) -> dict[int, Kind]:
    """`pi[1-2]:bookworm,pi3:trixie:arm64` -> {1: Kind(), 2: Kind(), 3: Kind("trixie", "arm64")}.

    Each item is a host list of lab host names (piK), then optional `:RELEASE` and `:ARCH`
    in any order; what an item leaves out is the default kind (--os, --arch)."""
    return {index: Kind(release or default.release, arch or default.arch)
            for index, (release, arch) in _spec_items(spec).items()}


def _spec_items(spec: str) -> dict[int, tuple[str, str]]:
    found: dict[int, tuple[str, str]] = {}
    for item in re.split(r",(?![^\[]*\])", spec.strip()):
        names, *words = item.strip().split(":")
        release = next((w for w in words if w in image.RELEASES), "")
        arch = next((w for w in words if w in image.ARCHES), "")
        unknown = [w for w in words if w not in (release, arch)]
        if unknown:
            raise UsageError(f"--hosts {item!r}: {unknown[0]!r} is neither a release "
                             f"({', '.join(image.RELEASES)}) nor an architecture "
                             f"({', '.join(image.ARCHES)})")
        try:
            expanded = expand_hostlist(names)
        except Exception:  # noqa: BLE001 - python-hostlist raises BadHostlist, ValueError, ...
            raise UsageError(f"--hosts {item!r}: {names!r} is not a host list") from None
        for name in expanded:
            match = re.fullmatch(r"pi([1-9][0-9]*)", name)
            if match is None:
                raise UsageError(f"--hosts {item!r}: lab hosts are named pi1, pi2, ..., not {name!r}")
            found[int(match.group(1))] = (release, arch)
    return found


class Lab:
    """One named lab; every method is safe to re-run."""

    def __init__(self, name: str = "lab", subnet: str = "10.77.0.0/24",
                 client: docker.DockerClient | None = None) -> None:
        if not name.replace("-", "").isalnum() or len(name) > 20:
            raise UsageError(f"lab name {name!r}: use up to 20 letters, digits or '-'")
        try:
            self.subnet = ipaddress.IPv4Network(subnet)
        except ValueError as error:
            raise UsageError(f"--subnet {subnet!r}: {error}") from None
        if self.subnet.num_addresses < 256:
            raise UsageError(f"--subnet {subnet}: needs at least a /24")
        self.name = name
        self.prefix = f"cms-swarm-{name}"
        self.directory = state_dir() / "lab" / name
        self._client = client

    # -- names and paths ------------------------------------------------------------------

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            self._client = image.engine()
        return self._client

    @property
    def inventory_path(self) -> Path:
        return self.directory / "inventory.yaml"

    @property
    def key_path(self) -> Path:
        return self.directory / "id_ed25519"

    @property
    def known_hosts_path(self) -> Path:
        return self.directory / "known_hosts"

    def address(self, index: int) -> str:
        return str(self.subnet.network_address + 10 + index)

    def container_name(self, index: int) -> str:
        return f"{self.prefix}-pi{index}"

    # -- up ---------------------------------------------------------------------------------

    def up(self, count: int, say: Callable[[str], None] = print, default: Kind = DEFAULT_KIND,
           kinds: dict[int, Kind] | None = None, offline: bool = False) -> Path:
        """Start hosts pi1..piN (booting any that are missing), write the inventory; its path.

        A new host is of kind `kinds[K]`, else `default`; a running host keeps its kind, and
        one named in `kinds` with another kind is refused (its cards cannot be re-flashed)."""
        if not 1 <= count <= MAX_HOSTS:
            raise UsageError(f"lab up: N must be between 1 and {MAX_HOSTS}, not {count}")
        kinds = dict(kinds or {})
        beyond = sorted(i for i in kinds if i > count)
        if beyond:
            raise UsageError(f"--hosts names pi{beyond[0]}, beyond N={count}")
        existing = {int(h.name[2:]): h for h in self.hosts()}
        for index, kind in kinds.items():
            have = existing.get(index)
            if have is not None and have.kind and have.kind != str(kind):
                raise UsageError(f"pi{index} exists as {have.kind}, not {kind}: "
                                 "'lab down' first, or name another host")
        wanted = {i: kinds.get(i, default) for i in range(1, count + 1) if i not in existing}
        self._check_inotify(count + len(self._others()))
        images = {kind: image.ensure(self.client, kind, say) for kind in set(wanted.values())}
        # every host's architecture: a stopped foreign host needs its binfmt handler too
        arches = {k.arch for k in wanted.values()} | {
            h.kind.split("/")[1] for h in existing.values() if h.kind}
        from cloudmesh.swarm.lab import binfmt

        for arch in arches:
            binfmt.ensure(arch)
        network = self._network()
        public_key = self._key_pair()
        started = time.monotonic()
        indexes = range(1, count + 1)
        booting = [i for i in indexes
                   if self._start(i, wanted.get(i, default), images.get(wanted.get(i, default), ""),
                                  network, public_key)]
        emulated = arches - {image.host_arch()}
        keys = self._wait_for_ssh(indexes, BOOT_TIMEOUT_EMULATED if emulated else BOOT_TIMEOUT)
        if booting:
            say(f"booted {len(booting)} lab host(s) in {time.monotonic() - started:.1f} s")
        if offline:
            self._cut_off(indexes)
            say(f"offline: the hosts' only route out is the apt mirror {image.MIRROR_HOST}")
        extra = sorted(h.name for h in self.hosts() if int(h.name[2:]) > count)
        if extra:
            say(f"note: {', '.join(extra)} also run in this lab (not in the inventory); "
                "'lab down' removes all hosts")
        self._write_known_hosts(keys)
        self._write_inventory(count)
        return self.inventory_path

    def _others(self) -> list[str]:
        """Systemd containers of other labs on this machine (they share the inotify limit)."""
        return [c.name for c in self.client.containers.list(filters={"label": LABEL})
                if c.labels.get(LABEL) != self.name]

    def _check_inotify(self, total: int) -> None:
        if total <= 8:
            return
        try:
            current = int(INOTIFY.read_text())
        except OSError:
            return
        if current >= INOTIFY_NEEDED:
            return
        try:
            INOTIFY.write_text(str(INOTIFY_NEEDED))
        except OSError:
            raise LabError(f"{total} systemd hosts need more inotify instances than "
                           f"fs.inotify.max_user_instances={current}; as root run: "
                           f"sysctl -w fs.inotify.max_user_instances={INOTIFY_NEEDED}") from None

    def _network(self) -> str:
        name = self.prefix
        try:
            network = self.client.networks.get(name)
        except docker.errors.NotFound:
            pool = IPAMPool(subnet=str(self.subnet), gateway=str(self.subnet.network_address + 1))
            try:
                self.client.networks.create(name, driver="bridge", ipam=IPAMConfig(pool_configs=[pool]),
                                            labels={LABEL: self.name})
            except docker.errors.APIError as error:
                raise LabError(f"cannot create network {name} on {self.subnet} "
                               f"({error.explanation}); choose another with --subnet") from None
            return name
        configs = network.attrs.get("IPAM", {}).get("Config") or [{}]
        if configs[0].get("Subnet") != str(self.subnet):
            raise LabError(f"network {name} exists with subnet {configs[0].get('Subnet')}, "
                           f"not {self.subnet}: use that subnet, or 'lab down' first")
        return name

    def _key_pair(self) -> str:
        """The lab's SSH key (made once, 0600); returns the public key line."""
        private_dir(self.directory)
        return ensure_key_pair(self.key_path, comment=f"cms-swarm-{self.name}")[0]

    def _start(self, index: int, kind: Kind, image_name: str, network: str,
               public_key: str) -> bool:
        """Create (or start) host piK; True when it had to boot."""
        name = self.container_name(index)
        try:
            container = self.client.containers.get(name)
        except docker.errors.NotFound:
            container = self._create(index, name, kind, image_name, network)
            container.put_archive("/home/pi", _authorized_keys(public_key))
        if container.status == "running":
            return False
        container.start()
        return True

    def _create(self, index: int, name: str, kind: Kind, image_name: str,
                network: str) -> Container:
        """The container of host piK, created through the low-level API because the high-level
        one cannot say `systempaths=unconfined` (no masked or read-only /proc and /sys paths,
        which the nested dockerd needs)."""
        api = self.client.api
        host_config = api.create_host_config(
            binds={"/sys/fs/cgroup": {"bind": "/sys/fs/cgroup", "mode": "rw"},
                   f"{name}-docker": {"bind": "/var/lib/docker", "mode": "rw"}},
            network_mode=network, **RUN_FLAGS)
        host_config.update(MaskedPaths=[], ReadonlyPaths=[])
        endpoint = api.create_endpoint_config(ipv4_address=self.address(index))
        created = api.create_container(
            image_name, name=name, hostname=f"pi{index}", detach=True,
            labels={LABEL: self.name, KIND_LABEL: str(kind)},
            host_config=host_config,
            networking_config=api.create_networking_config({network: endpoint}))
        return self.client.containers.get(created["Id"])

    def _wait_for_ssh(self, indexes: range, timeout: float) -> dict[int, str]:
        """Wait until every host's sshd answers; return each host's ed25519 public key."""
        deadline = time.monotonic() + timeout
        keys: dict[int, str] = {}
        while len(keys) < len(indexes):
            for index in indexes:
                if index not in keys and _port_open(self.address(index), 22):
                    key = self._host_key(index)
                    if key:  # else the key file is still being written: look again
                        keys[index] = key
            if len(keys) < len(indexes):
                if time.monotonic() > deadline:
                    late = [f"pi{i}" for i in indexes if i not in keys]
                    raise LabError(f"lab hosts {', '.join(late)} did not start sshd within "
                                   f"{timeout:.0f} s; see: docker logs "
                                   f"{self.container_name(int(late[0][2:]))}")
                time.sleep(0.25)
        return keys

    def _cut_off(self, indexes: range) -> None:
        """Leave each host routes only to the apt mirror (pinned in /etc/hosts) and to this
        machine's name servers: an air-gapped site with a local mirror and a local resolver
        (without one, every lookup of an unknown name, as sudo makes, waits for a timeout).
        No registry or other address is reachable."""
        try:
            found = socket.getaddrinfo(image.MIRROR_HOST, 80, socket.AF_INET, socket.SOCK_STREAM)
        except OSError as error:
            raise LabError(f"--offline: cannot resolve {image.MIRROR_HOST}: {error}") from None
        mirrors = sorted({str(info[4][0]) for info in found} | set(_name_servers()))
        script = ("gw=$(ip route show default | awk '{print $3; exit}'); "
                  "[ -n \"$gw\" ] || gw=$(cat /run/cms-lab-gateway); echo \"$gw\" > /run/cms-lab-gateway; "
                  + "".join(f"ip route replace {ip}/32 via \"$gw\"; " for ip in mirrors)
                  + "ip route del default 2>/dev/null; "
                  f"grep -q ' {image.MIRROR_HOST}$' /etc/hosts || "
                  f"echo '{mirrors[0]} {image.MIRROR_HOST}' >> /etc/hosts")
        for index in indexes:
            container = self.client.containers.get(self.container_name(index))
            result = container.exec_run(["sh", "-c", script])
            if result.exit_code != 0:
                raise LabError(f"pi{index}: --offline failed: "
                               f"{result.output.decode(errors='replace').strip()[-200:]}")

    def _host_key(self, index: int) -> str:
        """The host's ed25519 public key line, '' while the file is empty or partly written
        (first boot makes it; under load sshd's port can open first)."""
        container = self.client.containers.get(self.container_name(index))
        result = container.exec_run(["cat", "/etc/ssh/ssh_host_ed25519_key.pub"])
        if result.exit_code != 0:
            raise LabError(f"pi{index}: no SSH host key: {result.output.decode(errors='replace')}")
        words = result.output.decode(errors="replace").split()
        return f"{words[0]} {words[1]}" if len(words) >= 2 else ""

    def _write_known_hosts(self, keys: dict[int, str]) -> None:
        lines = [f"{self.address(i)} {key}\n" for i, key in sorted(keys.items())]
        write_private(self.known_hosts_path, "".join(lines))

    def _write_inventory(self, count: int) -> None:
        kinds = {h.name: h.kind for h in self.hosts()}
        hosts = "".join(f"  - name: pi{i}" + (f"    # {kinds[f'pi{i}']}" if kinds.get(f"pi{i}") else "")
                        + f"\n    address: {self.address(i)}\n" for i in range(1, count + 1))
        write_private(self.inventory_path, (
            f"# written by 'cms-swarm lab up {count}' for the lab '{self.name}'\n"
            f"name: {self.name}\n"
            "ssh:\n"
            "  user: pi\n"
            f"  key: {self.key_path}\n"
            f"  known_hosts: {self.known_hosts_path}\n"
            "hosts:\n" + hosts))

    # -- status, ssh, down --------------------------------------------------------------------

    def hosts(self) -> list[LabHost]:
        """This lab's hosts, in index order."""
        found = []
        for container in self.client.containers.list(all=True, filters={"label": f"{LABEL}={self.name}"}):
            index = int(container.name.rsplit("-pi", 1)[1])
            found.append(LabHost(f"pi{index}", self.address(index), container.name,
                                 container.status, container.labels.get(KIND_LABEL, "")))
        return sorted(found, key=lambda host: int(host.name[2:]))

    def _remove_network(self, attempts: int = 20) -> None:
        """Remove the lab network; the engine may still hold an endpoint of a container it
        has just removed ("has active endpoints"), so try again for a few seconds."""
        for attempt in range(attempts):
            try:
                self.client.networks.get(self.prefix).remove()
                return
            except docker.errors.NotFound:
                return
            except docker.errors.APIError:
                if attempt == attempts - 1:
                    raise
                time.sleep(0.5)

    def ssh_command(self, host: str, command: list[str]) -> list[str]:
        """The `ssh` argv that logs in to lab host `host` as pi, keys checked."""
        match = [h for h in self.hosts() if h.name == host]
        if not match:
            names = ", ".join(h.name for h in self.hosts()) or "none: run 'cms-swarm lab up'"
            raise UsageError(f"lab ssh: no host {host!r} in lab {self.name!r} (hosts: {names})")
        return ["ssh", "-i", str(self.key_path), "-o", "IdentitiesOnly=yes",
                "-o", f"UserKnownHostsFile={self.known_hosts_path}",
                "-o", "StrictHostKeyChecking=yes", "-o", "LogLevel=ERROR",
                f"pi@{match[0].address}", *command]

    def down(self) -> list[str]:
        """Remove this lab's containers, volumes, network and files; the names removed."""
        removed = []
        for host in self.hosts():
            container = self.client.containers.get(host.container)
            container.remove(force=True, v=True)
            removed.append(host.name)
            try:
                self.client.volumes.get(f"{host.container}-docker").remove(force=True)
            except docker.errors.NotFound:
                pass
        self._remove_network()
        for path in (self.inventory_path, self.known_hosts_path, self.key_path,
                     self.key_path.with_suffix(".pub")):
            path.unlink(missing_ok=True)
        if self.directory.exists() and not any(self.directory.iterdir()):
            self.directory.rmdir()
        return removed


def _authorized_keys(public_key: str) -> bytes:
    """A tar of .ssh/authorized_keys owned by pi (uid 1000), for put_archive into /home/pi."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        directory = tarfile.TarInfo(".ssh")
        directory.type, directory.mode, directory.uid, directory.gid = tarfile.DIRTYPE, 0o700, 1000, 1000
        archive.addfile(directory)
        data = (public_key + "\n").encode()
        keys = tarfile.TarInfo(".ssh/authorized_keys")
        keys.size, keys.mode, keys.uid, keys.gid = len(data), 0o600, 1000, 1000
        archive.addfile(keys, io.BytesIO(data))
    return buffer.getvalue()


def _name_servers(resolv_conf: Path = Path("/etc/resolv.conf")) -> list[str]:
    """This machine's IPv4 name servers (the lab's embedded DNS forwards to them); loopback
    ones are left out (Docker does not forward to those)."""
    found = []
    try:
        lines = resolv_conf.read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        words = line.split()
        if len(words) >= 2 and words[0] == "nameserver":
            try:
                address = ipaddress.IPv4Address(words[1])
            except ValueError:
                continue
            if not address.is_loopback:
                found.append(str(address))
    return found


def _port_open(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=0.5) as connection:
            return bool(connection.recv(4))  # sshd sends its banner first
    except OSError:
        return False
