"""The inventory: a validated model of the cluster, from a YAML file or a host list.

Nothing here touches a host. Every error is an InventoryError whose message names
the file, the line and the field, so a user can fix it without reading a traceback.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from cloudmesh.swarm.errors import InventoryError

Role = Literal["manager", "worker"]

_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?\Z")
_DNS_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)\Z")
_CLUSTER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}\Z")
_LEGACY_IPV4 = re.compile(r"^(0[xX][0-9a-fA-F]*|[0-9]+)(\.(0[xX][0-9a-fA-F]*|[0-9]+)){0,3}\Z")
_LABEL_KEY = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?\Z")
_INTERFACE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,14}\Z")  # Linux: 15 characters at most


def _check_address(value: str) -> str:
    """An IP address or a DNS name; nothing that could smuggle shell or ssh options."""
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        pass
    if _LEGACY_IPV4.match(value):  # 3221225985, 0300.0.2.1, 0xc0.0.2.1: what ssh would reach
        import socket

        try:
            return socket.inet_ntoa(socket.inet_aton(value))
        except OSError:
            raise ValueError(f"{value!r} is not an IPv4 address") from None
    labels = value.rstrip(".").split(".")
    if len(value) > 253 or not all(_DNS_LABEL.match(label) for label in labels):
        raise ValueError(f"{value!r} is neither an IP address nor a DNS name")
    return value


def _expand_user(path: Path) -> Path:
    """`~` and `~user` expanded; a user without a home is a ValueError, not a RuntimeError."""
    try:
        return path.expanduser()
    except RuntimeError:
        raise ValueError(f"cannot expand {str(path)!r}: no such user or no home directory") from None


def _check_advertise(value: str) -> str:
    """An IP address or a network interface name (eth0, wlan0), as docker accepts both."""
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        pass
    if not _INTERFACE.match(value):
        raise ValueError(f"{value!r} is neither an IP address nor an interface name "
                         "(e.g. eth0, wlan0)")
    return value


def _check_pool(value: str) -> str:
    """An IPv4 network in CIDR form with no host bits set (10.20.0.0/16)."""
    try:
        network = ipaddress.IPv4Network(value)
    except ValueError as error:
        raise ValueError(f"{value!r} is not an IPv4 network such as 10.20.0.0/16 ({error})") from None
    if network.prefixlen > 29:
        raise ValueError(f"{value!r} is too small for overlay networks (at most /29)")
    return str(network)


Port = Annotated[int, Strict(), Field(ge=1, le=65535)]  # strict: YAML `true` is not port 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class SshSettings(_Strict):
    """How to reach every host unless a host says otherwise."""

    user: str = Field(default="pi", pattern=r"^[a-z_][a-z0-9_.-]{0,31}$")
    key: Path | None = None
    port: Port = 22
    known_hosts: Path | None = None

    @field_validator("key", "known_hosts")
    @classmethod
    def _expand(cls, value: Path | None) -> Path | None:
        return None if value is None else _expand_user(value)


class HostSpec(_Strict):
    """One host as the user wrote it."""

    name: str
    address: str
    role: Role | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    user: str | None = Field(default=None, pattern=r"^[a-z_][a-z0-9_.-]{0,31}$")
    port: Port | None = None
    advertise: str | None = None  # swarm control traffic: an address of the host or an interface
    data_path: str | None = None  # overlay (VXLAN) traffic, when not on `advertise`

    @field_validator("advertise", "data_path")
    @classmethod
    def _advertise(cls, value: str | None) -> str | None:
        return None if value is None else _check_advertise(value)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"{value!r} is not a valid host name (letters, digits, '.', '-')")
        return value

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        return _check_address(value)

    @field_validator("labels", mode="before")
    @classmethod
    def _labels(cls, value: Any) -> Any:
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str) or not _LABEL_KEY.match(key):
                    raise ValueError(f"label key {key!r} is not valid")
                if not isinstance(item, (str, int, float, bool)) or "\n" in str(item):
                    raise ValueError(f"label {key!r} must be a one-line string")
            return {key: str(item) for key, item in value.items()}
        return value


class Inventory(_Strict):
    """The whole cluster: name, SSH defaults and hosts, in order."""

    name: str = "swarm"
    ssh: SshSettings = Field(default_factory=SshSettings)
    hosts: list[HostSpec] = Field(min_length=1)
    default_addr_pool: list[str] = Field(default_factory=list)  # overlay subnets come from here
    default_addr_pool_mask_length: Annotated[int, Strict(), Field(ge=8, le=30)] | None = None

    @field_validator("default_addr_pool", mode="before")
    @classmethod
    def _pools(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            pools = [ipaddress.IPv4Network(_check_pool(item)) for item in value]
            for index, pool in enumerate(pools):
                for other in pools[:index]:
                    if pool.overlaps(other):
                        raise ValueError(f"{pool} overlaps {other}")
            return [str(pool) for pool in pools]
        return value

    @field_validator("default_addr_pool_mask_length")
    @classmethod
    def _mask_length(cls, value: int | None, info: ValidationInfo) -> int | None:
        pools = [ipaddress.IPv4Network(p) for p in info.data.get("default_addr_pool") or []]
        wide = [str(p) for p in pools if value is not None and p.prefixlen > value]
        if wide:
            raise ValueError(f"/{value} subnets do not fit in {', '.join(wide)}; "
                             "the mask length must be at least each pool's prefix length")
        if value is not None and not pools:
            raise ValueError("needs default_addr_pool (the pools it cuts into subnets)")
        return value

    @field_validator("name")
    @classmethod
    def _cluster_name(cls, value: str) -> str:
        if not _CLUSTER.match(value):
            raise ValueError(f"{value!r} is not a valid cluster name (letters, digits, '_.-')")
        return value

    def host(self, name: str) -> HostSpec:
        """The host with this name (UsageError-free lookup for callers that validated)."""
        return next(host for host in self.hosts if host.name == name)

    def user_of(self, host: HostSpec) -> str:
        return host.user or self.ssh.user

    def port_of(self, host: HostSpec) -> int:
        return host.port or self.ssh.port


def managers(inventory: Inventory, force: bool = False) -> list[str]:
    """Names of the manager hosts, in inventory order.

    Explicit roles win; without any, the first min(3, n) hosts rounded down to odd.
    An even manager count loses quorum on one failure, so it is refused unless forced.
    """
    hosts = inventory.hosts
    if any(host.role for host in hosts):
        chosen = [host.name for host in hosts if host.role == "manager"]
        if not chosen:
            raise InventoryError("hosts: role: no host has role 'manager'; a swarm needs one")
        if len(chosen) % 2 == 0 and not force:
            raise InventoryError(
                f"hosts: role: {len(chosen)} managers is an even count, which tolerates no more "
                "failures than one fewer; use an odd count or --force"
            )
        return chosen
    count = min(3, len(hosts))
    if count % 2 == 0:
        count -= 1
    return [host.name for host in hosts[:count]]


MAX_FILE = 1 << 20  # an inventory of 1000 hosts is ~60 kB


def load(path: str | Path) -> Inventory:
    """Read and validate an inventory file; errors name file:line: field."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        path = _expand_user(Path(path))
    except ValueError as error:
        raise InventoryError(f"{path}: {error}") from None
    try:
        if path.exists() and not path.is_file() and not path.is_dir():
            raise InventoryError(f"{path}: not a regular file")  # /dev/zero, a FIFO: never read
        if path.is_file() and path.stat().st_size > MAX_FILE:
            raise InventoryError(f"{path}: more than {MAX_FILE} bytes; not an inventory")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InventoryError(f"{path}: cannot read: {getattr(error, 'strerror', None) or error}") from None
    try:
        data = YAML(typ="rt").load(text)
    except YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(error, "problem", None) or "not valid YAML"
        raise InventoryError(f"{where}: {problem}") from None
    except Exception as error:  # noqa: BLE001 - ruamel raises a few non-YAMLError types on odd input
        raise InventoryError(f"{path}: not valid YAML ({type(error).__name__})") from None
    if not isinstance(data, dict):
        raise InventoryError(f"{path}:1: the inventory must be a mapping with 'hosts'")
    return _validate(data, str(path))


