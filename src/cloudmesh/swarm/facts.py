"""What a host is now, read with one probe script per host and parsed by pure functions.

The probe prints marked sections (`=== name ===`); `parse_facts` turns its output into
HostFacts. Phases decide from facts only, so a converged host yields an empty plan.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field

SECTION = re.compile(r"^=== ([a-z0-9-]+) ===$", re.MULTILINE)

# One round trip per host. Every probe is read-only; `sudo -n` never prompts.
PROBE_SCRIPT = r"""
sec() { echo "=== $1 ==="; }
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo -n"; fi
feature() {  # name module config-symbol proc-file: yes/no/unknown from the running kernel
  if [ -n "$4" ] && [ -e "$4" ]; then echo yes; return; fi
  if [ -d "/sys/module/$2" ]; then echo yes; return; fi
  if modinfo -n "$2" >/dev/null 2>&1; then echo yes; return; fi
  if grep -qs "/$2.ko" "/lib/modules/$(uname -r)/modules.builtin"; then echo yes; return; fi
  cfg=""
  if [ -r /proc/config.gz ]; then cfg=$(zcat /proc/config.gz 2>/dev/null | grep "^$3=");
    [ -n "$cfg" ] && { echo yes; return; }; echo no; return; fi
  if [ -r "/boot/config-$(uname -r)" ]; then grep -qs "^$3=[ym]" "/boot/config-$(uname -r)" \
    && echo yes || echo no; return; fi
  if [ -d "/lib/modules/$(uname -r)" ]; then echo no; return; fi
  echo unknown
}
sec os-release; cat /etc/os-release 2>/dev/null
sec arch; uname -m
sec kernel; uname -r
sec hostname; hostname
sec loopback-name; awk '$1 == "127.0.1.1" {print $2; exit}' /etc/hosts 2>/dev/null
sec model; cat /proc/device-tree/model 2>/dev/null | tr -d '\000'; echo
sec cgroups; cat /proc/cgroups 2>/dev/null
sec cgroup2; cat /sys/fs/cgroup/cgroup.controllers 2>/dev/null
sec vxlan; feature vxlan vxlan CONFIG_VXLAN ""
sec ipvs; feature ipvs ip_vs CONFIG_IP_VS /proc/net/ip_vs
sec var-free; df -Pk /var 2>/dev/null | awk 'NR==2 {print $4}'
sec clock; date +%s.%N
sec sudo; $SUDO true >/dev/null 2>&1 && echo ok || echo no
sec python3; command -v python3
sec user; u="${SUDO_USER:-$(id -un)}"; echo "$u"; id -nG "$u"
sec apt; command -v apt-get
sec apt-candidate; apt-cache policy docker.io 2>/dev/null | awk '/Candidate:/ {print $2; exit}'
sec apt-lists-fresh; find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -mmin -1440 2>/dev/null | head -n 1
sec dpkg-interrupted; ls /var/lib/dpkg/updates 2>/dev/null | head -n 1
sec busybox-static; dpkg-query -W -f='${Status}\n' busybox-static 2>/dev/null
sec docker-pkg; dpkg-query -W -f='${Status} ${Version}\n' docker.io docker-ce 2>/dev/null
sec docker-active; systemctl is-active docker 2>/dev/null
sec docker-enabled; systemctl is-enabled docker 2>/dev/null
if [ -S /var/run/docker.sock ] && command -v python3 >/dev/null; then
$SUDO python3 - 2>/dev/null <<'ENGINE'
@ENGINE@
ENGINE
else
sec docker-version; command -v docker >/dev/null && $SUDO docker version --format '{{.Server.Version}}' 2>/dev/null
sec swarm; command -v docker >/dev/null && $SUDO docker info --format '{{json .Swarm}}' 2>/dev/null
fi
sec sshd; $SUDO /usr/sbin/sshd -T 2>/dev/null | grep -Ei '^(passwordauthentication|permitrootlogin|kbdinteractiveauthentication|challengeresponseauthentication) '
sec sshd-include; grep -Eqi '^[[:space:]]*Include[[:space:]]+/etc/ssh/sshd_config\.d/' /etc/ssh/sshd_config 2>/dev/null && echo yes || echo no
sec sshd-ours; [ -e /etc/ssh/sshd_config.d/00-cms-swarm.conf ] && echo drop-in; grep -qs '^# BEGIN cms-swarm' /etc/ssh/sshd_config && echo block; true
sec authorized-keys; h=$(getent passwd "$u" | cut -d: -f6); head -c 65536 "${h:-$HOME}/.ssh/authorized_keys" 2>/dev/null
@INSTALL@
@HEALTH@
@IDENTITY@
@NETWORK@
sec end
"""

# What install and prepare need beyond the basics: the dpkg architecture (armhf userland on
# an aarch64 kernel), whether a `docker` command exists (trixie's docker.io only recommends
# docker-cli), the docker packages installed, daemon.json, memory and the kernel command line.
INSTALL_PROBE = r"""
sec dpkg-arch; dpkg --print-architecture 2>/dev/null
sec docker-cli; command -v docker
sec docker-pkgs; dpkg-query -W -f='${Package} ${Status} ${Version}\n' docker.io docker-cli docker-ce docker-ce-cli containerd.io 2>/dev/null
sec candidates; apt-cache policy docker-cli docker-ce 2>/dev/null | awk '/^[^ ].*:$/ {p=$1} /Candidate:/ {print p, $2}'
sec daemon-json; head -c 65536 /etc/docker/daemon.json 2>/dev/null
sec meminfo; awk '$1 == "MemTotal:" {print $2; exit}' /proc/meminfo 2>/dev/null
sec boot-cmdline; for f in /boot/firmware/cmdline.txt /boot/cmdline.txt; do if [ -f "$f" ]; then echo "$f"; head -c 4096 "$f"; break; fi; done
sec proc-cmdline; cat /proc/cmdline 2>/dev/null
""".strip()

# Pi health for `status`, read only where the host has it (a device tree: a board, not a
# lab container on amd64): SoC temperature, firmware throttling flags, the root device.
HEALTH_PROBE = r"""
sec soc-temp; [ -r /proc/device-tree/model ] && cat /sys/class/thermal/thermal_zone0/temp 2>/dev/null
sec throttled; [ -r /proc/device-tree/model ] && { $SUDO vcgencmd get_throttled 2>/dev/null || cat /sys/devices/platform/soc/soc:firmware/get_throttled 2>/dev/null; }
sec root-device; d=$(readlink -f "/sys/dev/block/$(mountpoint -d / 2>/dev/null)" 2>/dev/null); if [ -n "$d" ] && [ -e "$d/dev" ]; then echo "$d"; cat "${d%%/block/*}/type" 2>/dev/null; fi
""".strip()

# The engine's facts in one process and three API calls over its socket, instead of four
# docker CLI runs (each a Go binary start): the probe's biggest cost on a small board.
# Prints the same sections, in the formats the docker CLI templates give. Python 3.5+.
ENGINE_PROBE = r"""
import json, socket
def get(path):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(20)
    try:
        s.connect("@SOCKET@")
        s.sendall(("GET %s HTTP/1.0\r\nHost: docker\r\n\r\n" % path).encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except OSError:
        return None
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    if b" 200 " not in head.split(b"\r\n")[0] + b" ":
        return None
    return json.loads(body.decode("utf-8", "replace"))
def sec(name):
    print("=== %s ===" % name)
version = get("/version")
info = get("/info") if version else None
swarm = (info or {}).get("Swarm") or {}
nodes = get("/nodes") if swarm.get("ControlAvailable") else None
sec("docker-version")
print(version.get("Version", "") if version else "")
sec("swarm")
print(json.dumps(swarm) if info else "")
sec("nodes")
for n in nodes or []:
    ms = n.get("ManagerStatus") or {}
    print(json.dumps({
        "ID": n["ID"], "Hostname": n["Description"]["Hostname"],
        "Status": n["Status"]["State"].capitalize(),
        "Availability": n["Spec"]["Availability"].capitalize(),
        "ManagerStatus": "Leader" if ms.get("Leader") else (ms.get("Reachability") or "").capitalize(),
        "EngineVersion": n["Description"].get("Engine", {}).get("EngineVersion", ""),
        "Self": n["ID"] == swarm.get("NodeID")}))
sec("node-details")
for n in nodes or []:
    print("%s %s %s" % (n["ID"], n["Status"].get("Addr", ""), json.dumps(n["Spec"].get("Labels") or {})))
"""
# What a cloned card shares with its siblings: hashes only (machine-id is confidential,
# key.json holds a private key), and the public host keys. Docker 23+ keeps its ID in
# /var/lib/docker/engine-id, 20.10 in the libtrust key /etc/docker/key.json.
IDENTITY_PROBE = r"""sec identity
idh() { $SUDO sha256sum "$2" 2>/dev/null | awk -v k="$1" '{print k, $1}'; }
[ -s /etc/machine-id ] && idh machine-id /etc/machine-id
for f in /etc/ssh/ssh_host_*_key.pub; do [ -f "$f" ] && awk '{print "host-key", $1, $2}' "$f"; done
idh engine-id /var/lib/docker/engine-id
idh engine-key /etc/docker/key.json
true"""

# Addresses and routes, for `advertise` and for pools that collide with the LAN.
NETWORK_PROBE = r"""sec ip-addr; ip -o -4 addr show 2>/dev/null | awk '{print $2, $4}'
sec ip-route; ip -4 route show 2>/dev/null"""

PROBE_SCRIPT = (PROBE_SCRIPT.replace("@ENGINE@", ENGINE_PROBE.strip().replace("@SOCKET@", "/var/run/docker.sock"))
                .replace("@INSTALL@", INSTALL_PROBE).replace("@HEALTH@", HEALTH_PROBE)
                .replace("@IDENTITY@", IDENTITY_PROBE).replace("@NETWORK@", NETWORK_PROBE))

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
class SwarmState:
    """The host's view of the swarm, from `docker info` .Swarm."""

    local_state: str  # inactive | pending | active | error | locked
    node_id: str
    cluster_id: str
    is_manager: bool
    node_addr: str
    managers: int
    nodes: int
    remote_managers: tuple[str, ...] = ()
    autolock: bool = False
    default_addr_pool: tuple[str, ...] = ()  # the overlay pools chosen at init


@dataclass(frozen=True)
class NodeRow:
    """One row of `docker node ls`, as a manager sees it."""

    id: str
    hostname: str
    status: str
    availability: str
    manager_status: str
    engine_version: str
    self: bool
    addr: str = ""
    labels: tuple[tuple[str, str], ...] = ()

    @property
    def is_manager(self) -> bool:
        return bool(self.manager_status)

    @property
    def is_leader(self) -> bool:
        return self.manager_status == "Leader"


@dataclass(frozen=True)
class InstallFacts:
    """What install and prepare read beyond the basics (INSTALL_PROBE)."""

    machine: str = ""  # `uname -m` as the kernel says it (aarch64 under a 32-bit userland too)
    dpkg_arch: str = ""  # `dpkg --print-architecture`: what packages install (armhf, arm64, amd64)
    docker_cli: bool = True  # a `docker` command exists
    packages: tuple[tuple[str, str], ...] = ()  # installed (name, version) of the docker packages
    cli_candidate: str = ""  # the release has a separate docker-cli package (trixie and later)
    ce_candidate: str = ""  # the docker-ce version apt would install (Docker's repository)
    daemon_json: str = ""  # /etc/docker/daemon.json as it is, "" when absent
    mem_total_kb: int | None = None
    boot_cmdline_path: str = ""  # /boot/firmware/cmdline.txt or /boot/cmdline.txt, if any
    boot_cmdline: str = ""
    proc_cmdline: str = ""  # the command line the running kernel booted with

    def package(self, name: str) -> str | None:
        """The installed version of a package, None when not installed."""
        return dict(self.packages).get(name)

    @property
    def engine(self) -> str | None:
        """docker-ce or distro (docker.io) by what is installed; None without an engine package."""
        if self.package("docker-ce"):
            return "docker-ce"
        return "distro" if self.package("docker.io") else None


THROTTLE_FLAGS = {0: "under-voltage", 1: "arm frequency capped", 2: "throttled",
                  3: "soft temperature limit"}  # bit n: now; bit n+16: since boot


@dataclass(frozen=True)
class PiHealth:
    """A board's health for `status` (HEALTH_PROBE); all None/empty on other hosts."""

    temperature_c: float | None = None  # SoC, from thermal_zone0
    throttled: int | None = None  # the firmware's get_throttled bits
    root_device: str = ""  # SD card | eMMC | USB | NVMe | disk; "" when / is no block device

    def throttle_now(self) -> list[str]:
        return [name for bit, name in THROTTLE_FLAGS.items() if (self.throttled or 0) >> bit & 1]

    def throttle_since_boot(self) -> list[str]:
        return [name for bit, name in THROTTLE_FLAGS.items() if (self.throttled or 0) >> (bit + 16) & 1]


@dataclass(frozen=True)
class Identity:
    """What must differ between hosts and is copied along when a card is cloned."""

    machine_id: str = ""  # sha256 of /etc/machine-id
    host_keys: tuple[str, ...] = ()  # "type blob" of each /etc/ssh/ssh_host_*_key.pub
    engine_id: str = ""  # sha256 of Docker's engine-id file, else of /etc/docker/key.json


@dataclass(frozen=True)
class Route:
    """One IPv4 route: destination network and the interface it leaves by."""

    network: str  # CIDR; "default" for the default route
    device: str = ""


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
    identity: Identity = Identity()
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


def split_sections(output: str) -> dict[str, str]:
    """`=== name ===` marked probe output to {name: body}."""
    sections: dict[str, str] = {}
    matches = list(SECTION.finditer(output))
    for match, following in zip(matches, [*matches[1:], None]):
        end = following.start() if following else len(output)
        sections[match.group(1)] = output[match.end() : end].strip("\n")
    return sections


def parse_os_release(text: str) -> OsRelease | None:
    """/etc/os-release (shell-style KEY=value) to OsRelease; None when empty."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, raw = line.partition("=")
        raw = raw.strip()
        if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
            raw = raw[1:-1]
        values[key.strip()] = raw.replace('\\"', '"')
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


def parse_swarm(text: str) -> SwarmState | None:
    """`docker info --format '{{json .Swarm}}'` to SwarmState; None without docker."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    remote = data.get("RemoteManagers") or []
    return SwarmState(
        local_state=str(data.get("LocalNodeState") or "inactive"),
        node_id=str(data.get("NodeID") or ""),
        cluster_id=str((data.get("Cluster") or {}).get("ID") or ""),
        is_manager=bool(data.get("ControlAvailable")),
        node_addr=str(data.get("NodeAddr") or ""),
        managers=int(data.get("Managers") or 0),
        nodes=int(data.get("Nodes") or 0),
        remote_managers=tuple(str(m.get("Addr", "")) for m in remote if isinstance(m, dict)),
        autolock=bool(_dig(data, "Cluster", "Spec", "EncryptionConfig", "AutoLockManagers")),
        default_addr_pool=_strings(_dig(data, "Cluster", "DefaultAddrPool")),
    )


def _strings(value: object) -> tuple[str, ...]:
    return tuple(str(item) for item in value) if isinstance(value, list) else ()


def _dig(data: object, *keys: str) -> object:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def parse_node_details(text: str) -> dict[str, tuple[str, dict[str, str]]]:
    """`docker node inspect --format '{{.ID}} {{.Status.Addr}} {{json .Spec.Labels}}'`."""
    details: dict[str, tuple[str, dict[str, str]]] = {}
    for line in text.splitlines():
        parts = line.split(" ", 2)
        if len(parts) != 3:
            continue
        try:
            labels = json.loads(parts[2]) or {}
        except ValueError:
            continue
        if isinstance(labels, dict):
            details[parts[0]] = (parts[1], {str(k): str(v) for k, v in labels.items()})
    return details


def parse_nodes(text: str, details_text: str = "") -> tuple[NodeRow, ...]:
    """`docker node ls --format '{{json .}}'` lines to NodeRows; bad lines are skipped."""
    details = parse_node_details(details_text)
    rows = []
    for line in text.splitlines():
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if not isinstance(data, dict):
            continue
        rows.append(
            NodeRow(
                id=str(data.get("ID", "")),
                hostname=str(data.get("Hostname", "")),
                status=str(data.get("Status", "")),
                availability=str(data.get("Availability", "")),
                manager_status=str(data.get("ManagerStatus", "")),
                engine_version=str(data.get("EngineVersion", "")),
                self=bool(data.get("Self")),
                addr=details.get(str(data.get("ID", "")), ("", {}))[0],
                labels=tuple(sorted(details.get(str(data.get("ID", "")), ("", {}))[1].items())),
            )
        )
    return tuple(rows)


def _docker_package(text: str) -> str | None:
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[:3] == ["install", "ok", "installed"]:
            return parts[3]
    return None


def _int(text: str) -> int | None:
    return int(text) if text.strip().isdigit() else None


def _float(text: str) -> float | None:
    try:
        return float(text.strip())
    except ValueError:
        return None


def _getter(sections: dict[str, str]) -> Callable[[str], str]:
    """A section's text, stripped; "" when the probe did not print it."""
    return lambda name: sections.get(name, "").strip()


def parse_facts(output: str) -> HostFacts:
    """The whole probe output to HostFacts."""
    s = split_sections(output)
    get = _getter(s)
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
        var_free_kb=_int(get("var-free")),
        clock=_float(get("clock")),
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


def parse_install_facts(s: dict[str, str]) -> InstallFacts:
    """INSTALL_PROBE's sections; the `arch` section is uname -m."""
    get = _getter(s)
    boot = s.get("boot-cmdline", "").strip("\n").split("\n", 1)
    candidates = parse_candidates(get("candidates"))
    return InstallFacts(
        machine=get("arch"),
        dpkg_arch=get("dpkg-arch"),
        docker_cli=bool(get("docker-cli")) if "docker-cli" in s else True,
        packages=parse_packages(get("docker-pkgs")),
        cli_candidate=candidates.get("docker-cli", ""),
        ce_candidate=candidates.get("docker-ce", ""),
        daemon_json=get("daemon-json"),
        mem_total_kb=_int(get("meminfo")),
        boot_cmdline_path=boot[0].strip() if boot[0].startswith("/") else "",
        boot_cmdline=boot[1].strip() if len(boot) > 1 and boot[0].startswith("/") else "",
        proc_cmdline=get("proc-cmdline"),
    )


def parse_candidates(text: str) -> dict[str, str]:
    """`apt-cache policy` reduced to `name: candidate` lines; packages without one are left out
    (apt says `(none)`, or nothing for a package the release does not have)."""
    found = {}
    for line in text.splitlines():
        name, _, version = line.partition(" ")
        if name.endswith(":") and version.strip() and version.strip() != "(none)":
            found[name.rstrip(":")] = version.strip()
    return found


def parse_packages(text: str) -> tuple[tuple[str, str], ...]:
    """`dpkg-query -W -f='${Package} ${Status} ${Version}'` lines: the installed ones."""
    found = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 5 and parts[2:4] == ["ok", "installed"]:
            found.append((parts[0].split(":")[0], parts[4]))
    return tuple(found)


def parse_throttled(text: str) -> int | None:
    """`vcgencmd get_throttled` (throttled=0x50005) or the sysfs file (50005, hex) to bits."""
    value = text.strip().rpartition("=")[2].strip()
    try:
        return int(value, 16) if value else None
    except ValueError:
        return None


def parse_root_device(text: str) -> str:
    """The sysfs path of the root partition (and an mmc card's type) to its kind."""
    lines = text.splitlines()
    path = lines[0].strip() if lines else ""
    if not path:
        return ""
    if "/nvme" in path:
        return "NVMe"
    if "/usb" in path:
        return "USB"
    if "/mmc" in path:
        return "eMMC" if len(lines) > 1 and lines[1].strip() == "MMC" else "SD card"
    return "disk"


def parse_health(s: dict[str, str]) -> PiHealth:
    """HEALTH_PROBE's sections to PiHealth."""
    temp = s.get("soc-temp", "").strip()
    milli = int(temp) if re.fullmatch(r"-?\d+", temp) else None
    return PiHealth(
        temperature_c=milli / 1000 if milli is not None else None,
        throttled=parse_throttled(s.get("throttled", "")),
        root_device=parse_root_device(s.get("root-device", "").strip()),
    )


def parse_identity(text: str) -> Identity:
    """The `identity` section (`machine-id HASH`, `host-key TYPE BLOB`, `engine-id HASH`,
    `engine-key HASH`) to Identity; engine-id wins over the older key.json."""
    values: dict[str, str] = {}
    keys: list[str] = []
    for line in text.splitlines():
        words = line.split()
        if len(words) == 3 and words[0] == "host-key" and KEY_TYPE.match(words[1]):
            keys.append(f"{words[1]} {words[2]}")
        elif len(words) == 2 and re.fullmatch(r"[0-9a-f]{64}", words[1]):
            values[words[0]] = words[1]
    return Identity(machine_id=values.get("machine-id", ""), host_keys=tuple(sorted(keys)),
                    engine_id=values.get("engine-id") or values.get("engine-key", ""))


def parse_ip_addr(text: str) -> tuple[tuple[str, str], ...]:
    """`ip -o -4 addr show | awk '{print $2, $4}'` lines (`eth0 10.1.1.5/24`) to pairs."""
    pairs = []
    for line in text.splitlines():
        words = line.split()
        if len(words) == 2 and "/" in words[1]:
            pairs.append((words[0], words[1]))
    return tuple(pairs)


def parse_routes(text: str) -> tuple[Route, ...]:
    """`ip -4 route show` to Routes (`10.1.1.0/24 dev eth0 proto kernel ...`); a bare
    address is a /32, unreadable lines are skipped."""
    routes = []
    for line in text.splitlines():
        words = line.split()
        if not words:
            continue
        if words[0] in ("unreachable", "blackhole", "prohibit", "throw", "local", "broadcast",
                        "unicast", "multicast"):
            words = words[1:]
        if not words:
            continue
        device = words[words.index("dev") + 1] if "dev" in words[:-1] else ""
        if words[0] == "default":
            routes.append(Route("default", device))
            continue
        try:
            network = ipaddress.ip_network(words[0], strict=False)
        except ValueError:
            continue
        routes.append(Route(str(network), device))
    return tuple(routes)


def parse_sshd(text: str) -> tuple[tuple[str, str], ...]:
    """`sshd -T` lines (`keyword value`) to sorted pairs, keywords lower-case."""
    pairs = {}
    for line in text.splitlines():
        keyword, _, value = line.strip().partition(" ")
        if keyword:
            pairs[keyword.lower()] = value.strip().lower()
    return tuple(sorted(pairs.items()))


KEY_TYPE = re.compile(r"^(ssh-|ecdsa-|sk-)[A-Za-z0-9@.-]+\Z")


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
