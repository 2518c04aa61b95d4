"""Install: a working Docker engine on every host, enabled, the SSH user in `docker`, and
busybox-static, from which verify makes its test image without a registry.

The engine is Debian's docker.io (`--engine distro`, the default) with whatever package
gives the `docker` command on that release (docker-cli since trixie), or docker-ce from
Docker's apt repository (`--engine docker-ce`). Either way the engine rotates its logs
(daemon.json), so container output cannot fill an SD card.
"""

from __future__ import annotations

import json
import shlex

from cloudmesh.swarm.facts import HostFacts
from cloudmesh.swarm.phase_context import Context
from cloudmesh.swarm.phases import Phase
from cloudmesh.swarm.phases.shell import APT, ENGINE_UP, REFRESH_LISTS, WAIT_FOR_APT
from cloudmesh.swarm.plan import Batch, Plan, Problem, Step

# upgrade.py and backup.py still import these from here; the lead moves them to phases.shell
KEYRING = "/etc/apt/keyrings/docker.asc"
SOURCES = "/etc/apt/sources.list.d/docker.sources"
DAEMON_JSON = "/etc/docker/daemon.json"
LOG_OPTS = {"max-size": "10m", "max-file": "3"}  # at most 30 MB of logs per container
ROTATING_DRIVERS = ("json-file", "local")  # drivers that take max-size/max-file

# Adds the missing log-opts keys to daemon.json, keeps every other key; prints "changed".
MERGE_LOG_OPTS = f"""
import json, os
path, want = {DAEMON_JSON!r}, {LOG_OPTS!r}
try:
    text = open(path).read()
except FileNotFoundError:
    text = ""
data = json.loads(text) if text.strip() else {{}}
opts = data.setdefault("log-opts", {{}})
if data.get("log-driver", "json-file") in {ROTATING_DRIVERS!r} and not set(want) <= set(opts):
    for key, value in want.items():
        opts.setdefault(key, value)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w") as out:
        out.write(json.dumps(data, indent=2) + "\\n")
    os.replace(path + ".tmp", path)
    print("changed")
""".strip()
# Verify makes its test image from it on each node, so no registry is needed (about 1 MB).
INSTALL_BUSYBOX = Step(
    "install busybox-static (verify's test image, no registry needed)",
    f"{WAIT_FOR_APT}{APT} install -y --no-install-recommends busybox-static",
    sudo=True,
    timeout=600,
)
# Debian's postinst usually enables and starts it already; `enable` alone costs a daemon-reload.
FINISH_DPKG = Step(
    "finish an interrupted package install (dpkg --configure -a)",
    WAIT_FOR_APT + "DEBIAN_FRONTEND=noninteractive dpkg --force-confdef --force-confold --configure -a",
    sudo=True,
    timeout=900,
)
START_ENGINE = Step("enable and start the engine",
                    "systemctl is-enabled -q docker && systemctl is-active -q docker "
                    "|| systemctl enable --now docker", sudo=True)
WAIT_ENGINE = Step("wait until the engine answers", ENGINE_UP, sudo=True, timeout=90)


def docker_ce_distro(facts: HostFacts) -> str:
    """Docker's repository for this OS, as Docker documents it: ubuntu, debian, or raspbian
    (32-bit Raspberry Pi OS up to bookworm; raspbian trixie and later use the debian one)."""
    release = facts.os
    family = release.family if release else None
    if family == "raspbian" and release is not None and release.codename in ("stretch", "buster", "bullseye", "bookworm"):
        return "raspbian"
    return "ubuntu" if family == "ubuntu" else "debian"


HAS_DOCKER_CLI = "apt-cache show docker-cli >/dev/null 2>&1"  # trixie and later split the CLI out


def pinned(packages: tuple[str, ...], version: str, pin: tuple[str, ...]) -> str:
    """`pkg=version` for the packages in `pin` when a version is asked for."""
    return " ".join(f"{p}={version}" if version and p in pin else p for p in packages)


