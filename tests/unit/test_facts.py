"""Probe output in, facts and preflight verdicts out.

The /etc/os-release files under data/os-release/ are the files the distributions ship
(see data/README.md); each goes through the probe-output format into parse_facts and then
through the prepare phase, both check by check and through the runner's `check` action.
"""

from __future__ import annotations

import io
import re
import time
from pathlib import Path

import pytest

from cloudmesh.swarm.actions import run_action
from cloudmesh.swarm.facts import (
    PROBE_SCRIPT,
    SECTION,
    HostFacts,
    parse_arch,
    parse_facts,
    parse_kernel_version,
    parse_memory_cgroup,
    parse_os_release,
    split_sections,
)
from cloudmesh.swarm.options import RunOptions
from cloudmesh.swarm.phases.prepare import (
    PreparePhase,
    check_arch,
    check_clock,
    check_disk,
    check_hostname,
    check_kernel,
    check_memory_cgroup,
    check_network_kernel,
    check_os,
    check_python,
    check_sudo,
)
from cloudmesh.swarm.plan import Problem, Secret
from cloudmesh.swarm.report import Reporter

from .harness import FakeTransport, Lab, canned, context, named_inventory
from .probes import probe

OS_RELEASE = Path(__file__).parent / "data" / "os-release"

# file -> (ID, codename, family, version_id, uname -m, uname -r, device-tree model)
ACCEPTED = {
    "raspbian-stretch": ("raspbian", "stretch", "raspbian", "9", "armv7l", "4.14.98-v7+",
                         "Raspberry Pi 3 Model B Rev 1.2"),
    "raspbian-stretch-2017": ("raspbian", "stretch", "raspbian", "9", "armv6l", "4.9.59+",
                              "Raspberry Pi Zero W Rev 1.1"),
    "raspbian-buster": ("raspbian", "buster", "raspbian", "10", "armv7l", "4.19.97-v7l+",
                        "Raspberry Pi 4 Model B Rev 1.1"),
    "raspbian-bullseye": ("raspbian", "bullseye", "raspbian", "11", "armv7l", "5.15.84-v7l+",
                          "Raspberry Pi 4 Model B Rev 1.4"),
    "raspbian-bookworm": ("raspbian", "bookworm", "raspbian", "12", "armv7l",
                          "6.6.51+rpt-rpi-v7", "Raspberry Pi 3 Model B Plus Rev 1.3"),
    "raspios-bookworm-arm64": ("debian", "bookworm", "debian", "12", "aarch64",
                               "6.6.51+rpt-rpi-2712", "Raspberry Pi 5 Model B Rev 1.0"),
    "debian-11": ("debian", "bullseye", "debian", "11", "x86_64", "5.10.0-32-amd64", ""),
    "debian-12": ("debian", "bookworm", "debian", "12", "aarch64", "6.1.0-26-arm64", ""),
    "debian-13": ("debian", "trixie", "debian", "13", "x86_64", "6.12.48+deb13-amd64", ""),
    "ubuntu-20.04": ("ubuntu", "focal", "ubuntu", "20.04", "aarch64", "5.4.0-1089-raspi",
                     "Raspberry Pi 4 Model B Rev 1.5"),
    "ubuntu-22.04": ("ubuntu", "jammy", "ubuntu", "22.04", "aarch64", "5.15.0-1060-raspi",
                     "Raspberry Pi 4 Model B Rev 1.5"),
    "ubuntu-24.04": ("ubuntu", "noble", "ubuntu", "24.04", "x86_64", "6.8.0-45-generic", ""),
}