def _validate(data: dict[str, Any], source: str) -> Inventory:
    try:
        plain = _plain(data, [0])
    except (ValueError, RecursionError) as error:
        why = str(error) if isinstance(error, ValueError) else "nested too deeply"
        raise InventoryError(f"{source}: {why}") from None
    try:
        inventory = Inventory.model_validate(plain)
    except ValidationError as error:
        errors = error.errors(include_url=False)
        first = _most_telling(errors)
        loc = tuple(first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = _did_you_mean(str(loc[-1]), errors, loc[:-1])
        raise InventoryError(f"{_where(data, loc, source)}: {_field(loc)}: {message}") from None
    _check_unique(data, inventory, source)
    return inventory


def _most_telling(errors: list[Any]) -> Any:
    """A misspelt key shows up as 'extra' plus 'missing'; the extra one says what to fix."""
    extra = [e for e in errors if e["type"] == "extra_forbidden"]
    return extra[0] if extra else errors[0]


def _did_you_mean(key: str, errors: list[Any], parent: tuple[Any, ...]) -> str:
    import difflib

    missing = [str(e["loc"][-1]) for e in errors
               if e["type"] == "missing" and tuple(e["loc"][:-1]) == parent]
    close = difflib.get_close_matches(key, missing, n=1)
    return f"unknown field {key!r}" + (f" (did you mean {close[0]!r}?)" if close else "")


def _field(loc: Sequence[Any]) -> str:
    """The dotted field path, on one line whatever the keys contain."""
    text = ".".join(str(part) for part in loc) or "inventory"
    return text.encode("unicode_escape").decode("ascii")


def _where(data: Any, loc: Sequence[Any], source: str) -> str:
    line = _line_of(data, loc)
    return f"{source}:{line}" if line else source


def _check_unique(data: Any, inventory: Inventory, source: str) -> None:
    """Host names and addresses are unique; the error points at the second one."""
    for attr in ("name", "address"):
        first: dict[str, int] = {}
        for index, host in enumerate(inventory.hosts):
            value = getattr(host, attr).lower().rstrip(".")  # DNS names ignore case and the root dot
            if value in first:
                loc = ("hosts", index, attr)
                raise InventoryError(f"{_where(data, loc, source)}: {_field(loc)}: duplicate host "
                                     f"{attr} {value!r} (also hosts.{first[value]}.{attr})")
            first[value] = index


MAX_NODES = 100_000  # YAML aliases can make a small file expand without bound


def _plain(node: Any, count: list[int]) -> Any:
    """ruamel's round-trip types to plain dict/list/str, keeping the values; bounded in size."""
    count[0] += 1
    if count[0] > MAX_NODES:
        raise ValueError(f"more than {MAX_NODES} values (YAML aliases?); refusing")
    if isinstance(node, dict):
        return {(str(k) if not isinstance(k, (int, float, bool)) else k): _plain(v, count)
                for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(item, count) for item in node]
    if isinstance(node, str):
        return str(node)
    return node


def _line_of(data: Any, loc: Sequence[Any]) -> int | None:
    """The 1-based line of the deepest node of `loc` that ruamel recorded."""
    line: int | None = None
    node = data
    for part in loc:
        lc = getattr(node, "lc", None)
        try:
            if isinstance(node, dict) and part in node:
                if lc is not None:
                    line = lc.key(part)[0] + 1
                node = node[part]
            elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
                if lc is not None:
                    line = lc.item(part)[0] + 1
                node = node[part]
            else:
                break
        except (KeyError, IndexError, TypeError, AttributeError):
            break
    if line is None and getattr(data, "lc", None) is not None:
        line = data.lc.line + 1
    return line


def from_hostlist(
    hostlist: str,
    user: str | None = None,
    key: str | None = None,
    port: int | None = None,
    name: str = "swarm",
    known_hosts: str | None = None,
) -> Inventory:
    """An inventory from a Cloudmesh host list such as `pi[85-87]` or `10.1.1.[2-5]`."""
    pairs = expand_hosts(hostlist)
    ssh: dict[str, Any] = {}
    if user is not None:
        ssh["user"] = user
    if key is not None:
        ssh["key"] = key
    if port is not None:
        ssh["port"] = port
    if known_hosts is not None:
        ssh["known_hosts"] = known_hosts
    data = {"name": name, "ssh": ssh, "hosts": [{"name": n, "address": a} for n, a in pairs]}
    return _validate(data, "command line")


def expand_hosts(text: str) -> list[tuple[str, str]]:
    """(name, address) pairs from a host list (`pi[85-87]`: name = address) or from
    `NAME=ADDRESS,...` (`red01=10.1.1.5,red02=10.1.1.6`), for hosts no DNS knows by name."""
    import hostlist as _hostlist

    if "=" in text:
        pairs = []
        for item in text.split(","):
            name, sep, address = item.strip().partition("=")
            if not sep or not name or not address:
                raise InventoryError(f"hosts: {item.strip()!r} is not NAME=ADDRESS")
            pairs.append((name, address))
        return pairs
    try:
        names = _hostlist.expand_hostlist(text)
    except Exception as error:  # noqa: BLE001 - BadHostlist, and ValueError/IndexError on odd input
        raise InventoryError(f"hosts: {text!r} is not a valid host list ({error})") from None
    if not names:
        raise InventoryError("hosts: the host list is empty")
    if len(names) > 1000:
        raise InventoryError(f"hosts: {text!r} expands to {len(names)} hosts; at most 1000")
    return [(n, n) for n in names]


def extend(inventory: Inventory, pairs: list[tuple[str, str]], role: str | None
           ) -> tuple[Inventory, list[dict[str, Any]], list[str]]:
    """The inventory with new hosts appended (`add`): (new model, entries to write, hosts whose
    implied manager role must be written down so that an explicit role keeps them managers)."""
    by_name = {host.name: host for host in inventory.hosts}
    entries: list[dict[str, Any]] = []
    for name, address in pairs:
        known = by_name.get(name)
        if known is not None:
            if known.address != _check_address(address) and address != name:
                raise InventoryError(f"hosts: {name} is already in the inventory with address "
                                     f"{known.address}, not {address}")
            continue
        entry: dict[str, Any] = {"name": name, "address": address}
        if role:
            entry["role"] = role
        entries.append(entry)
    implied = managers(inventory) if role and not any(h.role for h in inventory.hosts) else []
    data = inventory.model_dump(mode="json", exclude_none=True)
    for host in data["hosts"]:
        if host["name"] in implied:
            host["role"] = "manager"
    data["hosts"] += entries
    return _validate(data, "command line"), entries, implied


def with_hosts(inventory: Inventory, pairs: list[tuple[str, str]]) -> Inventory:
    """The same cluster settings with exactly these hosts (e.g. the one `restore` goes to)."""
    data = inventory.model_dump(mode="json", exclude_none=True)
    data["hosts"] = [{"name": name, "address": address} for name, address in pairs]
    return _validate(data, "command line")
