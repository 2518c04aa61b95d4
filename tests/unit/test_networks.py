"""Pi networks: `advertise`/`data_path` per host and `default_addr_pool` at init and join,
their prepare checks, and the warnings when Docker's pools collide with recorded LAN routes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cloudmesh.swarm.errors import InventoryError
from cloudmesh.swarm.facts import Route, parse_facts, parse_ip_addr, parse_routes
from cloudmesh.swarm.inventory import Inventory, load
from cloudmesh.swarm.phases.configure import ConfigurePhase, join_step
from cloudmesh.swarm.phases.network import check_advertise, check_pool_collisions
from cloudmesh.swarm.plan import Secret

from .harness import context
from .probes import probe, swarm_info

DATA = Path(__file__).parent / "data"


def recorded(kind: str, case: str) -> str:
    return (DATA / kind / case).read_text()


def pi(case: str = "pi-eth0-wlan0", **kwargs: object) -> str:
    return probe(extra={"ip-addr": recorded("ip-addr", case),
                        "ip-route": recorded("ip-route", case)}, **kwargs)  # type: ignore[arg-type]


def cluster(pi1: dict[str, object] | None = None, **top: object) -> Inventory:
    hosts = [{"name": "pi1", "address": "192.168.1.23", **(pi1 or {})},
             {"name": "pi2", "address": "192.168.1.30"}]
    return Inventory.model_validate({"name": "t", "hosts": hosts, **top})


def test_recorded_routes_of_a_lab_host_in_a_swarm() -> None:
    assert parse_routes(recorded("ip-route", "lab-bookworm-swarm")) == (
        Route("default", "eth0"), Route("10.77.155.0/24", "eth0"),
        Route("172.17.0.0/16", "docker0"), Route("172.18.0.0/16", "docker_gwbridge"))
    assert parse_ip_addr(recorded("ip-addr", "lab-bookworm-swarm"))[2] == ("eth0", "10.77.155.11/24")


def test_routes_of_a_pi_with_two_links_bare_addresses_and_route_types() -> None:
    routes = parse_routes(recorded("ip-route", "pi-eth0-wlan0"))
    assert Route("172.17.32.0/20", "eth0") in routes
    assert Route("10.9.9.9/32", "") in routes  # `unreachable 10.9.9.9`
    facts = parse_facts(pi())
    assert facts.interface_addresses("wlan0") == ["192.168.1.24", "192.168.1.99"]


def test_init_passes_advertise_data_path_and_pools() -> None:
    inv = cluster({"advertise": "eth0", "data_path": "192.168.1.23"},
                  default_addr_pool=["10.200.0.0/16", "10.201.0.0/16"],
                  default_addr_pool_mask_length=26)
    ctx = context(inv, {"pi1": pi(), "pi2": probe(hostname="pi2")})
    (step,) = ConfigurePhase().plan(ctx, "pi1", "init").steps
    assert step.command == (
        "docker swarm init --advertise-addr eth0 --data-path-addr 192.168.1.23 "
        "--default-addr-pool 10.200.0.0/16 --default-addr-pool 10.201.0.0/16 "
        "--default-addr-pool-mask-length 26")


def test_init_without_network_settings_advertises_the_ssh_address() -> None:
    ctx = context(cluster(), {"pi1": pi(), "pi2": probe(hostname="pi2")})
    (step,) = ConfigurePhase().plan(ctx, "pi1", "init").steps
    assert step.command == "docker swarm init --advertise-addr 192.168.1.23"


def test_join_advertises_the_interface_and_reaches_the_manager_where_it_advertises() -> None:
    inv = Inventory.model_validate({"name": "t", "hosts": [
        {"name": "pi1", "address": "192.168.1.23", "advertise": "eth0"},
        {"name": "pi2", "address": "192.168.1.30", "advertise": "wlan0", "data_path": "wlan0"}]})
    manager = pi("lab-bookworm-swarm", swarm=swarm_info("n1", True))  # eth0 is 10.77.155.11
    ctx = context(inv, {"pi1": manager, "pi2": pi()})
    ctx.secrets["worker"] = Secret("SWMTKN-1-x")
    body = json.loads(join_step(ctx, "pi2", "worker").stdin_text())
    assert body["AdvertiseAddr"] == "wlan0" and body["DataPathAddr"] == "wlan0"
    assert body["RemoteAddrs"] == ["10.77.155.11:2377"]


@pytest.mark.parametrize("settings,expected", [
    ({"advertise": "eth0"}, None),
    ({"advertise": "192.168.1.24", "data_path": "eth0"}, None),
    ({"advertise": "eth1"}, ("advertise: no interface 'eth1' with an IPv4 address "
                            "(interfaces: docker0, eth0, lo, tun0, wlan0)")),
    ({"advertise": "wlan0"}, ("advertise: interface wlan0 has 2 IPv4 addresses "
                             "(192.168.1.24, 192.168.1.99); docker needs one")),
    ({"data_path": "192.168.1.77"}, "data_path: 192.168.1.77 is not an address of this host"),
])
def test_advertise_must_name_an_interface_or_address_the_host_has(
        settings: dict[str, object], expected: str | None) -> None:
    ctx = context(cluster(settings), {"pi1": pi(), "pi2": probe(hostname="pi2")})
    problems = check_advertise(ctx, "pi1", ctx.facts["pi1"])
    if expected is None:
        assert problems == []
    else:
        (problem,) = problems
        assert problem.message.startswith(expected) and not problem.warning


def test_lan_routes_in_dockers_pools_are_warned_once_each_and_docker_bridges_are_not() -> None:
    ctx = context(cluster(), {"pi1": pi(), "pi2": probe(hostname="pi2")})
    problems = check_pool_collisions(ctx, "pi1", ctx.facts["pi1"])
    assert all(problem.warning for problem in problems)
    assert [p.message.split(":")[0] for p in problems] == [
        "LAN route 10.8.0.0/24 (tun0) overlaps the swarm's overlay pool 10.0.0.0/8",
        "LAN route 10.9.9.9/32 overlaps the swarm's overlay pool 10.0.0.0/8",
        "LAN route 172.17.32.0/20 (eth0) overlaps Docker's docker0 default 172.17.0.0/16"]
    assert problems[0].fix == "set default_addr_pool in the inventory, e.g. 10.200.0.0/16"


def test_a_chosen_pool_clear_of_the_lan_silences_the_overlay_warning() -> None:
    ctx = context(cluster(default_addr_pool="10.200.0.0/16"), {"pi1": pi(), "pi2": probe()})
    problems = check_pool_collisions(ctx, "pi1", ctx.facts["pi1"])
    assert [p for p in problems if "overlay" in p.message] == []


def test_a_chosen_pool_that_hits_the_lan_is_warned_too() -> None:
    ctx = context(cluster(default_addr_pool="10.8.0.0/16"), {"pi1": pi(), "pi2": probe()})
    problems = check_pool_collisions(ctx, "pi1", ctx.facts["pi1"])
    assert "LAN route 10.8.0.0/24 (tun0) overlaps the swarm's overlay pool 10.8.0.0/16" in (
        problems[0].message)


def test_once_the_swarm_exists_its_own_pool_counts_and_the_inventory_is_told() -> None:
    state = swarm_info("n1", True)
    state["Cluster"]["DefaultAddrPool"] = ["10.8.0.0/16"]
    ctx = context(cluster(default_addr_pool="10.200.0.0/16"),
                  {"pi1": pi(swarm=state), "pi2": probe(hostname="pi2")})
    problems = check_pool_collisions(ctx, "pi1", ctx.facts["pi1"])
    assert "overlay pool 10.8.0.0/16" in problems[0].message
    assert problems[0].fix.startswith("the pool was fixed when the swarm was formed")
    assert problems[-1].message.startswith(
        "default_addr_pool 10.200.0.0/16 is not the swarm's (10.8.0.0/16)")


@pytest.mark.parametrize("line,expected", [
    ("    advertise: 'eth 0'", ("hosts.0.advertise: 'eth 0' is neither an IP address nor an "
                               "interface name")),
    ("    data_path: wlan0;reboot", "hosts.0.data_path: 'wlan0;reboot' is neither"),
    ("default_addr_pool: 10.20.0.1/16", ("default_addr_pool: '10.20.0.1/16' is not an IPv4 "
                                        "network such as 10.20.0.0/16")),
    ("default_addr_pool: [10.20.0.0/16, 10.20.3.0/24]", "10.20.3.0/24 overlaps 10.20.0.0/16"),
    ("default_addr_pool: 10.20.0.0/30", "too small for overlay networks"),
    ("default_addr_pool_mask_length: 24", "needs default_addr_pool"),
    ("default_addr_pool: 10.20.0.0/16\ndefault_addr_pool_mask_length: 12",
     "/12 subnets do not fit in 10.20.0.0/16"),
])
def test_bad_network_settings_name_file_line_and_field(tmp_path: Path, line: str, expected: str) -> None:
    path = tmp_path / "inv.yaml"
    host_line = line.startswith("    ")
    path.write_text("name: t\n" + ("" if host_line else line + "\n")
                    + "hosts:\n  - name: pi1\n    address: 10.1.1.1\n"
                    + (line + "\n" if host_line else ""))
    with pytest.raises(InventoryError) as error:
        load(path)
    assert expected in str(error.value) and str(path) in str(error.value)


def test_good_network_settings_load() -> None:
    inv = cluster({"advertise": "wlan0", "data_path": "fe80::1"}, default_addr_pool="10.20.0.0/16",
                  default_addr_pool_mask_length=24)
    assert inv.default_addr_pool == ["10.20.0.0/16"]
    assert inv.hosts[0].advertise == "wlan0" and inv.hosts[0].data_path == "fe80::1"