# file -> (ID, codename, family, uname -m, uname -r, words the one-line problem must contain)
REJECTED = {
    "fedora-40": ("fedora", "", None, "x86_64", "6.8.5-301.fc40.x86_64",
                  "Fedora Linux 40 (Server Edition) is not Debian-family"),
    "alpine-3.20": ("alpine", "", None, "x86_64", "6.6.49-0-lts",
                    "Alpine Linux v3.20 is not Debian-family"),
    "centos-7": ("centos", "", None, "x86_64", "3.10.0-1160.el7.x86_64",
                 "CentOS Linux 7 (Core) is not Debian-family"),
    "lmde-6": ("linuxmint", "faye", "debian", "x86_64", "6.1.0-26-amd64",
               "unknown debian release 'faye'"),
    "kali-rolling": ("kali", "kali-rolling", "debian", "x86_64", "6.8.11-amd64",
                     "unknown debian release 'kali-rolling'"),
    "ubuntu-16.04": ("ubuntu", "xenial", "ubuntu", "x86_64", "4.4.0-210-generic",
                     "unknown ubuntu release 'xenial'"),
    "debian-unknown-codename": ("debian", "duke", "debian", "x86_64", "6.12.48+deb15-amd64",
                                "unknown debian release 'duke'"),
}


# -- helpers -------------------------------------------------------------------------------

def with_sections(text: str, **overrides: str) -> str:
    """probe() output with some sections replaced (underscores in names become dashes)."""
    sections = split_sections(text)
    sections.pop("end", None)
    for key, value in overrides.items():
        sections[key.replace("_", "-")] = value
    return "".join(f"=== {k} ===\n{v}\n" for k, v in sections.items()) + "=== end ===\n"


def host_probe(name: str = "pi1", **overrides: str) -> str:
    return with_sections(probe(name), **overrides)


def os_probe(release_file: str, arch: str, kernel: str, model: str = "", name: str = "pi1") -> str:
    return host_probe(name, os_release=(OS_RELEASE / release_file).read_text(), arch=arch,
                      kernel=kernel, model=model)


def facts(**overrides: str) -> HostFacts:
    return parse_facts(host_probe(**overrides))


def run_check(probes: dict[str, str], **options: object) -> tuple[int, str, str, dict[str, FakeTransport]]:
    """The real `check` action (prepare phase through the runner) against canned probes."""
    lab = Lab(canned(probes), read_only=True)  # check must not write to a host
    out, err = io.StringIO(), io.StringIO()
    code = run_action("check", named_inventory(list(probes)), RunOptions(**options),  # type: ignore[arg-type]
                      Reporter(file=out, err=err, live=False), connector=lab.connect)
    for transport in lab.transports.values():
        assert transport.commands == [PROBE_SCRIPT]  # check only ever reads
    return code, out.getvalue(), err.getvalue(), lab.transports


def failure_lines(err: str, host: str) -> list[str]:
    """The lines of stderr that report a failure of `host` (the 'host: ...' line)."""
    return [line for line in err.splitlines()
            if line.startswith(f"{host}: ") and not line.startswith(f"{host}: problem: ")]


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CMS_SWARM_HOME", str(tmp_path / "state"))


# -- the recorded /etc/os-release files ----------------------------------------------------

def test_every_recorded_file_has_an_expectation() -> None:
    assert sorted(p.name for p in OS_RELEASE.iterdir()) == sorted([*ACCEPTED, *REJECTED])


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_debian_family_release_is_parsed_from_probe_output(name: str) -> None:
    os_id, codename, family, version_id, arch, kernel, model = ACCEPTED[name]
    f = parse_facts(os_probe(name, arch, kernel, model))
    assert f.os is not None
    assert (f.os.id, f.os.codename, f.os.family, f.os.version_id) == (os_id, codename, family,
                                                                      version_id)
    assert f.os.pretty_name and '"' not in f.os.pretty_name
    assert f.kernel == kernel and f.model == model


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_debian_family_release_passes_the_os_check(name: str) -> None:
    _, _, _, _, arch, kernel, model = ACCEPTED[name]
    text = os_probe(name, arch, kernel, model)
    ctx = context(None, {"pi1": text})
    assert check_os(ctx, "pi1", ctx.facts["pi1"]) == []
    assert check_arch(ctx, "pi1", ctx.facts["pi1"]) == []
    assert check_kernel(ctx, "pi1", ctx.facts["pi1"]) == []
    code, _, err, _ = run_check({"pi1": text})
    assert code == 0, err
    assert failure_lines(err, "pi1") == []


@pytest.mark.parametrize("name", sorted(REJECTED))
def test_other_release_is_parsed_from_probe_output(name: str) -> None:
    os_id, codename, family, arch, kernel, _ = REJECTED[name]
    f = parse_facts(os_probe(name, arch, kernel))
    assert f.os is not None
    assert (f.os.id, f.os.codename, f.os.family) == (os_id, codename, family)


