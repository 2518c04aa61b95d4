"""Preflight: is every host fit for Docker Swarm? Reads facts only, never changes a host."""

from __future__ import annotations

import time
from collections import Counter

from cloudmesh.swarm.facts import KNOWN_CODENAMES, HostFacts, parse_arch, parse_kernel_version
from cloudmesh.swarm.phase_context import Context
from cloudmesh.swarm.phases import Phase
from cloudmesh.swarm.phases.identity import check_identities, check_node_name, identity_steps
from cloudmesh.swarm.phases.network import check_advertise, check_pool_collisions
from cloudmesh.swarm.plan import Plan, Problem, Step

SUPPORTED_ARCHES = ("arm64", "armhf", "amd64")
MIN_KERNEL = (3, 10)


def check_sudo(ctx: Context, host: str, facts: HostFacts) -> list[Problem]:
    if facts.sudo:
        return []
    if ctx.options.become_password is not None:
        return [Problem(f"sudo refused the password for user {facts.user!r}",
                        "check the password, or that the user is in the sudo group")]
    return [Problem(f"sudo needs a password for user {facts.user!r}",
                    "allow passwordless sudo (a file in /etc/sudoers.d) or pass --ask-become-pass")]


def check_os(ctx: Context, host: str, facts: HostFacts) -> list[Problem]:
    release = facts.os
    if release is None:
        return [Problem("cannot read /etc/os-release", "only Debian-family hosts are supported")]
    family = release.family
    if family is None:
        return [Problem(f"{release.pretty_name or release.id} is not Debian-family",
                        "use Raspberry Pi OS, Debian or Ubuntu")]
    known = KNOWN_CODENAMES.get(release.id, KNOWN_CODENAMES.get(family, set()))
    if release.codename not in known:
        return [Problem(f"unknown {family} release {release.codename or release.version_id!r}",
                        f"supported: {', '.join(sorted(known))}")]
    if not facts.apt:
        return [Problem("apt-get not found", "a Debian-family host needs apt")]
    return []


def check_arch(ctx: Context, host: str, facts: HostFacts) -> list[Problem]:
    if facts.arch not in SUPPORTED_ARCHES:
        return [Problem(f"architecture {facts.arch!r} is not supported",
                        "use an aarch64, armv7l or x86_64 host")]
    machine = facts.install.machine
    if machine and parse_arch(machine) != facts.arch:  # 32-bit Pi OS on a 64-bit kernel
        return [Problem(f"{facts.arch} packages on a {machine} kernel: Docker installs {facts.arch} "
                        f"and pulls {facts.arch} images", warning=True)]
    return []


MIN_MANAGER_KB = 900 * 1024  # a "1 GB" Pi reports ~920-950 MB (the firmware keeps some)


def check_manager_memory(ctx: Context, host: str, facts: HostFacts) -> list[Problem]:
    total = facts.install.mem_total_kb
    if ctx.role(host) != "manager" or total is None or total >= MIN_MANAGER_KB:
        return []
    return [Problem(f"manager with {total // 1024} MB RAM (< 1 GB): the swarm's raft store and "
                    "the engine compete with services for memory",
                    "make a host with 1 GB or more the manager (role: manager in the inventory)",
                    warning=True)]


def check_kernel(ctx: Context, host: str, facts: HostFacts) -> list[Problem]:
    if parse_kernel_version(facts.kernel) >= MIN_KERNEL:
        return []
    return [Problem(f"kernel {facts.kernel or '?'} is older than 3.10", "upgrade the OS")]


def check_disk(ctx: Context, host: str, facts: HostFacts) -> list[Problem]:
    need_kb = int(ctx.options.min_var_free_gb * 1024 * 1024)
    if facts.var_free_kb is None or facts.var_free_kb >= need_kb or facts.docker_ready:
        return []
    free = facts.var_free_kb / 1024 / 1024
    shown = f"{int(free * 100) / 100:g}"  # rounded down: 3 GB minus 1 kB is not "3.0 GB"
    return [Problem(f"only {shown} GB free on /var, "
                    f"Docker needs {ctx.options.min_var_free_gb:g} GB",
                    "free space, or use a larger SD card")]


def check_clock(ctx: Context, host: str, facts: HostFacts) -> list[Problem]:
    offset = ctx.clock_offsets.get(host)
    if offset is None or abs(offset) <= ctx.options.max_clock_skew:
        return []
    if ctx.options.fix_clock:
        return [Problem(f"clock is {offset:+.0f} s off this machine's; setting it (--fix-clock)",
                        warning=True)]
    return [Problem(f"clock is {offset:+.0f} s off this machine's; swarm TLS fails on skew",
                    "re-run with --fix-clock to set it from this machine and turn NTP on, "
                    "or on the host: sudo timedatectl set-ntp true")]


