"""Pi health in `status` (issue 10, section 4) and the prepare checks that read the same probe,
from recorded outputs of real boards (data/facts/pi/, sources in data/README.md)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from cloudmesh.swarm.actions import status_data
from cloudmesh.swarm.facts import parse_facts, parse_throttled, split_sections
from cloudmesh.swarm.phases.prepare import (
    PreparePhase,
    check_arch,
    check_manager_memory,
    check_memory_cgroup,
)
from cloudmesh.swarm.report import Reporter

from .harness import context, inventory
from .probes import node_row, probe, swarm_info
from .test_facts import run_probe_sections

DATA = Path(__file__).parent / "data" / "facts" / "pi"
# case: model, arch, machine, temperature, get_throttled value, now, since boot, root, memory MB
BOARDS: dict[str, tuple[Any, ...]] = {
    "pi3b-bullseye-armhf": ("Raspberry Pi 3 Model B Rev 1.2", "armhf", "armv7l", 53.692, "0x50000", [],
                            ["under-voltage", "throttled"], "SD card", 923),
    "pi4b-bookworm-armhf-on-aarch64": ("Raspberry Pi 4 Model B Rev 1.4", "armhf", "aarch64", 48.686, "0x0",
                                       [], [], "USB", 3791),
    "pi5-bookworm-arm64-nvme": ("Raspberry Pi 5 Model B Rev 1.0", "arm64", "aarch64", 61.25, "0x0", [], [],
                                "NVMe", 8062),
    "zero2w-trixie-armhf": ("Raspberry Pi Zero 2 W Rev 1.0", "armhf", "armv7l", 44.008, "0x50005",
                            ["under-voltage", "throttled"], ["under-voltage", "throttled"], "SD card", 428),
}


def board(name: str, hostname: str = "pi1", **args: Any) -> str:
    return probe(hostname, **args, extra=split_sections((DATA / f"{name}.txt").read_text()))


def fake_runner(probes: dict[str, str]) -> Any:
    ctx = context(inventory(len(probes)), probes)
    return SimpleNamespace(ctx=ctx, transports=dict.fromkeys(probes),
                           results={name: SimpleNamespace(error=None) for name in probes})


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_status_shows_the_boards_health(name: str) -> None:
    model, arch, machine, temp, value, now, before, root, memory = BOARDS[name]
    [node] = status_data(fake_runner({"pi1": board(name)}))["nodes"]
    assert node["model"] == model and node["arch"] == arch and node["machine"] == machine
    assert node["temperature_c"] == pytest.approx(temp)
    assert node["throttled"] == {"value": value, "now": now, "since_boot": before}
    assert node["root_device"] == root and node["memory_mb"] == memory


def test_a_lab_host_shows_none_of_it_and_no_error() -> None:
    [node] = status_data(fake_runner({"pi1": board("lab-bookworm-amd64")}))["nodes"]
    assert [node[k] for k in ("model", "temperature_c", "throttled", "root_device")] == [None] * 4
    assert node["arch"] == "amd64" and node["memory_mb"] == 7945 and node["error"] is None


def status_text(probes: dict[str, str], as_json: bool = False) -> str:
    out = io.StringIO()
    Reporter(file=out, err=io.StringIO(), live=False).status(status_data(fake_runner(probes)), as_json)
    return out.getvalue()


def test_status_table_has_board_columns_only_where_a_board_is() -> None:
    swarm = {"swarm": swarm_info("n1", True), "nodes": [node_row("n1", "pi1", "Leader", me=True),
                                                       node_row("n2", "pi2")]}
    text = status_text({"pi1": board("zero2w-trixie-armhf", docker="26.1.5", **swarm),
                        "pi2": board("pi4b-bookworm-armhf-on-aarch64", "pi2", docker="26.1.5",
                                     swarm=swarm_info("n2", False))})
    assert "Pi Zero 2 W r1.0" in text and "44°C" in text and "SD card" in text and "0.4 GB" in text
    assert "NOW undervolt+throttled" in text and "armhf/aarch64" in text and "Pi 4 B r1.4" in text
    assert "pi1: warning: under-voltage, throttled now (get_throttled 0x50005)" in text
    assert "model" not in status_text({"pi1": board("lab-bookworm-amd64")}).splitlines()[2]
    data = json.loads(status_text({"pi1": board("pi3b-bullseye-armhf")}, as_json=True))
    assert data["nodes"][0]["throttled"]["since_boot"] == ["under-voltage", "throttled"]
    assert "was undervolt+throttled" in status_text({"pi1": board("pi3b-bullseye-armhf")})


@pytest.mark.parametrize("text,bits", [
    ("throttled=0x50005", 0x50005), ("throttled=0x0", 0), ("50005", 0x50005), ("0", 0),
    ("throttled=0x80008", 0x80008), ("", None), ("error=1 error_msg=\"Command not registered\"", None),
])
def test_get_throttled_from_vcgencmd_or_sysfs(text: str, bits: int | None) -> None:
    assert parse_throttled(text) == bits


def test_probe_health_sections_read_the_boards_files(tmp_path: Path) -> None:
    files = {"/proc/device-tree/model": b"Raspberry Pi 5 Model B Rev 1.0\x00",
             "/sys/class/thermal/thermal_zone0/temp": b"61250\n",
             "/sys/devices/platform/soc/soc:firmware/get_throttled": b"50000\n"}
    fakes = {}
    for index, (real, content) in enumerate(files.items()):
        fakes[real] = tmp_path / f"f{index}"
        fakes[real].write_bytes(content)
    out = run_probe_sections(["model", "soc-temp", "throttled"], fakes)
    facts = parse_facts(out)
    assert facts.model == "Raspberry Pi 5 Model B Rev 1.0"
    assert facts.health.temperature_c == 61.25 and facts.health.throttled == 0x50000
    bare = run_probe_sections(["soc-temp", "throttled"], {
        "/proc/device-tree/model": tmp_path / "absent",
        "/sys/class/thermal/thermal_zone0/temp": fakes["/sys/class/thermal/thermal_zone0/temp"]})
    assert parse_facts(bare).health.temperature_c is None  # no device tree: no board readings


# -- prepare checks from the same probe ------------------------------------------------------

def test_manager_below_1_gb_is_warned_a_worker_is_not() -> None:
    probes = {"pi1": board("zero2w-trixie-armhf"), "pi2": board("pi3b-bullseye-armhf", "pi2"),
              "pi3": board("zero2w-trixie-armhf", "pi3")}
    ctx = context(inventory(3), probes)
    ctx.managers = ["pi1", "pi2"]
    [problem] = check_manager_memory(ctx, "pi1", ctx.facts["pi1"])
    assert problem.warning and "manager with 428 MB RAM (< 1 GB)" in problem.message
    assert check_manager_memory(ctx, "pi2", ctx.facts["pi2"]) == []  # a "1 GB" Pi 3: 923 MB
    assert check_manager_memory(ctx, "pi3", ctx.facts["pi3"]) == []  # a worker


def test_32_bit_userland_on_a_64_bit_kernel_is_named() -> None:
    ctx = context(inventory(1), {"pi1": board("pi4b-bookworm-armhf-on-aarch64")})
    [problem] = check_arch(ctx, "pi1", ctx.facts["pi1"])
    assert problem.warning and problem.message.startswith("armhf packages on a aarch64 kernel")
    ctx = context(inventory(1), {"pi1": board("pi5-bookworm-arm64-nvme")})
    assert check_arch(ctx, "pi1", ctx.facts["pi1"]) == []


CGROUPS_OFF = "#subsys_name\thierarchy\tnum_cgroups\tenabled\nmemory\t0\t67\t0"
CMDLINE = "console=serial0,115200 console=tty1 root=PARTUUID=3e247b30-02 rootfstype=ext4 fsck.repair=yes rootwait"


@pytest.mark.parametrize("path,written,booted,says", [
    ("/boot/firmware/cmdline.txt", False, False, "append 'cgroup_enable=memory' to the one line of /boot/firmware/cmdline.txt"),
    ("/boot/cmdline.txt", False, False, "append 'cgroup_enable=memory' to the one line of /boot/cmdline.txt"),
    ("/boot/firmware/cmdline.txt", True, False, "is in /boot/firmware/cmdline.txt but the running kernel did not boot with it"),
    ("/boot/firmware/cmdline.txt", True, True, "although the kernel booted with cgroup_enable=memory"),
])
def test_memory_cgroup_hint_follows_cmdline_txt_and_proc_cmdline(path: str, written: bool, booted: bool,
                                                                 says: str) -> None:
    line = CMDLINE + (" cgroup_enable=memory" if written else "")
    text = probe(extra={
        **split_sections((DATA / "pi4b-bookworm-armhf-on-aarch64.txt").read_text()),
        "cgroups": CGROUPS_OFF, "boot-cmdline": f"{path}\n{line}",
        "proc-cmdline": "coherent_pool=1M 8250.nr_uarts=0 " + (line if booted else CMDLINE)})
    ctx = context(inventory(1), {"pi1": text})
    [problem] = check_memory_cgroup(ctx, "pi1", ctx.facts["pi1"])
    assert problem.warning and says in str(problem)


def test_a_healthy_pi5_passes_every_check() -> None:
    ctx = context(inventory(1), {"pi1": board("pi5-bookworm-arm64-nvme", ipvs="yes")})
    assert PreparePhase().problems(ctx, "pi1") == []