@pytest.mark.parametrize("name", sorted(REJECTED))
def test_other_release_is_refused_in_one_line_naming_the_host(name: str) -> None:
    _, _, _, arch, kernel, words = REJECTED[name]
    text = os_probe(name, arch, kernel, name="node7")
    ctx = context(None, {"node7": text})
    problems = check_os(ctx, "node7", ctx.facts["node7"])
    assert len(problems) == 1 and not problems[0].warning
    assert words in problems[0].message
    code, _, err, _ = run_check({"node7": text})
    assert code == 1
    lines = failure_lines(err, "node7")
    assert len(lines) == 1, err
    assert lines[0].startswith(f"node7: {words}")
    assert "fix: " in lines[0]
    assert "failed on 1 of 1 hosts: node7" in err


def test_release_without_version_codename_takes_it_from_version() -> None:
    release = parse_os_release((OS_RELEASE / "raspbian-stretch-2017").read_text())
    assert release is not None and release.codename == "stretch"
    assert "VERSION_CODENAME" not in (OS_RELEASE / "raspbian-stretch-2017").read_text()


def test_os_release_quoting_and_comments() -> None:
    release = parse_os_release(
        "# a comment\n\nID='Debian'\nID_LIKE=\"ubuntu debian\"\n"
        'PRETTY_NAME="say \\"hi\\""\nVERSION_ID=12\nno equals sign here\nVERSION_CODENAME=Bookworm\n')
    assert release is not None
    assert release.id == "debian"
    assert release.id_like == ("ubuntu", "debian")
    assert release.pretty_name == 'say "hi"'
    assert release.version_id == "12"
    assert release.codename == "bookworm"


def test_ubuntu_codename_is_the_fallback_for_version_codename() -> None:
    release = parse_os_release('ID=ubuntu\nID_LIKE=debian\nUBUNTU_CODENAME=jammy\nVERSION="22.04"\n')
    assert release is not None and release.codename == "jammy" and release.family == "ubuntu"


def test_derivative_of_ubuntu_takes_ubuntu_family() -> None:
    release = parse_os_release('ID=pop\nID_LIKE="ubuntu debian"\nVERSION_CODENAME=jammy\n')
    assert release is not None and release.family == "ubuntu"


def test_missing_os_release_is_a_problem() -> None:
    f = facts(os_release="")
    assert f.os is None
    ctx = context(None, {"pi1": host_probe(os_release="")})
    [problem] = check_os(ctx, "pi1", f)
    assert problem.message == "cannot read /etc/os-release" and not problem.warning


def test_debian_without_apt_is_a_problem() -> None:
    ctx = context(None, {"pi1": host_probe(apt="")})
    [problem] = check_os(ctx, "pi1", ctx.facts["pi1"])
    assert problem.message == "apt-get not found" and not problem.warning


# -- architecture --------------------------------------------------------------------------

@pytest.mark.parametrize("machine,arch", [
    ("aarch64", "arm64"), ("arm64", "arm64"), ("armv7l", "armhf"), ("armv6l", "armhf"),
    ("armv8l", "armhf"), ("x86_64", "amd64"), ("amd64", "amd64"), (" aarch64 ", "arm64"),
])
def test_supported_machine_maps_to_a_debian_arch_and_passes(machine: str, arch: str) -> None:
    assert parse_arch(machine) == arch
    f = facts(arch=machine)
    assert f.arch == arch
    assert check_arch(context(None, {"pi1": host_probe(arch=machine)}), "pi1", f) == []


@pytest.mark.parametrize("machine", ["riscv64", "i686", "i386", "ppc64le", "s390x", "mips", "armv5tel",
                                     "loongarch64", ""])
def test_other_machine_is_refused(machine: str) -> None:
    f = facts(arch=machine)
    assert f.arch == machine
    [problem] = check_arch(context(None, {"pi1": host_probe(arch=machine)}), "pi1", f)
    assert problem.message == f"architecture {machine!r} is not supported" and not problem.warning


