"""Install: a working Docker engine on every host, enabled, the SSH user in `docker`."""

from __future__ import annotations

import shlex

from cloudmesh.swarm.phases import Context, Phase
from cloudmesh.swarm.plan import Plan, Step

APT = "DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300"
# An apt or dpkg that outlived its SSH session (a killed run) may still hold the locks
# (`apt-get update`'s list lock has no timeout option): let it finish first, bounded.
WAIT_FOR_APT = ("i=0; while pgrep -x apt-get >/dev/null || pgrep -x dpkg >/dev/null; do "
                "i=$((i+1)); [ $i -ge 600 ] && break; sleep 1; done; ")

REFRESH_LISTS = Step(
    "refresh package lists when older than a day",
    "if [ -z \"$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -mmin -1440 | head -n 1)\" ]; "
    f"then {WAIT_FOR_APT}{APT} update; fi",
    sudo=True,
    timeout=300,
)
INSTALL_ENGINE = Step(
    "install docker.io (engine only, no recommends)",
    f"{WAIT_FOR_APT}{APT} install -y --no-install-recommends docker.io",
    sudo=True,
    timeout=900,
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
# Until the engine answers on its socket (60 s at most); after a start, restart or restore.
ENGINE_UP = ("i=0; until err=$(docker info 2>&1 >/dev/null); do i=$((i+1)); "  # keeps the last error
             "[ $i -ge 120 ] && { printf '%s\\n' \"$err\" | tail -n 1 >&2; exit 1; }; sleep 0.5; done")
WAIT_ENGINE = Step("wait until the engine answers", ENGINE_UP, sudo=True, timeout=90)


class InstallPhase(Phase):
    """The seed's 'deploy': docker.io from the distribution, all hosts at once."""

    title = "Install Docker engine"

    def plan(self, ctx: Context, host: str, stage: str) -> Plan:
        facts = ctx.facts[host]
        steps: list[Step] = []
        if facts.dpkg_interrupted:
            steps.append(FINISH_DPKG)
        if not facts.docker_package and not facts.docker_version:
            steps += [REFRESH_LISTS, INSTALL_ENGINE]
        if not (facts.docker_active and facts.docker_enabled):
            steps.append(START_ENGINE)
        if steps or not facts.docker_version:
            steps.append(WAIT_ENGINE)
        user = ctx.inventory.user_of(ctx.spec(host))
        if user != "root" and "docker" not in facts.groups:
            steps.append(Step(f"add {user} to the docker group",
                              f"usermod -aG docker {shlex.quote(user)}", sudo=True))
        if not steps:
            return Plan.noop(f"docker {facts.docker_version} already running")
        return Plan(tuple(steps))