def clock_fix(ctx: Context, host: str) -> Step | None:
    """With --fix-clock: set a skewed clock from this machine's (now), and NTP on if it can."""
    offset = ctx.clock_offsets.get(host)
    if not ctx.options.fix_clock or offset is None or abs(offset) <= ctx.options.max_clock_skew:
        return None
    now = int(time.time())
    return Step(f"set the clock from this machine ({offset:+.0f} s off)",
                f"date -u -s @{now} >/dev/null && (timedatectl set-ntp true 2>/dev/null || true)",
                sudo=True)


def check_hostname(ctx: Context, host: str, facts: HostFacts) -> list[Problem]:
    names = Counter(f.hostname for f in ctx.facts.values())
    if names[facts.hostname] < 2:
        return []
    others = sorted(h for h, f in ctx.facts.items() if f.hostname == facts.hostname and h != host)
    hint = (" (every Pi is born 'raspberrypi')" if facts.hostname == "raspberrypi" else "")
    return [Problem(f"hostname {facts.hostname!r} is also used by {', '.join(others)}{hint}",
                    f"give each host its own name: sudo hostnamectl set-hostname {host}")]


def check_python(ctx: Context, host: str, facts: HostFacts) -> list[Problem]:
    if facts.python3:
        return []
    return [Problem("python3 is missing (joins talk to the Docker socket with it)",
                    "sudo apt-get install -y python3-minimal")]


MEMORY_CGROUP_ARG = "cgroup_enable=memory"


def check_memory_cgroup(ctx: Context, host: str, facts: HostFacts) -> list[Problem]:
    """The fix goes into the boot partition's cmdline.txt; /proc/cmdline says if it took."""
    if facts.memory_cgroup or not facts.is_raspberry_pi:
        return []
    path = facts.install.boot_cmdline_path or "/boot/firmware/cmdline.txt"
    written = MEMORY_CGROUP_ARG in facts.install.boot_cmdline.split()
    booted = MEMORY_CGROUP_ARG in facts.install.proc_cmdline.split()
    if written and not booted:
        return [Problem(f"memory cgroup is disabled: {MEMORY_CGROUP_ARG} is in {path} "
                        "but the running kernel did not boot with it", "sudo reboot", warning=True)]
    if booted:
        return [Problem(f"memory cgroup is disabled although the kernel booted with {MEMORY_CGROUP_ARG}",
                        "look for cgroup_disable=memory in /proc/cmdline", warning=True)]
    where = path if facts.install.boot_cmdline_path else (
        "/boot/firmware/cmdline.txt (/boot/cmdline.txt before bookworm)")
    return [Problem("memory cgroup is disabled: Docker cannot limit container memory",
                    f"append '{MEMORY_CGROUP_ARG}' to the one line of {where} and reboot",
                    warning=True)]


def check_network_kernel(ctx: Context, host: str, facts: HostFacts) -> list[Problem]:
    found = []
    if facts.vxlan != "yes":
        found.append(Problem(f"kernel VXLAN support {'missing' if facts.vxlan == 'no' else 'not confirmed'}: "
                             "overlay networks between nodes will not work",
                             "install the full kernel (linux-image / raspberrypi-kernel)", warning=True))
    if facts.ipvs != "yes":
        found.append(Problem(f"kernel IPVS (ip_vs) {'missing' if facts.ipvs == 'no' else 'not confirmed'}: "
                             "the routing mesh and service VIPs will not work; "
                             "host-mode ports and dnsrr services still do",
                             "sudo modprobe ip_vs, or a kernel with CONFIG_IP_VS", warning=True))
    return found


def check_docker_cli(ctx: Context, host: str, facts: HostFacts) -> list[Problem]:
    """An engine without its command (trixie's docker.io without docker-cli): install repairs it."""
    if facts.install.docker_cli or not (facts.docker_package or facts.docker_version):
        return []
    return [Problem("the Docker engine is installed but there is no docker command",
                    "cms-swarm install (or create) installs the package that provides it",
                    warning=True)]


CHECKS = (check_sudo, check_os, check_arch, check_kernel, check_disk, check_clock,
          check_hostname, check_python, check_memory_cgroup, check_network_kernel,
          check_manager_memory, check_docker_cli, check_identities, check_node_name,
          check_advertise, check_pool_collisions)


class PreparePhase(Phase):
    """The seed's 'prepare': every check on every host; a failed one stops the command."""

    title = "Check hosts"
    changes_hosts = False

    def problems(self, ctx: Context, host: str) -> list[Problem]:
        facts = ctx.facts[host]
        return [problem for check in CHECKS for problem in check(ctx, host, facts)]

    def plan(self, ctx: Context, host: str, stage: str) -> Plan:
        fix = clock_fix(ctx, host)
        steps = ([fix] if fix else []) + identity_steps(ctx, host)
        return Plan(tuple(steps)) if steps else Plan.noop("all checks passed")
