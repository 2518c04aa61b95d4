"""The inventory: YAML files and host lists to a validated model; every error one line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from cloudmesh.swarm.errors import InputError, InventoryError, SwarmError
from cloudmesh.swarm.inventory import Inventory, from_hostlist, load, managers

HOSTS = """\
hosts:
  - name: pi1
    address: 10.0.0.1
"""


def write(tmp_path: Path, text: str, name: str = "inventory.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load_error(path: Path) -> str:
    with pytest.raises(InventoryError) as info:
        load(path)
    message = str(info.value)
    assert isinstance(info.value, InputError) and isinstance(info.value, SwarmError)
    assert message.splitlines() == [message], f"not one line: {message!r}"
    return message


# -- valid files ---------------------------------------------------------------------------

def test_the_documented_example_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    path = write(tmp_path, """\
        name: lab                      # cluster name
        ssh:
          user: pi
          key: ~/.ssh/id_ed25519
          port: 22
          known_hosts: ~/.ssh/known_hosts
        hosts:
          - name: pi1
            address: 10.77.0.11
            role: manager
          - name: pi2
            address: 10.77.0.12
            user: ubuntu
          - name: pi3
            address: 10.77.0.13
            labels: {disk: ssd}
        """)
    inv = load(path)
    assert inv.name == "lab"
    assert inv.ssh.user == "pi" and inv.ssh.port == 22
    assert inv.ssh.key == tmp_path / ".ssh" / "id_ed25519"
    assert inv.ssh.known_hosts == tmp_path / ".ssh" / "known_hosts"
    assert [h.name for h in inv.hosts] == ["pi1", "pi2", "pi3"]
    assert [h.role for h in inv.hosts] == ["manager", None, None]
    assert inv.hosts[2].labels == {"disk": "ssd"}
    assert inv.user_of(inv.hosts[1]) == "ubuntu" and inv.user_of(inv.hosts[0]) == "pi"
    assert inv.port_of(inv.hosts[0]) == 22
    assert inv.host("pi2").address == "10.77.0.12"


def test_defaults(tmp_path: Path) -> None:
    inv = load(write(tmp_path, HOSTS))
    assert inv.name == "swarm"
    assert (inv.ssh.user, inv.ssh.port, inv.ssh.key, inv.ssh.known_hosts) == ("pi", 22, None, None)
    host = inv.hosts[0]
    assert (host.role, host.labels, host.user, host.port) == (None, {}, None, None)


def test_per_host_port_and_label_values_become_strings(tmp_path: Path) -> None:
    inv = load(write(tmp_path, """\
        ssh: {port: 2222}
        hosts:
          - name: red
            address: red.example.org
            port: 22
            labels: {rack: 3, ssd: true, weight: 1.5}
          - {name: blue, address: "fe80::1", role: worker}
        """))
    red, blue = inv.hosts
    assert inv.port_of(red) == 22 and inv.port_of(blue) == 2222
    assert red.labels == {"rack": "3", "ssd": "True", "weight": "1.5"}
    assert blue.address == "fe80::1" and blue.role == "worker"


def test_addresses_are_normalized_and_whitespace_is_stripped(tmp_path: Path) -> None:
    inv = load(write(tmp_path, """\
        hosts:
          - name: "  pi1 "
            address: "FE80:0:0::1"
          - name: pi2
            address: pi2.local.
        """))
    assert inv.hosts[0].name == "pi1"
    assert inv.hosts[0].address == "fe80::1"
    assert inv.hosts[1].address == "pi2.local."


def test_comments_and_anchors_are_fine(tmp_path: Path) -> None:
    inv = load(write(tmp_path, """\
        # cluster red
        name: red  # trailing comment
        hosts:
          - name: a
            address: 10.0.0.1
            labels: &common {zone: north}
          - name: b
            address: 10.0.0.2
            labels: *common
        """))
    assert inv.hosts[1].labels == {"zone": "north"}


# -- every validation error: type, one line, file:line: field ------------------------------

ERRORS = [
    # (id, file text, line, field, message)
    ("unknown top field", "name: lab\ncolour: red\n" + HOSTS, 2, "colour",
     "unknown field 'colour'"),
    ("unknown host field", HOSTS + "    rol: manager\n", 4, "hosts.0.rol",
     "unknown field 'rol'"),
    ("unknown ssh field", "ssh:\n  user: pi\n  keyfile: ~/.ssh/id\n" + HOSTS, 3, "ssh.keyfile",
     "unknown field 'keyfile'"),
    ("misspelt address", "hosts:\n  - name: pi1\n    adress: 10.0.0.1\n", 3, "hosts.0.adress",
     "unknown field 'adress' (did you mean 'address'?)"),
    ("missing name", "hosts:\n  - address: 10.0.0.1\n", 2, "hosts.0.name", "Field required"),
    ("bad role", HOSTS + "  - name: pi2\n    address: 10.0.0.2\n    role: leader\n", 6,
     "hosts.1.role", "Input should be 'manager' or 'worker'"),
    ("port too high", HOSTS + "    port: 70000\n", 4, "hosts.0.port",
     "Input should be less than or equal to 65535"),
    ("port zero", HOSTS + "    port: 0\n", 4, "hosts.0.port",
     "Input should be greater than or equal to 1"),
    ("port negative", "ssh:\n  port: -22\n" + HOSTS, 2, "ssh.port",
     "Input should be greater than or equal to 1"),
    ("port a word", "ssh:\n  port: ssh\n" + HOSTS, 2, "ssh.port",
     "Input should be a valid integer"),
    ("port a fraction", HOSTS + "    port: 22.5\n", 4, "hosts.0.port",
     "Input should be a valid integer"),
    ("empty hosts", "name: lab\nhosts: []\n", 2, "hosts",
     "List should have at least 1 item after validation, not 0"),
    ("null hosts", "name: lab\nhosts:\n", 2, "hosts", "Input should be a valid list"),
    ("no hosts", "name: lab\n", 1, "hosts", "Field required"),
    ("hosts a mapping", "hosts:\n  pi1: 10.0.0.1\n", 1, "hosts", "Input should be a valid list"),
    ("host a string", "hosts:\n  - pi1\n", 2, "hosts.0",
     "Input should be a valid dictionary or instance of HostSpec"),
    ("name a number", "hosts:\n  - name: 42\n    address: 10.0.0.1\n", 2, "hosts.0.name",
     "Input should be a valid string"),
    ("address a number", "hosts:\n  - name: pi1\n    address: 10.1\n", 3, "hosts.0.address",
     "Input should be a valid string"),
    ("bad host name", "hosts:\n  - name: pi_1\n    address: 10.0.0.1\n", 2, "hosts.0.name",
     "'pi_1' is not a valid host name (letters, digits, '.', '-')"),
    ("shell in address", "hosts:\n  - name: pi1\n    address: '10.0.0.1; rm -rf /'\n", 3,
     "hosts.0.address", "'10.0.0.1; rm -rf /' is neither an IP address nor a DNS name"),
    ("ssh option as address", "hosts:\n  - name: pi1\n    address: -oProxyCommand=x\n", 3,
     "hosts.0.address", "'-oProxyCommand=x' is neither an IP address nor a DNS name"),
    ("bad cluster name", "name: my cluster\n" + HOSTS, 1, "name",
     "'my cluster' is not a valid cluster name (letters, digits, '_.-')"),
    ("bad ssh user", "ssh:\n  user: Root\n" + HOSTS, 2, "ssh.user",
     "String should match pattern '^[a-z_][a-z0-9_.-]{0,31}$'"),
    ("bad host user", HOSTS + "    user: 'x y'\n", 4, "hosts.0.user",
     "String should match pattern '^[a-z_][a-z0-9_.-]{0,31}$'"),
    ("ssh a string", "ssh: pi\n" + HOSTS, 1, "ssh",
     "Input should be a valid dictionary or instance of SshSettings"),
    ("labels a list", HOSTS + "    labels: [ssd]\n", 4, "hosts.0.labels",
     "Input should be a valid dictionary"),
    ("bad label key", HOSTS + "    labels: {-x: 1}\n", 4, "hosts.0.labels",
     "label key '-x' is not valid"),
    ("label value a list", HOSTS + "    labels: {disk: [a]}\n", 4, "hosts.0.labels",
     "label 'disk' must be a one-line string"),
    ("label value two lines", HOSTS + "    labels: {disk: \"a\\nb\"}\n", 4, "hosts.0.labels",
     "label 'disk' must be a one-line string"),
    ("role a list", HOSTS + "    role: [manager]\n", 4, "hosts.0.role",
     "Input should be 'manager' or 'worker'"),
]


@pytest.mark.parametrize("text,line,field,message", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_validation_error_names_file_line_and_field(tmp_path: Path, text: str, line: int, field: str,
                                                    message: str) -> None:
    path = write(tmp_path, text)
    assert load_error(path) == f"{path}:{line}: {field}: {message}"


@pytest.mark.parametrize("attr,second", [("name", "  - name: pi1\n    address: 10.0.0.2\n"),
                                         ("address", "  - name: pi2\n    address: 10.0.0.1\n")])
def test_duplicate_hosts_are_refused(tmp_path: Path, attr: str, second: str) -> None:
    path = write(tmp_path, HOSTS + second)
    message = load_error(path)
    value = "pi1" if attr == "name" else "10.0.0.1"
    assert message.startswith(f"{path}:")
    assert f": hosts.1.{attr}: duplicate host {attr} {value!r} (also hosts.0.{attr})" in message


def test_duplicate_addresses_are_found_after_normalizing(tmp_path: Path) -> None:
    path = write(tmp_path, 'hosts:\n  - {name: a, address: "fe80::1"}\n  - {name: b, address: "FE80:0::1"}\n')
    assert load_error(path).endswith("duplicate host address 'fe80::1' (also hosts.0.address)")


def test_duplicate_host_error_points_at_the_duplicate(tmp_path: Path) -> None:
    path = write(tmp_path, "name: lab\n" + HOSTS + "  - name: pi1\n    address: 10.0.0.2\n")
    assert load_error(path) == f"{path}:5: hosts.1.name: duplicate host name 'pi1' (also hosts.0.name)"


def test_boolean_port_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, HOSTS + "    port: true\n")
    assert load_error(path).startswith(f"{path}:4: hosts.0.port: ")


def test_unknown_key_with_a_line_break_still_gives_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, '"colour\\nred": 1\n' + HOSTS)
    message = load_error(path)
    assert message.startswith(f"{path}:1: ")


@pytest.mark.parametrize("field", ["key", "known_hosts"])
def test_ssh_path_of_an_unknown_user_is_an_inventory_error(tmp_path: Path, field: str) -> None:
    path = write(tmp_path, f"ssh:\n  {field}: ~no-such-user-xyz/.ssh/id\n" + HOSTS)
    assert load_error(path).startswith(f"{path}:2: ssh.{field}: ")


def test_hostlist_key_of_an_unknown_user_is_an_input_error() -> None:
    with pytest.raises(InputError):
        from_hostlist("pi[1-3]", key="~no-such-user-xyz/.ssh/id")


def test_inventory_path_of_an_unknown_user_is_an_inventory_error() -> None:
    with pytest.raises(InventoryError):
        load("~no-such-user-xyz/inventory.yaml")


@pytest.mark.parametrize("text,line,problem", [
    ("hosts: [\n  {name: pi1, address: 10.0.0.1}\n", 3, "expected ',' or ']', but got '<stream end>'"),
    ("hosts:\n  - name: pi1\n   address: 10.0.0.1\n", 3,
     "expected <block end>, but found '<block mapping start>'"),
    ("hosts:\n\t- name: pi1\n", 2, "found character '\\t' that cannot start any token"),
    (HOSTS + "name: a\nname: b\n", 5, 'found duplicate key "name" with value "b" (original value: "a")'),
    ('hosts: "\\x"\n', 1, "expected escape sequence of 2 hexdecimal numbers, but found '\"'"),
    ("hosts: &a [*b]\n", 1, "found undefined alias 'b'"),
])
def test_malformed_yaml_names_file_and_line(tmp_path: Path, text: str, line: int, problem: str) -> None:
    path = write(tmp_path, text)
    assert load_error(path) == f"{path}:{line}: {problem}"


@pytest.mark.parametrize("text", ["", "# only a comment\n", "- name: pi1\n  address: 10.0.0.1\n",
                                  "just a string\n", "42\n", "~\n"])
def test_a_file_that_is_not_a_mapping_is_refused(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    assert load_error(path) == f"{path}:1: the inventory must be a mapping with 'hosts'"


def test_unreadable_files_are_input_errors(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    assert load_error(missing) == f"{missing}: cannot read: No such file or directory"
    assert load_error(tmp_path) == f"{tmp_path}: cannot read: Is a directory"
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfehosts: []\n")
    assert load_error(binary).startswith(f"{binary}: cannot read: 'utf-8' codec can't decode")


def test_control_characters_are_not_valid_yaml(tmp_path: Path) -> None:
    path = write(tmp_path, "hosts: \x07\n")
    assert load_error(path).startswith(f"{path}")


# -- host lists ----------------------------------------------------------------------------

@pytest.mark.parametrize("hostlist,names", [
    ("pi[85-87]", ["pi85", "pi86", "pi87"]),
    ("10.1.1.[2-5]", ["10.1.1.2", "10.1.1.3", "10.1.1.4", "10.1.1.5"]),
    ("red,blue", ["red", "blue"]),
    ("pi[01-03]", ["pi01", "pi02", "pi03"]),
    ("pi[1,3,5-6]", ["pi1", "pi3", "pi5", "pi6"]),
    ("a[1-2]b[3-4]", ["a1b3", "a1b4", "a2b3", "a2b4"]),
    ("red,red", ["red"]),
    ("pi[1-1000]", [f"pi{i}" for i in range(1, 1001)]),
])
def test_hostlist_expands_to_hosts_named_and_addressed_alike(hostlist: str, names: list[str]) -> None:
    inv = from_hostlist(hostlist)
    assert [h.name for h in inv.hosts] == names
    assert [h.address for h in inv.hosts] == names
    assert inv.name == "swarm" and inv.ssh.user == "pi" and inv.ssh.port == 22


def test_hostlist_takes_the_ssh_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    inv = from_hostlist("pi[1-2]", user="ubuntu", key="~/.ssh/id", port=2222, name="red",
                        known_hosts="~/kh")
    assert (inv.name, inv.ssh.user, inv.ssh.port) == ("red", "ubuntu", 2222)
    assert inv.ssh.key == tmp_path / ".ssh" / "id"
    assert inv.ssh.known_hosts == tmp_path / "kh"


@pytest.mark.parametrize("hostlist,message", [
    ("pi[", "hosts: 'pi[' is not a valid host list (unbalanced brackets)"),
    ("pi]", "hosts: 'pi]' is not a valid host list (unbalanced brackets)"),
    ("pi[3-1]", "hosts: 'pi[3-1]' is not a valid host list (start > stop)"),
    ("pi[a-c]", "hosts: 'pi[a-c]' is not a valid host list (bad range)"),
    ("pi[]", "hosts: 'pi[]' is not a valid host list (bad range)"),
    ("pi[1-99999999]", "hosts: 'pi[1-99999999]' is not a valid host list (range too large)"),
    ("", "hosts: the host list is empty"),
    (",", "hosts: the host list is empty"),
    ("pi[1-1001]", "hosts: 'pi[1-1001]' expands to 1001 hosts; at most 1000"),
    ("pi_1", "command line: hosts.0.name: 'pi_1' is not a valid host name (letters, digits, '.', '-')"),
    ("a;b", "command line: hosts.0.name: 'a;b' is not a valid host name (letters, digits, '.', '-')"),
    ("-oProxyCommand=x", ("command line: hosts.0.name: '-oProxyCommand' is not a valid host "
                          "name (letters, digits, '.', '-')")),
    ("pi\n1", "command line: hosts.0.name: 'pi\\n1' is not a valid host name (letters, digits, '.', '-')"),
])
def test_bad_hostlist_is_an_input_error(hostlist: str, message: str) -> None:
    with pytest.raises(InventoryError) as info:
        from_hostlist(hostlist)
    assert isinstance(info.value, InputError)
    assert str(info.value) == message


@pytest.mark.parametrize("kwargs,message", [
    ({"user": "Root"}, "command line: ssh.user: String should match pattern"),
    ({"port": 0}, "command line: ssh.port: Input should be greater than or equal to 1"),
    ({"port": 65536}, "command line: ssh.port: Input should be less than or equal to 65535"),
    ({"name": "a b"}, "command line: name: 'a b' is not a valid cluster name"),
])
def test_bad_hostlist_options_are_input_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InputError) as info:
        from_hostlist("pi[1-3]", **kwargs)  # type: ignore[arg-type]
    assert str(info.value).startswith(message)
    assert len(str(info.value).splitlines()) == 1


# -- managers ------------------------------------------------------------------------------

def cluster(n: int, roles: dict[int, str] | None = None) -> Inventory:
    hosts: list[dict[str, object]] = [{"name": f"pi{i}", "address": f"10.0.0.{i}"} for i in range(1, n + 1)]
    for index, role in (roles or {}).items():
        hosts[index - 1]["role"] = role
    return Inventory.model_validate({"hosts": hosts})


@pytest.mark.parametrize("n,count", [(1, 1), (2, 1), (3, 3), (4, 3), (5, 3), (7, 3), (50, 3)])
def test_without_roles_the_first_hosts_are_an_odd_number_of_managers(n: int, count: int) -> None:
    assert managers(cluster(n)) == [f"pi{i}" for i in range(1, count + 1)]
    assert managers(cluster(n), force=True) == [f"pi{i}" for i in range(1, count + 1)]


def test_explicit_roles_win_in_inventory_order() -> None:
    inv = cluster(5, {5: "manager", 2: "manager", 4: "manager", 1: "worker"})
    assert managers(inv) == ["pi2", "pi4", "pi5"]


def test_one_explicit_manager_makes_the_rest_workers() -> None:
    assert managers(cluster(7, {6: "manager"})) == ["pi6"]


def test_roles_without_a_manager_are_refused() -> None:
    with pytest.raises(InventoryError) as info:
        managers(cluster(3, {1: "worker"}), force=True)
    assert str(info.value) == "hosts: role: no host has role 'manager'; a swarm needs one"


@pytest.mark.parametrize("n,chosen", [(2, {1: "manager", 2: "manager"}),
                                      (5, {1: "manager", 2: "manager", 3: "manager", 4: "manager"})])
def test_an_even_manager_count_needs_force(n: int, chosen: dict[int, str]) -> None:
    inv = cluster(n, chosen)
    with pytest.raises(InventoryError) as info:
        managers(inv)
    message = str(info.value)
    assert message.startswith(f"hosts: role: {len(chosen)} managers is an even count")
    assert "--force" in message and len(message.splitlines()) == 1
    assert managers(inv, force=True) == [f"pi{i}" for i in sorted(chosen)]


def test_a_newline_never_reaches_a_name(tmp_path: Path) -> None:
    """`$` in a pattern matches before a final newline, and names go into shell lines and
    files: names and the cluster name are stripped, a label key with one is refused."""
    path = tmp_path / "inv.yaml"
    path.write_text('name: "red\\n"\nhosts:\n  - name: "pi1\\n"\n    address: 10.0.0.1\n')
    inv = load(path)
    assert inv.name == "red" and inv.hosts[0].name == "pi1"
    path.write_text('name: red\nhosts:\n  - name: pi1\n    address: 10.0.0.1\n'
                    '    labels: {"disk\\n": ssd}\n')
    with pytest.raises(InventoryError):
        load(path)


def test_hostname_for_refuses_a_trailing_newline() -> None:
    from cloudmesh.swarm.errors import UsageError
    from cloudmesh.swarm.phases.hostname import hostname_for

    assert hostname_for("pi1") == "pi1"
    with pytest.raises(UsageError):
        hostname_for("pi1\n")
