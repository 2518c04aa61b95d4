"""Fuzzing the doors input comes in by: the inventory file, the host list, --test-image, and
what hosts say (node names, stderr, overlay addresses).

Every user input either gives a valid Inventory (or value) or raises InputError (a SwarmError)
whose text is one non-empty line; any other exception escaping is a bug. Whatever a host
prints reaches the screen as plain text (no markup, no terminal escapes, tokens masked) and
reaches another host's shell only as a checked IP address. About 2,400 inputs in all."""

from __future__ import annotations

import ipaddress
import itertools
import os
import string
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudmesh.swarm.errors import InputError, SwarmError
from cloudmesh.swarm.inventory import Inventory, from_hostlist, load


def fuzz(examples: int) -> settings:
    """`examples` inputs (times $FUZZ_SCALE for a longer hunt), no deadline."""
    scale = float(os.environ.get("FUZZ_SCALE", "1"))
    return settings(max_examples=max(1, int(examples * scale)), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

_counter = itertools.count()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def assert_valid(inv: Inventory) -> None:
    """What a model that came out of the loader always is."""
    assert isinstance(inv, Inventory)
    assert inv.hosts
    names = [h.name for h in inv.hosts]
    addresses = [h.address for h in inv.hosts]
    assert len(set(names)) == len(names) and len(set(addresses)) == len(addresses)
    for host in inv.hosts:
        assert host.name and "\n" not in host.name and " " not in host.name
        assert host.address and not host.address.startswith("-")
        assert not any(c in host.address for c in " ;'\"$`\\\n")
        assert 1 <= inv.port_of(host) <= 65535
        assert host.role in (None, "manager", "worker")
        assert all("\n" not in v for v in host.labels.values())


def outcome(call: Callable[[], Inventory], text: str | None = None) -> str:
    """Run the loader: 'ok' with a valid model, 'error' with a one-line InputError."""
    try:
        inv = call()
    except InputError as error:
        assert isinstance(error, SwarmError)
        message = str(error)
        assert message.strip(), "empty error message"
        assert message.splitlines() == [message], f"not one line: {message!r}"
        return "error"
    assert_valid(inv)
    return "ok"


def load_text(workdir: Path, text: str) -> str:
    path = workdir / f"inv{next(_counter)}.yaml"
    path.write_text(text, encoding="utf-8", newline="")
    try:
        return outcome(lambda: load(path), text)
    finally:
        path.unlink()


# -- inventory: random text ----------------------------------------------------------------

@fuzz(300)
@given(text=st.text(max_size=300))
def test_random_text_inventory(workdir: Path, text: str) -> None:
    load_text(workdir, text)


TOKENS = [
    "hosts", "name", "address", "role", "ssh", "user", "port", "key", "labels", "known_hosts",
    "extra", ":", ": ", " ", "  ", "\n", "\n  ", "\n    ", "- ", "-", "[", "]", "{", "}", ",", "manager",
    "worker", "10.0.0.1", "10.0.0.2", "::1", "pi1", "pi2", "pi.local", "22", "0", "-1", "65536",
    "99999999999999999999", "1.5", "true", "false", "yes", "null", "~", "&a ", "*a", "&b ", "*b",
    "!!str ", "!!int ", "!!map ", "!!seq ", "!!binary ", "!!python/object:os.system ", "!custom ",
    "#", "'", '"', "|", ">", "? ", "---", "...", "%YAML 1.2\n", "%TAG ! tag:x,2000:\n", "\t",
    "\u00fc", "\\", "\\n", "\\x", "0x10", "0o17", "1e9", ".inf", ".nan", "<<: ", "=", "@", "`",
    "\r", "\r\n", "\x00", "\x85", "\u2028", "\ufeff", "2001-12-14", "%", "!",
]


@fuzz(500)
@given(tokens=st.lists(st.sampled_from(TOKENS), max_size=60))
def test_yamlish_token_soup_inventory(workdir: Path, tokens: list[str]) -> None:
    load_text(workdir, "".join(tokens))


# -- inventory: random structures dumped as YAML -------------------------------------------

KEY_CHARS = string.ascii_letters + string.digits + "_-. /:\u00e9"
FIELD = st.sampled_from(["name", "address", "role", "labels", "user", "port", "ssh", "hosts",
                         "key", "known_hosts"])
KEY = st.one_of(FIELD, st.text(KEY_CHARS, min_size=1, max_size=12))
SCALAR = st.one_of(
    st.none(), st.booleans(), st.integers(-2**70, 2**70), st.integers(0, 70000),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
    st.sampled_from(["pi1", "pi2", "10.0.0.1", "10.0.0.1", "fe80::1", "manager", "worker", "pi",
                     "~/.ssh/id", "a b", "-oProxyCommand=x", "", " "]),
)
ANY = st.recursive(SCALAR, lambda inner: st.lists(inner, max_size=4)
                   | st.dictionaries(KEY, inner, max_size=4), max_leaves=12)

NAME = st.one_of(st.from_regex(r"\A[a-z][a-z0-9-]{0,8}[0-9]\Z"), st.text(max_size=10), ANY)
ADDRESS = st.one_of(
    st.ip_addresses().map(str),
    st.from_regex(r"\A[a-z][a-z0-9]{0,6}(\.[a-z][a-z0-9]{0,6}){0,2}\Z"),
    st.text(max_size=15), ANY,
)
HOST = st.dictionaries(
    st.sampled_from(["name", "address", "role", "labels", "user", "port", "adress", "roles"]),
    st.one_of(NAME, ADDRESS, st.sampled_from(["manager", "worker", "leader"]),
              st.dictionaries(KEY, SCALAR, max_size=3), st.integers(-5, 70000), ANY),
    max_size=6,
)
HOST_OK = st.fixed_dictionaries({"name": NAME, "address": ADDRESS},
                                optional={"role": st.sampled_from(["manager", "worker"]) | ANY,
                                          "port": st.integers(-5, 70000) | ANY,
                                          "user": st.sampled_from(["pi", "ubuntu", "Root"]) | ANY,
                                          "labels": st.dictionaries(KEY, SCALAR, max_size=3) | ANY})
INVENTORY = st.one_of(
    ANY,
    st.fixed_dictionaries(
        {"hosts": st.lists(st.one_of(HOST_OK, HOST), max_size=5) | ANY},
        optional={"name": st.sampled_from(["lab", "red", "my cluster"]) | ANY,
                  "ssh": st.fixed_dictionaries({}, optional={"user": SCALAR, "port": SCALAR,
                                                             "key": SCALAR, "known_hosts": SCALAR})
                  | ANY,
                  "extra": ANY},
    ),
)


def dump(data: Any) -> str:
    import io

    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


@fuzz(450)
@given(data=INVENTORY)
def test_random_structure_inventory(workdir: Path, data: Any) -> None:
    load_text(workdir, dump(data))


@fuzz(60)
@given(n=st.integers(1, 6), data=st.data())
def test_valid_structures_load_and_keep_their_values(workdir: Path, n: int, data: st.DataObject) -> None:
    names = data.draw(st.lists(st.from_regex(r"\A[a-z][a-z0-9]{0,8}\Z"), min_size=n, max_size=n,
                               unique=True))
    addresses = data.draw(st.lists(
        st.one_of(st.integers(1, 2**32 - 2).map(ipaddress.IPv4Address),
                  st.integers(1, 2**128 - 1).map(ipaddress.IPv6Address)),
        min_size=n, max_size=n, unique=True))
    hosts = [{"name": nm, "address": str(ad)} for nm, ad in zip(names, addresses)]
    path = workdir / f"valid{next(_counter)}.yaml"
    path.write_text(dump({"hosts": hosts}), encoding="utf-8")
    inv = load(path)
    assert [h.name for h in inv.hosts] == names
    assert [ipaddress.ip_address(h.address) for h in inv.hosts] == addresses


# -- host lists ----------------------------------------------------------------------------

HOSTLIST_CHARS = "pi0123456789[]-,.ab :;_\n"


@fuzz(350)
@given(hostlist=st.one_of(st.text(HOSTLIST_CHARS, max_size=30), st.text(max_size=30)))
def test_random_hostlist(hostlist: str) -> None:
    outcome(lambda: from_hostlist(hostlist))


@fuzz(100)
@given(hostlist=st.text(HOSTLIST_CHARS, max_size=20),
       user=st.none() | st.text(max_size=8), port=st.none() | st.integers(-10, 70000),
       name=st.sampled_from(["swarm", "red"]) | st.text(max_size=8))
def test_random_hostlist_with_options(hostlist: str, user: str | None, port: int | None,
                                      name: str) -> None:
    outcome(lambda: from_hostlist(hostlist, user=user, port=port, name=name))


@fuzz(60)
@given(prefix=st.from_regex(r"\A[a-z]{1,5}\Z"), start=st.integers(0, 500), length=st.integers(1, 30))
def test_ranges_expand_in_order(prefix: str, start: int, length: int) -> None:
    inv = from_hostlist(f"{prefix}[{start}-{start + length - 1}]")
    assert [h.name for h in inv.hosts] == [f"{prefix}{i}" for i in range(start, start + length)]


# -- what hosts say: node names, stderr, overlay addresses (issue 12) ------------------------
# A host is not trusted: whatever it prints reaches the screen as plain text (no rich markup,
# no terminal escapes, tokens masked) and never reaches another host's shell unchecked.

HOST_TEXT = st.one_of(
    st.text(max_size=40),
    st.lists(st.sampled_from(["[", "]", "/", "[/]", "[bold]", "[/bold]", "[link=x]", "\x1b", "\x1b[",
                              "\x1b]0;", "\x07", "\x1b\\", "31m", "\x9b", "\r", "\n", "\t", "\x00",
                              "SWMTKN-1-abc", "SWMKEY-1-xyz", "pi1", " ", "\\", "'", "$(id)"]),
             max_size=20).map("".join),
)


def _reporter() -> tuple[Any, Any, Any]:
    import io

    from cloudmesh.swarm.report import Reporter

    out, err = io.StringIO(), io.StringIO()
    return Reporter(file=out, err=err, live=False), out, err


@fuzz(150)
@given(names=st.lists(HOST_TEXT, min_size=1, max_size=4))
def test_status_prints_any_node_name_as_plain_text(names: list[str]) -> None:
    reporter, out, err = _reporter()
    nodes = [{"host": f"({n})", "address": None, "hostname": n, "node_id": "x", "role": "worker",
              "leader": False, "state": n, "manager_status": None, "availability": n, "engine": n,
              "error": None} for n in names]
    swarm = {"id": "c1", "managers": 1, "nodes": len(names), "reachable_managers": 1,
             "unreachable_managers": names, "quorum": True, "tolerates": 0}
    reporter.status({"cluster": "t", "swarm": swarm, "nodes": nodes}, as_json=False)
    text = out.getvalue() + err.getvalue()
    assert "\x1b" not in text and "\x07" not in text and "\x9b" not in text
    assert "SWMTKN-1-abc" not in text and "SWMKEY-1-xyz" not in text


@fuzz(150)
@given(stderr=HOST_TEXT, stdout=HOST_TEXT, status=st.none() | st.integers(-1, 255))
def test_a_failed_step_is_one_line_whatever_the_host_printed(stderr: str, stdout: str,
                                                             status: int | None) -> None:
    from cloudmesh.swarm.errors import CommandError

    error = CommandError("pi1", "step", status, stderr, stdout)
    message = str(error)
    assert message.startswith("pi1: step failed") and len(message.splitlines()) == 1
    assert "SWMTKN-1-abc" not in message
    reporter, out, err = _reporter()
    reporter.host_failed("pi1", error)
    text = out.getvalue() + err.getvalue()
    assert "\x1b" not in text and len(text.strip().splitlines()) == 1


@fuzz(200)
@given(text=st.one_of(HOST_TEXT, st.ip_addresses().map(str),
                      st.ip_addresses().map(lambda ip: f"{ip}; reboot")))
def test_an_overlay_address_is_an_ip_or_refused(text: str) -> None:
    import ipaddress

    from cloudmesh.swarm.phases.verify import overlay_ip

    try:
        address = overlay_ip(text)
    except ValueError:
        return
    assert str(ipaddress.ip_address(address)) == address  # nothing but an address goes on


# -- user input beyond the inventory: --test-image, hostname ---------------------------------

@fuzz(200)
@given(text=st.one_of(st.text(max_size=40), st.sampled_from(
    ["busybox", "-v", "--privileged", "a b", "busybox;id", "registry:5000/x:1", "x@sha256:" + "a" * 64])))
def test_test_image_is_a_reference_or_bad_input(text: str) -> None:
    from cloudmesh.swarm.phases.verify import check_image

    try:
        check_image(text)
    except InputError as error:
        assert len(str(error).splitlines()) == 1
        return
    assert not text.startswith("-") and not any(c in text for c in " ;'\"$`\\\n")