def test_riscv_host_fails_the_check_naming_it() -> None:
    code, _, err, _ = run_check({"pi1": host_probe(arch="riscv64"), "pi2": host_probe("pi2")})
    assert code == 1
    assert failure_lines(err, "pi1") == [
        "pi1: architecture 'riscv64' is not supported (fix: use an aarch64, armv7l or x86_64 host)"]
    assert failure_lines(err, "pi2") == []


# -- kernel --------------------------------------------------------------------------------

@pytest.mark.parametrize("release,version,ok", [
    ("3.9.0", (3, 9), False),
    ("3.9.11-v7+", (3, 9), False),
    ("3.10.0", (3, 10), True),
    ("3.10", (3, 10), True),
    ("3.10.0-1160.el7.x86_64", (3, 10), True),
    ("2.6.32-5-amd64", (2, 6), False),
    ("3.2.0-4-rpi", (3, 2), False),
    ("4.19.97-v7l+", (4, 19), True),
    ("6.1.0-rpi7-rpi-v8", (6, 1), True),
    ("10.0.1", (10, 0), True),
    ("", (0, 0), False),
    ("unknown", (0, 0), False),
])
def test_kernel_must_be_at_least_3_10(release: str, version: tuple[int, int], ok: bool) -> None:
    assert parse_kernel_version(release) == version
    f = facts(kernel=release)
    problems = check_kernel(context(None, {"pi1": host_probe(kernel=release)}), "pi1", f)
    if ok:
        assert problems == []
    else:
        [problem] = problems
        assert problem.message == f"kernel {release or '?'} is older than 3.10" and not problem.warning


# -- free space on /var --------------------------------------------------------------------

GB = 1024 * 1024  # in kB, as `df -Pk` prints


@pytest.mark.parametrize("free_kb,ok", [
    (3 * GB, True), (3 * GB - 1, False), (3 * GB + 1, True), (0, False), (20 * GB, True),
    (512 * 1024, False),
])
def test_var_needs_3_gb_free(free_kb: int, ok: bool) -> None:
    ctx = context(None, {"pi1": host_probe(var_free=str(free_kb))})
    f = ctx.facts["pi1"]
    assert f.var_free_kb == free_kb
    problems = check_disk(ctx, "pi1", f)
    if ok:
        assert problems == []
    else:
        [problem] = problems
        assert problem.message.startswith("only ") and "Docker needs 3 GB" in problem.message
        assert not problem.warning


def test_unreadable_free_space_is_not_a_problem() -> None:
    ctx = context(None, {"pi1": host_probe(var_free="")})
    assert ctx.facts["pi1"].var_free_kb is None
    assert check_disk(ctx, "pi1", ctx.facts["pi1"]) == []


def test_low_space_is_fine_where_docker_already_runs() -> None:
    ctx = context(None, {"pi1": with_sections(probe("pi1", docker="20.10.24"), var_free="1000")})
    assert ctx.facts["pi1"].docker_ready
    assert check_disk(ctx, "pi1", ctx.facts["pi1"]) == []


def test_the_free_space_threshold_is_an_option() -> None:
    ctx = context(None, {"pi1": host_probe(var_free=str(4 * GB))}, min_var_free_gb=5.0)
    [problem] = check_disk(ctx, "pi1", ctx.facts["pi1"])
    assert problem.message == "only 4 GB free on /var, Docker needs 5 GB"


def test_low_space_fails_the_check() -> None:
    code, _, err, _ = run_check({"pi1": host_probe(var_free=str(GB))})
    assert code == 1
    assert failure_lines(err, "pi1") == [
        "pi1: only 1 GB free on /var, Docker needs 3 GB (fix: free space, or use a larger SD card)"]


# -- clock ---------------------------------------------------------------------------------

@pytest.mark.parametrize("offset,ok", [
    (0.0, True), (29.9, True), (30.0, True), (-30.0, True), (30.01, False), (-30.5, False),
    (3600.0, False), (-86400.0, False),
])
def test_clock_may_be_at_most_30_s_off(offset: float, ok: bool) -> None:
    ctx = context(None, {"pi1": host_probe()})
    ctx.clock_offsets["pi1"] = offset
    problems = check_clock(ctx, "pi1", ctx.facts["pi1"])
    if ok:
        assert problems == []
    else:
        [problem] = problems
        assert problem.message.startswith(f"clock is {offset:+.0f} s off") and not problem.warning
        assert "timedatectl set-ntp true" in problem.fix