def apt_install(packages: str, extra: str = "") -> str:
    return f"{WAIT_FOR_APT}{APT} install -y --no-install-recommends {extra}{packages}"


def docker_ce_repo_steps(ctx: Context, facts: HostFacts) -> list[Step]:
    """Docker's apt repository: its key as a signed-by keyring, one deb822 sources entry."""
    distro = docker_ce_distro(facts)
    url = f"{ctx.options.engine_repo.rstrip('/')}/{distro}"
    codename = facts.os.codename if facts.os else ""
    arch = facts.install.dpkg_arch or facts.arch
    entry = (f"Types: deb\\nURIs: {url}\\nSuites: {codename}\\nComponents: stable\\n"
             f"Architectures: {arch}\\nSigned-By: {KEYRING}\\n")
    return [
        REFRESH_LISTS,
        Step("install ca-certificates and curl (to fetch Docker's key)",
             apt_install("ca-certificates curl"), sudo=True, timeout=900),
        Step(f"add Docker's signing key ({url}/gpg)",
             f"install -m 0755 -d /etc/apt/keyrings && curl -fsSL {shlex.quote(url + '/gpg')} -o {KEYRING}.tmp "
             f"&& chmod a+r {KEYRING}.tmp && mv {KEYRING}.tmp {KEYRING}", sudo=True, timeout=120),
        Step(f"add Docker's apt repository ({distro} {codename} {arch})",
             f"printf {shlex.quote(entry)} > {SOURCES}", sudo=True),
        Step("read Docker's package list", f"{WAIT_FOR_APT}{APT} update", sudo=True, timeout=300),
    ]


def engine_steps(ctx: Context, facts: HostFacts) -> list[Step]:
    """Install the engine and its CLI where none is installed yet."""
    version = ctx.options.engine_version
    if ctx.options.engine == "docker-ce":
        packages = pinned(("docker-ce", "docker-ce-cli", "containerd.io"), version,
                          ("docker-ce", "docker-ce-cli"))
        return [*docker_ce_repo_steps(ctx, facts),
                Step(f"install {packages} (no recommends)", apt_install(packages), sudo=True, timeout=900)]
    if not facts.install.cli_candidate and not facts.apt_lists_fresh:
        # A fresh card may have no package lists yet: whether this release splits the CLI off
        # (trixie and later) is known only after the refresh, so apt itself is asked then.
        engine, cli = pinned(("docker.io",), version, ("docker.io",)), pinned(
            ("docker-cli",), version, ("docker-cli",))
        packages = f"{engine} $({HAS_DOCKER_CLI} && echo {cli})"
        return [REFRESH_LISTS,
                Step(f"install {engine}, and docker-cli where the release has it (no recommends)",
                     apt_install(packages), sudo=True, timeout=900)]
    names = ("docker.io", "docker-cli") if facts.install.cli_candidate else ("docker.io",)
    packages = pinned(names, version, names)
    what = "engine and CLI" if len(names) > 1 else "engine only"
    return [REFRESH_LISTS,
            Step(f"install {packages} ({what}, no recommends)", apt_install(packages), sudo=True, timeout=900)]


def cli_steps(facts: HostFacts) -> list[Step]:
    """The package that gives the `docker` command, for a host whose engine lacks it."""
    engine = facts.install.engine
    if engine == "docker-ce":
        package, extra = "docker-ce-cli", ""
    elif engine == "distro" and (facts.install.cli_candidate or facts.install.package("docker-cli")):
        package, extra = "docker-cli", "--reinstall " if facts.install.package("docker-cli") else ""
    elif engine == "distro" and not facts.apt_lists_fresh:  # after the refresh apt knows which
        return [REFRESH_LISTS, Step(
            "install the docker command (docker-cli where the release has it, else docker.io again)",
            f"if {HAS_DOCKER_CLI}; then {apt_install('docker-cli')}; "
            f"else {apt_install('docker.io', '--reinstall ')}; fi", sudo=True, timeout=900)]
    elif engine == "distro":
        package, extra = "docker.io", "--reinstall "  # before trixie docker.io has the CLI
    else:
        return []
    return [REFRESH_LISTS, Step(f"install the docker command ({package})",
                                apt_install(package, extra), sudo=True, timeout=900)]


