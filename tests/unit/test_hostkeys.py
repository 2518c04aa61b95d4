"""Host-key policy of SshTransport against an in-process asyncssh server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import asyncssh
import pytest

from cloudmesh.swarm.errors import ConnectError, HostKeyError
from cloudmesh.swarm.plan import Secret
from cloudmesh.swarm.transport import SshTarget, SshTransport


async def _echo(process: asyncssh.SSHServerProcess) -> None:
    """Reply with the command line and stdin, so tests see what reached the host."""
    data = await process.stdin.read() if process.command and "stdin" in process.command else b""
    process.stdout.write(f"cmd={process.command}\nstdin=".encode() + data)
    process.exit(0)


class Server:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.client_key = asyncssh.generate_private_key("ssh-ed25519")
        self.client_key_path = tmp / "id_ed25519"
        self.client_key.write_private_key(str(self.client_key_path))
        self.authorized = asyncssh.import_authorized_keys(self.client_key.export_public_key().decode())
        self.server: asyncssh.SSHAcceptor | None = None
        self.port = 0

    async def start(self, host_key: asyncssh.SSHKey) -> None:
        await self.stop()
        self.server = await asyncssh.listen(
            "127.0.0.1", self.port, server_host_keys=[host_key], authorized_client_keys=self.authorized,
            process_factory=_echo, encoding=None)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None

    def target(self, known_hosts: Path, strict: bool = False) -> SshTarget:
        import getpass

        return SshTarget(name="pi1", address="127.0.0.1", port=self.port, user=getpass.getuser(),
                         key=self.client_key_path, known_hosts=known_hosts,
                         strict_host_keys=strict, connect_timeout=5)


async def _connect_and_run(target: SshTarget, command: str = "echo hi", stdin: str = "") -> str:
    transport = await SshTransport.connect(target)
    try:
        result = await transport.run(command, stdin=stdin, timeout=10)
        return result.stdout
    finally:
        await transport.close()


def test_accept_new_records_the_key_then_trusts_it(tmp_path: Path) -> None:
    async def scenario() -> None:
        srv = Server(tmp_path)
        await srv.start(asyncssh.generate_private_key("ssh-ed25519"))
        known = tmp_path / "known_hosts"
        out = await _connect_and_run(srv.target(known))
        assert "cmd=sh -c 'echo hi'" in out
        lines = known.read_text().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"[127.0.0.1]:{srv.port} ssh-ed25519 ")
        await _connect_and_run(srv.target(known, strict=True))  # now known: strict is fine
        assert len(known.read_text().splitlines()) == 1
        await srv.stop()

    asyncio.run(scenario())


def test_strict_refuses_an_unknown_host(tmp_path: Path) -> None:
    async def scenario() -> None:
        srv = Server(tmp_path)
        await srv.start(asyncssh.generate_private_key("ssh-ed25519"))
        known = tmp_path / "known_hosts"
        with pytest.raises(HostKeyError, match="not in .*--strict-host-keys"):
            await _connect_and_run(srv.target(known, strict=True))
        assert not known.exists()
        await srv.stop()

    asyncio.run(scenario())


def test_a_changed_key_is_always_refused_with_the_fix(tmp_path: Path) -> None:
    async def scenario() -> None:
        srv = Server(tmp_path)
        await srv.start(asyncssh.generate_private_key("ssh-ed25519"))
        known = tmp_path / "known_hosts"
        await _connect_and_run(srv.target(known))
        before = known.read_text()
        assert oct(known.stat().st_mode & 0o777) == "0o600"
        old_print = asyncssh.import_known_hosts(before).match("127.0.0.1", "127.0.0.1", srv.port)[0][0]
        new_key = asyncssh.generate_private_key("ssh-ed25519")
        await srv.start(new_key)  # same port, new key
        with pytest.raises(HostKeyError) as caught:
            await _connect_and_run(srv.target(known))
        message = str(caught.value)
        assert message.startswith("pi1: host key of 127.0.0.1 has CHANGED")
        assert f"known {old_print.get_fingerprint()}, offered {new_key.get_fingerprint()}" in message
        assert f"ssh-keygen -f {known} -R '[127.0.0.1]:{srv.port}'" in message
        assert known.read_text() == before  # never overwritten
        await srv.stop()

    asyncio.run(scenario())


def test_sudo_password_goes_on_stdin_never_on_the_command_line(tmp_path: Path) -> None:
    async def scenario() -> None:
        srv = Server(tmp_path)
        await srv.start(asyncssh.generate_private_key("ssh-ed25519"))
        target = dataclasses.replace(srv.target(tmp_path / "known_hosts"), user="pi")
        transport = await SshTransport.connect(target, become_password=Secret("hunter2"))
        try:
            result = await transport.run("cat stdin", sudo=True, stdin="body", timeout=10)
        finally:
            await transport.close()
        cmd_line = result.stdout.splitlines()[0]
        # this server's `sudo -n true` succeeds: sudo needs no password, so none is sent
        # (test_security.py covers a sudo that asks)
        assert cmd_line.startswith("cmd=sudo -n sh -c")
        assert "hunter2" not in result.stdout
        assert "stdin=body" in result.stdout
        await srv.stop()

    asyncio.run(scenario())


def test_nobody_listening_is_a_connect_error_naming_the_host(tmp_path: Path) -> None:
    async def scenario() -> None:
        srv = Server(tmp_path)
        await srv.start(asyncssh.generate_private_key("ssh-ed25519"))
        target = srv.target(tmp_path / "known_hosts")
        await srv.stop()
        with pytest.raises(ConnectError, match=r"^pi1: cannot connect to 127.0.0.1:\d+"):
            await _connect_and_run(target)

    asyncio.run(scenario())


class _PasswordServer(asyncssh.SSHServer):
    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        return password == "correct horse"


def test_login_password_is_used_only_when_given(tmp_path: Path) -> None:
    """`keys` logs in with a password once; every other connection offers keys only."""
    async def scenario() -> None:
        host_key = asyncssh.generate_private_key("ssh-ed25519")
        server = await asyncssh.listen("127.0.0.1", 0, server_host_keys=[host_key],
                                       server_factory=_PasswordServer, process_factory=_echo,
                                       encoding=None)
        port = server.sockets[0].getsockname()[1]
        target = SshTarget(name="pi1", address="127.0.0.1", port=port, user="pi",
                           known_hosts=tmp_path / "known_hosts", connect_timeout=5, use_agent=False)
        try:
            transport = await SshTransport.connect(target, login_password=Secret("correct horse"))
            assert (await transport.run("echo hi", timeout=10)).ok
            await transport.close()
            with pytest.raises(ConnectError, match="the password was refused"):
                await SshTransport.connect(target, login_password=Secret("wrong"))
            with pytest.raises(ConnectError, match="no accepted key"):
                await SshTransport.connect(target)
        finally:
            server.close()
            await server.wait_closed()

    asyncio.run(scenario())