def test_unknown_clock_offset_is_not_a_problem() -> None:
    ctx = context(None, {"pi1": host_probe()})
    assert check_clock(ctx, "pi1", ctx.facts["pi1"]) == []


def test_the_skew_limit_is_an_option() -> None:
    ctx = context(None, {"pi1": host_probe()}, max_clock_skew=5.0)
    ctx.clock_offsets["pi1"] = 6.0
    assert len(check_clock(ctx, "pi1", ctx.facts["pi1"])) == 1


def test_runner_measures_the_skew_from_the_probe_clock() -> None:
    now = time.time()
    probes = {"pi1": probe("pi1", clock=now + 600), "pi2": probe("pi2", clock=now - 10),
              "pi3": host_probe("pi3", clock="")}
    code, _, err, _ = run_check(probes)
    assert code == 1
    [line] = failure_lines(err, "pi1")
    assert line.startswith("pi1: clock is +") and " s off this machine's" in line
    offset = int(line.split("+")[1].split(" ")[0])
    assert 590 <= offset <= 600
    assert failure_lines(err, "pi2") == [] and failure_lines(err, "pi3") == []


# -- hostnames -----------------------------------------------------------------------------

def test_all_hosts_named_raspberrypi_fail_with_the_hint() -> None:
    probes = {f"pi{i}": probe("raspberrypi") for i in (1, 2, 3)}
    ctx = context(None, probes)
    [problem] = check_hostname(ctx, "pi2", ctx.facts["pi2"])
    assert problem.message == ("hostname 'raspberrypi' is also used by pi1, pi3 "
                               "(every Pi is born 'raspberrypi')")
    assert problem.fix == "give each host its own name: sudo hostnamectl set-hostname pi2"
    assert not problem.warning
    code, _, err, _ = run_check(probes)
    assert code == 1
    for host in ("pi1", "pi2", "pi3"):
        [line] = failure_lines(err, host)
        assert "hostname 'raspberrypi' is also used by" in line and "every Pi is born" in line
    assert "failed on 3 of 3 hosts" in err


def test_only_the_hosts_sharing_a_name_fail_and_without_the_pi_hint() -> None:
    probes = {"a": probe("node"), "b": probe("node"), "c": probe("c")}
    ctx = context(None, probes)
    [problem] = check_hostname(ctx, "a", ctx.facts["a"])
    assert problem.message == "hostname 'node' is also used by b"
    assert check_hostname(ctx, "c", ctx.facts["c"]) == []
    code, _, err, _ = run_check(probes)
    assert code == 1
    assert len(failure_lines(err, "a")) == 1 and len(failure_lines(err, "b")) == 1
    assert failure_lines(err, "c") == []


def test_unique_hostnames_pass() -> None:
    ctx = context(None, {f"pi{i}": probe(f"pi{i}") for i in (1, 2, 3)})
    assert all(check_hostname(ctx, h, ctx.facts[h]) == [] for h in ctx.facts)


# -- memory cgroup -------------------------------------------------------------------------

PI_CGROUPS_OFF = ("#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpuset\t0\t67\t1\ncpu\t0\t67\t1\n"
                  "cpuacct\t0\t67\t1\nblkio\t0\t67\t1\nmemory\t0\t67\t0\ndevices\t0\t67\t1\n"
                  "freezer\t0\t67\t1\nnet_cls\t0\t67\t1\nperf_event\t0\t67\t1\npids\t0\t67\t1")
PI_MODEL = "Raspberry Pi 4 Model B Rev 1.4"


def test_memory_cgroup_off_on_a_pi_is_a_warning_with_the_cmdline_fix() -> None:
    text = host_probe(model=PI_MODEL, cgroups=PI_CGROUPS_OFF, cgroup2="cpuset cpu io pids")
    ctx = context(None, {"pi1": text})
    f = ctx.facts["pi1"]
    assert f.is_raspberry_pi and not f.memory_cgroup
    [problem] = check_memory_cgroup(ctx, "pi1", f)
    assert problem.warning
    assert "memory cgroup is disabled" in problem.message
    assert "'cgroup_enable=memory'" in problem.fix and "cmdline.txt" in problem.fix
    code, out, err, _ = run_check({"pi1": text})
    assert code == 0
    assert "pi1: warning: memory cgroup is disabled" in out
    assert failure_lines(err, "pi1") == []