def daemon_json(facts: HostFacts) -> dict[str, object] | None:
    """/etc/docker/daemon.json as data ({} when absent); None when it is not a JSON object."""
    text = facts.install.daemon_json
    try:
        data = json.loads(text) if text.strip() else {}
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def needs_log_rotation(facts: HostFacts) -> bool:
    data = daemon_json(facts)
    if data is None or data.get("log-driver", "json-file") not in ROTATING_DRIVERS:
        return False
    opts = data.get("log-opts")
    return not (isinstance(opts, dict) and set(LOG_OPTS) <= set(opts))


LOG_ROTATION = Step(
    "rotate container logs (daemon.json log-opts max-size=10m max-file=3, other keys kept)",
    f"out=$(python3 -c {shlex.quote(MERGE_LOG_OPTS)}) && if [ \"$out\" = changed ] "
    "&& systemctl is-active -q docker; then systemctl restart docker; fi",
    sudo=True, timeout=120)


class InstallPhase(Phase):
    """The seed's 'deploy': docker.io from the distribution (or docker-ce), all hosts at once;
    managers already in a swarm one at a time when their engine must restart."""

    title = "Install Docker engine"

    def problems(self, ctx: Context, host: str) -> list[Problem]:
        facts = ctx.facts[host]
        found = []
        if ctx.options.engine == "docker-ce" and facts.install.engine == "distro":
            found.append(Problem(f"docker.io {facts.install.package('docker.io')} is installed; "
                                 "--engine docker-ce does not replace a distribution engine",
                                 "cms-swarm reset --purge first, or leave out --engine docker-ce"))
        if daemon_json(facts) is None:
            found.append(Problem(f"{DAEMON_JSON} is not a JSON object: the engine will not start",
                                 f"fix or remove {DAEMON_JSON}"))
        return found

    def batches(self, ctx: Context) -> list[Batch]:
        """Restarting every manager at once would stop the swarm: those go one by one."""
        names = [h.name for h in ctx.inventory.hosts]
        restart = [n for n in ctx.swarm_managers() if (f := ctx.facts.get(n)) and f.docker_active
                   and needs_log_rotation(f)]
        rest = tuple(n for n in names if n not in restart)
        return [Batch("all", rest)] * bool(rest) + [Batch("all", (n,)) for n in restart]

    def plan(self, ctx: Context, host: str, stage: str) -> Plan:
        facts = ctx.facts[host]
        steps: list[Step] = []
        if facts.dpkg_interrupted:
            steps.append(FINISH_DPKG)
        if needs_log_rotation(facts):
            steps.append(LOG_ROTATION)  # before a first start, so a fresh engine needs no restart
        if not facts.docker_package and not facts.docker_version:
            steps += engine_steps(ctx, facts)
        elif not facts.install.docker_cli:
            steps += cli_steps(facts)
        if not (facts.docker_active and facts.docker_enabled):
            steps.append(START_ENGINE)
        if steps or not facts.docker_version:
            steps.append(WAIT_ENGINE)
        if not facts.busybox_static:
            steps += [REFRESH_LISTS, INSTALL_BUSYBOX][1 if REFRESH_LISTS in steps else 0:]
        user = ctx.inventory.user_of(ctx.spec(host))
        if user != "root" and "docker" not in facts.groups:
            steps.append(Step(f"add {user} to the docker group",
                              f"usermod -aG docker {shlex.quote(user)}", sudo=True))
        if not steps:
            return Plan.noop(f"docker {facts.docker_version} already running")
        return Plan(tuple(steps))
