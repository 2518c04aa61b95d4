"""Install on every Pi OS (issue 10, section 3): the package that gives `docker`, docker-ce from
Docker's repository, log rotation in daemon.json; facts recorded in data/facts/install/, the
plain plans in data/plans/install/ (test_plan_data.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cloudmesh.swarm.cli.main import main
from cloudmesh.swarm.facts import parse_facts, split_sections
from cloudmesh.swarm.phases.install import (
    MERGE_LOG_OPTS,
    InstallPhase,
    docker_ce_distro,
)

from .harness import context, descriptions, inventory
from .probes import ROTATING, node_row, probe, swarm_info

DATA = Path(__file__).parent / "data" / "facts" / "install"
TRIXIE_CLI = "26.1.5+dfsg1-9+deb13u1+b1"  # docker.io and docker-cli in trixie (deb.debian.org, 2026)


def recorded(name: str, **probe_args: object) -> str:
    return probe(**probe_args, extra=split_sections((DATA / f"{name}.txt").read_text()))  # type: ignore[arg-type]


def plan_for(text: str, **options: object) -> list[str]:
    ctx = context(inventory(1), {"pi1": text}, **options)
    return [step.shown() for step in InstallPhase().plan(ctx, "pi1", "all").steps]


def test_recorded_trixie_card_offers_docker_cli() -> None:
    facts = parse_facts(recorded("raspios-trixie-armhf-bare"))
    assert facts.arch == "armhf" and facts.install.machine == "aarch64"
    assert facts.install.cli_candidate == TRIXIE_CLI
    # its plan (docker.io with docker-cli): data/plans/install/raspios-trixie-armhf-bare.yaml


def test_recorded_trixie_host_without_the_cli_is_seen_as_such() -> None:
    text = recorded("debian-trixie-arm64-no-cli", docker="26.1.5+dfsg1", groups="pi docker")
    facts = parse_facts(text)
    assert facts.docker_version == "26.1.5+dfsg1" and not facts.install.docker_cli
    assert facts.install.engine == "distro"
    # its plan (docker-cli and nothing else): data/plans/install/debian-trixie-arm64-no-cli.yaml


# -- docker-ce from Docker's repository -------------------------------------------------------

RASPBIAN_BOOKWORM = (Path(__file__).parent / "data" / "os-release" / "raspbian-bookworm").read_text()
NOBLE = (Path(__file__).parent / "data" / "os-release" / "ubuntu-24.04").read_text()


@pytest.mark.parametrize("os_release,machine,dpkg_arch,repo", [
    (RASPBIAN_BOOKWORM, "armv7l", "armhf", "raspbian bookworm armhf"),
    (None, "aarch64", "armhf", "debian trixie armhf"),  # raspbian trixie: the debian repository
    (NOBLE, "aarch64", "arm64", "ubuntu noble arm64"),
    ("", "aarch64", "arm64", "debian bookworm arm64"),  # 64-bit Pi OS says ID=debian
])
def test_docker_ce_repository_follows_os_codename_and_dpkg_arch(
        os_release: str | None, machine: str, dpkg_arch: str, repo: str) -> None:
    sections = split_sections((DATA / "raspios-trixie-armhf-bare.txt").read_text())
    if os_release is not None:
        sections["os-release"] = os_release or sections["os-release"].replace("Raspbian", "Debian").replace(
            "ID=raspbian", "ID=debian").replace("trixie", "bookworm").replace("13", "12")
    sections.update({"arch": machine, "dpkg-arch": dpkg_arch})
    facts = parse_facts(probe(extra=sections))
    distro, codename, arch = repo.split()
    assert docker_ce_distro(facts) == distro
    shown = plan_for(probe(extra=sections), engine="docker-ce")
    entry = next(s for s in shown if "docker.sources" in s)
    assert f"URIs: https://download.docker.com/linux/{distro}\\n" in entry
    assert f"Suites: {codename}\\n" in entry and f"Architectures: {arch}\\n" in entry
    assert "Signed-By: /etc/apt/keyrings/docker.asc" in entry


# -- log rotation in daemon.json --------------------------------------------------------------

def merge(tmp_path: Path, before: str | None) -> tuple[str, dict[str, object]]:
    path = tmp_path / "etc" / "docker" / "daemon.json"
    if before is not None:
        path.parent.mkdir(parents=True)
        path.write_text(before)
    script = MERGE_LOG_OPTS.replace("/etc/docker/daemon.json", str(path))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    return out.strip(), json.loads(path.read_text()) if path.exists() else {}


def test_log_rotation_keeps_the_keys_it_finds(tmp_path: Path) -> None:
    said, data = merge(tmp_path, '{"iptables": false}\n')  # an arm64 lab host's daemon.json
    assert said == "changed"
    assert data == {"iptables": False, "log-opts": {"max-size": "10m", "max-file": "3"}}
    assert merge(tmp_path, None)[0] == ""  # second run: nothing to change, no restart


def test_log_rotation_on_a_fresh_host_writes_the_file(tmp_path: Path) -> None:
    said, data = merge(tmp_path, None)
    assert said == "changed" and data == json.loads(ROTATING)


def test_log_rotation_keeps_the_users_own_sizes(tmp_path: Path) -> None:
    said, data = merge(tmp_path, '{"log-opts": {"max-size": "50m"}}')
    assert said == "changed" and data == {"log-opts": {"max-size": "50m", "max-file": "3"}}


@pytest.mark.parametrize("daemon_json,needed", [
    ("", True), ('{"iptables": false}', True), ('{"log-driver": "local"}', True),
    ('{"log-driver": "journald"}', False),  # journald rotates itself and refuses max-size
    (ROTATING, False), ('{"log-opts": {"max-size": "50m", "max-file": "5"}}', False),
])
def test_log_rotation_step_only_where_needed(daemon_json: str, needed: bool) -> None:
    text = probe(docker="26.1.5", groups="pi docker", extra={"daemon-json": daemon_json})
    ctx = context(inventory(1), {"pi1": text})
    plan = InstallPhase().plan(ctx, "pi1", "all")
    assert any("rotate container logs" in d for d in descriptions(plan)) is needed
    if needed:
        assert "systemctl restart docker" in plan.steps[0].command  # only when it changed: in the script


def test_broken_daemon_json_is_a_problem() -> None:
    ctx = context(inventory(1), {"pi1": probe(extra={"daemon-json": '{"iptables": false'})})
    [problem] = InstallPhase().problems(ctx, "pi1")
    assert "/etc/docker/daemon.json is not a JSON object" in problem.message


def test_swarm_managers_that_must_restart_go_one_at_a_time() -> None:
    old = '{"iptables": false}'
    probes = {f"pi{i}": probe(f"pi{i}", docker="26.1.5", groups="pi docker", extra={"daemon-json": old},
                              swarm=swarm_info(f"n{i}", manager=i == 1),
                              nodes=[node_row("n1", "pi1", "Leader", me=True)] if i == 1 else None)
              for i in range(1, 4)}
    ctx = context(inventory(3), probes)
    assert [b.hosts for b in InstallPhase().batches(ctx)] == [("pi2", "pi3"), ("pi1",)]
    fresh = context(inventory(3), {f"pi{i}": probe(f"pi{i}") for i in range(1, 4)})
    assert [b.hosts for b in InstallPhase().batches(fresh)] == [("pi1", "pi2", "pi3")]


# -- bad input: one line naming the option, exit 2, nothing done ------------------------------

@pytest.mark.parametrize("args,words", [
    (["--engine", "moby"], "--engine: 'moby' is not one of: distro, docker-ce"),
    (["--engine-version", "latest; rm -rf /"], "--engine-version:"),
    (["--engine", "docker-ce", "--engine-repo", "ftp://mirror"], "--engine-repo:"),
    (["--engine-repo", "http://10.0.0.1/linux"], "--engine-repo goes with --engine docker-ce"),
])
def test_bad_engine_options_exit_2_with_one_line(args: list[str], words: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["install", "pi[1-2]", *args, "--dry-run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0]


def test_check_warns_about_an_engine_without_its_command() -> None:
    from cloudmesh.swarm.phases.prepare import check_docker_cli

    text = recorded("debian-trixie-arm64-no-cli", docker="26.1.5+dfsg1", groups="pi docker")
    ctx = context(inventory(1), {"pi1": text})
    [problem] = check_docker_cli(ctx, "pi1", ctx.facts["pi1"])
    assert problem.warning and "no docker command" in problem.message and "cms-swarm install" in problem.fix
    bare = context(inventory(1), {"pi1": probe()})
    assert check_docker_cli(bare, "pi1", bare.facts["pi1"]) == []


def test_probe_install_sections_read_the_hosts_files(tmp_path: Path) -> None:
    from .test_facts import run_probe_sections

    firmware = tmp_path / "firmware-cmdline.txt"
    firmware.write_text("console=serial0,115200 console=tty1 root=PARTUUID=3e247b30-02 rootwait cgroup_enable=memory\n")
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:         438360 kB\nMemFree:          123456 kB\n")
    proc = tmp_path / "cmdline"
    proc.write_text("coherent_pool=1M 8250.nr_uarts=0 console=ttyS0,115200 root=PARTUUID=3e247b30-02 rootwait\n")
    out = run_probe_sections(["boot-cmdline", "meminfo", "proc-cmdline"], {
        "/boot/firmware/cmdline.txt": firmware, "/boot/cmdline.txt": tmp_path / "absent",
        "/proc/meminfo": meminfo, "/proc/cmdline": proc})
    install = parse_facts(out).install
    assert install.boot_cmdline_path == str(firmware) and "cgroup_enable=memory" in install.boot_cmdline.split()
    assert install.mem_total_kb == 438360 and "cgroup_enable=memory" not in install.proc_cmdline
    bare = run_probe_sections(["boot-cmdline"], {"/boot/firmware/cmdline.txt": tmp_path / "no1",
                                                  "/boot/cmdline.txt": tmp_path / "no2"})
    assert parse_facts(bare).install.boot_cmdline_path == ""  # a lab host or a PC: no cmdline.txt


def test_stale_lists_repair_the_cli_with_whichever_package_has_it() -> None:
    text = probe(docker="26.1.5+dfsg1", groups="pi docker",
                 extra={"docker-cli": "", "apt-lists-fresh": "", "candidates": ""})
    [step] = [s for s in plan_for(text) if "docker command" in s or "docker-cli" in s]
    assert step.startswith("sudo if apt-cache show docker-cli >/dev/null 2>&1; then ")
    assert "--no-install-recommends docker-cli; else " in step and "--reinstall docker.io; fi" in step


def test_one_apt_cache_call_gives_both_candidates() -> None:
    from cloudmesh.swarm.facts import parse_candidates

    # `apt-cache policy docker-cli docker-ce | awk ...` on trixie with Docker's repository added;
    # a package the release lacks is not printed at all, one without a candidate says (none)
    assert parse_candidates(f"docker-cli: {TRIXIE_CLI}\ndocker-ce: 5:28.0.4-1~debian.13~trixie\n") == {
        "docker-cli": TRIXIE_CLI, "docker-ce": "5:28.0.4-1~debian.13~trixie"}
    assert parse_candidates("docker-ce: (none)\n") == {}
    assert parse_candidates("") == {}