def test_memory_cgroup_off_elsewhere_is_not_reported() -> None:
    ctx = context(None, {"pi1": host_probe(model="", cgroups=PI_CGROUPS_OFF, cgroup2="")})
    assert check_memory_cgroup(ctx, "pi1", ctx.facts["pi1"]) == []


@pytest.mark.parametrize("cgroups,controllers,enabled", [
    (PI_CGROUPS_OFF, "", False),
    (PI_CGROUPS_OFF, "cpuset cpu io memory pids", True),  # cgroup v2 decides
    (PI_CGROUPS_OFF.replace("memory\t0\t67\t0", "memory\t0\t67\t1"), "", True),
    ("", "cpuset cpu io pids", False),
    ("", "", False),
    ("memory\t0\t67", "", False),  # truncated row
    ("memoryx\t0\t1\t1", "memory_recursiveprot", False),
])
def test_memory_cgroup_parsing(cgroups: str, controllers: str, enabled: bool) -> None:
    assert parse_memory_cgroup(cgroups, controllers) is enabled
    ctx = context(None, {"pi1": host_probe(model=PI_MODEL, cgroups=cgroups, cgroup2=controllers)})
    assert ctx.facts["pi1"].memory_cgroup is enabled
    assert len(check_memory_cgroup(ctx, "pi1", ctx.facts["pi1"])) == (0 if enabled else 1)


# -- kernel networking features ------------------------------------------------------------

def network_problems(vxlan: str, ipvs: str) -> list[Problem]:
    ctx = context(None, {"pi1": host_probe(vxlan=vxlan, ipvs=ipvs)})
    return check_network_kernel(ctx, "pi1", ctx.facts["pi1"])


def test_vxlan_missing_is_reported_as_breaking_overlay_networks() -> None:
    [problem] = network_problems("no", "yes")
    assert problem.message.startswith("kernel VXLAN support missing")
    assert "overlay networks" in problem.message
    # README: "VXLAN for overlay networks and IPVS for the routing mesh (warnings that say what breaks)"
    assert problem.warning


def test_vxlan_unknown_is_reported_as_not_confirmed() -> None:
    for value in ("unknown", ""):
        [problem] = network_problems(value, "yes")
        assert problem.message.startswith("kernel VXLAN support not confirmed")


def test_ipvs_missing_is_a_warning_not_a_failure() -> None:
    [problem] = network_problems("yes", "no")
    assert problem.warning
    assert problem.message.startswith("kernel IPVS (ip_vs) missing") and "routing mesh" in problem.message
    code, out, err, _ = run_check({"pi1": host_probe(vxlan="yes", ipvs="no")})
    assert code == 0
    assert "pi1: warning: kernel IPVS (ip_vs) missing" in out
    assert failure_lines(err, "pi1") == []


def test_full_kernel_has_no_network_problems() -> None:
    assert network_problems("yes", "yes") == []
    assert [p.message.split(":")[0] for p in network_problems("no", "no")] == [
        "kernel VXLAN support missing", "kernel IPVS (ip_vs) missing"]


# -- sudo and python -----------------------------------------------------------------------

def test_sudo_missing_fails_the_host() -> None:
    text = probe("pi1", sudo=False)
    ctx = context(None, {"pi1": text})
    [problem] = check_sudo(ctx, "pi1", ctx.facts["pi1"])
    assert problem.message == "sudo needs a password for user 'pi'" and not problem.warning
    assert "--ask-become-pass" in problem.fix
    code, _, err, _ = run_check({"pi1": text, "pi2": probe("pi2")})
    assert code == 1
    [line] = failure_lines(err, "pi1")
    assert line.startswith("pi1: sudo needs a password for user 'pi' (fix: ")
    assert failure_lines(err, "pi2") == []


