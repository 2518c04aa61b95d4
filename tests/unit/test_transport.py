"""SshTransport's edges: the one map from asyncssh errors to ours, `async with`, and that
SshTransport and the tests' FakeTransport both are what the Transport protocol says."""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path

import asyncssh
import pytest

from cloudmesh.swarm.errors import ConnectError, HostKeyError, InputError, LoginRefused, SwarmError
from cloudmesh.swarm.transport import Result, SshTransport, Transport, _reason, _translate

from .harness import FakeTransport
from .test_hostkeys import Server


def test_a_lost_connection_names_the_host_and_what_was_being_done() -> None:
    error = _translate(asyncssh.ConnectionLost("Connection lost"), "pi1", "connection lost")
    assert type(error) is ConnectError
    assert str(error) == "pi1: connection lost: Connection lost"
    error = _translate(BrokenPipeError(32, "Broken pipe"), "pi2", "upload of /etc/x failed")
    assert str(error) == "pi2: upload of /etc/x failed: [Errno 32] Broken pipe"


def test_a_failed_connect_says_why_without_errno() -> None:
    error = _translate(ConnectionRefusedError(111, "Connect call failed"), "pi1",
                       "cannot connect to 10.0.0.1:22", detail=_reason, refused="refused")
    assert type(error) is ConnectError
    assert str(error) == "pi1: cannot connect to 10.0.0.1:22: Connect call failed"
    assert _reason(asyncio.TimeoutError()) == "TimeoutError"  # no words at all: the kind
    assert _reason(asyncssh.DisconnectError(11, "Too many users")) == "Too many users"


def test_a_refused_login_is_login_refused_only_at_login() -> None:
    denied = asyncssh.PermissionDenied("Permission denied")
    error = _translate(denied, "pi1", "cannot connect to a:22", refused="SSH login as 'pi' was refused (x)")
    assert type(error) is LoginRefused
    assert str(error) == "pi1: SSH login as 'pi' was refused (x)"
    assert type(_translate(denied, "pi1", "connection lost")) is ConnectError


def test_the_host_key_policys_reason_wins_over_asyncssh_words() -> None:
    not_verifiable = asyncssh.HostKeyNotVerifiable("Host key is not trusted")
    ours = HostKeyError("pi1", "host key of a has CHANGED")
    assert _translate(not_verifiable, "pi1", "cannot connect", key_error=ours) is ours
    plain = _translate(not_verifiable, "pi1", "cannot connect")
    assert type(plain) is HostKeyError and str(plain) == "pi1: Host key is not trusted"
    # our policy refused the key, then asyncssh gave up the connect some other way
    assert _translate(OSError("reset"), "pi1", "cannot connect", key_error=ours) is ours


@pytest.mark.parametrize("error", [
    asyncssh.ConnectionLost("x"), asyncssh.PermissionDenied("x"), asyncssh.HostKeyNotVerifiable("x"),
    OSError("x"), asyncio.TimeoutError(), asyncssh.ChannelOpenError(1, "x")])
def test_every_ssh_failure_is_a_host_error_exit_1(error: BaseException) -> None:
    ours = _translate(error, "pi1", "doing", refused="refused")
    assert isinstance(ours, SwarmError) and not isinstance(ours, InputError)
    assert str(ours).startswith("pi1: ")


def test_async_with_closes_the_connection_however_the_block_ends(tmp_path: Path) -> None:
    async def scenario() -> None:
        srv = Server(tmp_path)
        await srv.start(asyncssh.generate_private_key("ssh-ed25519"))
        target = srv.target(tmp_path / "known_hosts")
        async with await SshTransport.connect(target) as transport:
            assert (await transport.run("echo hi", timeout=10)).ok
        with pytest.raises(ConnectError, match="^pi1: connection lost: "):
            await transport.run("echo again", timeout=10)
        with pytest.raises(RuntimeError, match="inside"):
            async with await SshTransport.connect(target) as failing:
                raise RuntimeError("inside")
        with pytest.raises(ConnectError, match="^pi1: upload of /tmp/f failed: "):
            await failing.put(b"data", "/tmp/f")
        await srv.stop()

    asyncio.run(scenario())


def _signature(cls: type, name: str) -> inspect.Signature:
    return inspect.signature(getattr(cls, name))


@pytest.mark.parametrize("cls", [SshTransport, FakeTransport])
@pytest.mark.parametrize("method", ["run", "put", "stream_out", "close"])
def test_transports_have_the_protocols_methods(cls: type, method: str) -> None:
    """Phases and the runner use only the protocol; each transport must take the same
    arguments (names, kinds, defaults), so a phase tested on the fake runs on a host."""
    wanted, have = _signature(Transport, method), _signature(cls, method)
    assert [(p.name, p.kind, p.default) for p in have.parameters.values()] == \
        [(p.name, p.kind, p.default) for p in wanted.parameters.values()]
    assert inspect.iscoroutinefunction(getattr(cls, method))


def test_the_fake_streams_the_handlers_output() -> None:
    async def scenario() -> tuple[list[bytes], Result]:
        got: list[bytes] = []
        fake = FakeTransport("pi1", lambda name, command: Result(3, f"{name} ran {command}", "warn"))
        return got, await fake.stream_out("dd if=/dev/mmcblk0", got.append)

    got, result = asyncio.run(scenario())
    assert got == [b"pi1 ran dd if=/dev/mmcblk0"]
    assert result == Result(3, "", "warn")
