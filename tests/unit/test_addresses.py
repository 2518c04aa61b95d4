"""IPv4 first for names (pi1.local also answers with link-local IPv6), IPv6 bracketed before a port."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import asyncssh
import pytest

from cloudmesh.swarm.phases.configure import host_port
from cloudmesh.swarm.transport import SshTransport, _is_name

from .test_hostkeys import Server


@pytest.mark.parametrize("address,name", [
    ("pi1.local", True), ("red01", True), ("10.77.0.11", False), ("fe80::1", False), ("[2001:db8::5]", False),
])
def test_names_and_address_literals(address: str, name: bool) -> None:
    assert _is_name(address) is name


@pytest.mark.parametrize("address,joined", [
    ("10.0.0.11", "10.0.0.11:2377"), ("fe80::1", "[fe80::1]:2377"), ("2001:db8::5", "[2001:db8::5]:2377"),
])
def test_swarm_addresses_bracket_ipv6(address: str, joined: str) -> None:
    assert host_port(address, 2377) == joined


@pytest.mark.parametrize("address,gai_error_on_ipv4,families", [
    ("pi1.local", False, [socket.AF_INET]),  # a name: IPv4 first
    ("pi1.local", True, [socket.AF_INET, socket.AF_UNSPEC]),  # no IPv4 address: as it is
    ("fe80::1", False, [socket.AF_UNSPEC]),  # an address literal: as given
])
def test_names_are_tried_over_ipv4_first(address: str, gai_error_on_ipv4: bool, families: list[int],
                                          tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tried: list[int] = []

    async def fake_connect(host: str, **kwargs: object) -> None:
        tried.append(int(kwargs["family"]))  # type: ignore[call-overload]
        if kwargs["family"] == socket.AF_INET and gai_error_on_ipv4:
            raise socket.gaierror(socket.EAI_NONAME, "no IPv4 address")
        raise asyncssh.ConnectionLost("stop here")

    monkeypatch.setattr(asyncssh, "connect", fake_connect)
    target = Server(tmp_path).target(tmp_path / "known_hosts")
    target = type(target)(**{**target.__dict__, "address": address})
    with pytest.raises(Exception, match="cannot connect"):
        asyncio.run(SshTransport.connect(target))
    assert tried == families