def test_sudo_refusing_the_become_password_says_so() -> None:
    ctx = context(None, {"pi1": probe("pi1", sudo=False)}, become_password=Secret("pw"))
    [problem] = check_sudo(ctx, "pi1", ctx.facts["pi1"])
    assert problem.message == "sudo refused the password for user 'pi'"


def test_working_sudo_passes() -> None:
    ctx = context(None, {"pi1": probe("pi1")})
    assert ctx.facts["pi1"].sudo
    assert check_sudo(ctx, "pi1", ctx.facts["pi1"]) == []


def test_python3_missing_fails_the_host() -> None:
    ctx = context(None, {"pi1": host_probe(python3="")})
    [problem] = check_python(ctx, "pi1", ctx.facts["pi1"])
    assert not problem.warning and "python3-minimal" in problem.fix


# -- the whole prepare phase and the probe format ------------------------------------------

def test_a_healthy_pi_has_no_problems_at_all() -> None:
    text = host_probe(model=PI_MODEL, ipvs="yes")
    assert PreparePhase().problems(context(None, {"pi1": text}), "pi1") == []


def test_every_section_parse_facts_reads_is_printed_by_the_probe_script() -> None:
    printed = set(SECTION.findall("\n".join(
        f"=== {line.split()[1].rstrip(';')} ===" for line in PROBE_SCRIPT.splitlines()
        if line.startswith("sec ") and len(line.split()) > 1)))
    printed |= set(re.findall(r'sec\("([a-z0-9-]+)"\)', PROBE_SCRIPT))  # the engine API part
    read = set(split_sections(probe(clock=0.0)))  # clock given: no test-only clock-now section
    assert read <= printed
    assert "end" in printed


def test_many_problems_on_one_host_make_one_line() -> None:
    text = with_sections(probe("pi1", sudo=False), arch="riscv64", kernel="3.2.0", python3="")
    code, _, err, _ = run_check({"pi1": text})
    assert code == 1
    [line] = failure_lines(err, "pi1")
    assert line.startswith("pi1: sudo needs a password")
    assert "architecture 'riscv64'" in line and "kernel 3.2.0" in line and "python3 is missing" in line


# -- the probe script itself, run locally for the sections that only read files ------------

def run_probe_sections(names: list[str], files: dict[str, Path]) -> str:
    """Run PROBE_SCRIPT's `sec NAME; ...` lines for `names` with `sh`, reading `files` instead
    of the host's (/proc/..., /etc/...); returns the output exactly as the host prints it."""
    import subprocess

    lines = [line for line in PROBE_SCRIPT.splitlines()
             if line.startswith("sec() ") or any(line.startswith(f"sec {n};") for n in names)]
    assert len(lines) == len(names) + 1, "a section is missing from PROBE_SCRIPT"
    script = "\n".join([*lines, "sec end"])
    for real, fake in files.items():
        assert real in script
        script = script.replace(real, str(fake))
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True,
                          timeout=10).stdout


@pytest.mark.parametrize("name", ["raspbian-bookworm", "ubuntu-24.04", "fedora-40"])
def test_probe_os_release_section_round_trips(name: str) -> None:
    out = run_probe_sections(["os-release", "cgroups"], {
        "/etc/os-release": OS_RELEASE / name, "/proc/cgroups": Path("/nonexistent")})
    release = parse_facts(out).os
    assert release == parse_os_release((OS_RELEASE / name).read_text())
    assert release is not None and release.id == (ACCEPTED.get(name) or REJECTED[name])[0]


def test_probe_model_section_on_a_real_pi(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.write_bytes(b"Raspberry Pi 4 Model B Rev 1.4\x00")  # as the device tree has it
    cgroups = tmp_path / "cgroups"
    cgroups.write_text(PI_CGROUPS_OFF.replace("memory\t0\t67\t0", "memory\t0\t67\t1") + "\n")
    out = run_probe_sections(["model", "cgroups"], {
        "/proc/device-tree/model": model, "/proc/cgroups": cgroups})
    f = parse_facts(out)
    assert f.model == "Raspberry Pi 4 Model B Rev 1.4"
    assert f.memory_cgroup  # enabled in the table: no spurious warning
