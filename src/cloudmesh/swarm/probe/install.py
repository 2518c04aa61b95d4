"""What install and prepare read beyond the basics: parses install.sh's sections."""

from __future__ import annotations

from dataclasses import dataclass

from cloudmesh.swarm.probe.sections import as_int, getter

SECTIONS = ("dpkg-arch", "docker-cli", "docker-pkgs", "candidates", "daemon-json", "meminfo",
            "boot-cmdline", "proc-cmdline")  # what install.sh prints, parsed here


@dataclass(frozen=True)
class InstallFacts:
    """What install and prepare read beyond the basics (install.sh)."""

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


def parse_install_facts(s: dict[str, str]) -> InstallFacts:
    """install.sh's sections; the `arch` section is uname -m."""
    get = getter(s)
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
        mem_total_kb=as_int(get("meminfo")),
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
