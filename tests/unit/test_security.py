"""Regression tests of issue 12 (security review): each failed before its fix.

A local asyncssh server records every command line and its stdin (as a host would see them);
crafted archives and malformed inputs go through the same code as the CLI's.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import asyncssh
from cloudmesh.swarm.plan import Secret
from cloudmesh.swarm.transport import SshTarget, SshTransport

from .test_hostkeys import Server


class RecordingServer(Server):
    """Records (command, stdin) of every channel; `sudo -n true` exits `sudo_n_status`."""

    def __init__(self, tmp: Path, sudo_n_status: int = 0) -> None:
        super().__init__(tmp)
        self.sudo_n_status = sudo_n_status
        self.seen: list[tuple[str, bytes]] = []

    async def _process(self, process: asyncssh.SSHServerProcess) -> None:
        command = process.command or ""
        if command == "sudo -n true":
            self.seen.append((command, b""))
            process.exit(self.sudo_n_status)
            return
        data = await process.stdin.read()
        self.seen.append((command, data))
        process.stdout.write(b"ok\n")
        process.exit(0)

    async def start(self, host_key: asyncssh.SSHKey | None = None) -> None:
        await self.stop()
        self.server = await asyncssh.listen(
            "127.0.0.1", self.port,
            server_host_keys=[host_key or asyncssh.generate_private_key("ssh-ed25519")],
            authorized_client_keys=self.authorized, process_factory=self._process, encoding=None)
        self.port = self.server.sockets[0].getsockname()[1]


async def _sudo_run(srv: RecordingServer, tmp: Path, password: str = "hunter2") -> None:
    target = dataclasses.replace(srv.target(tmp / "known_hosts"), user="pi")
    transport = await SshTransport.connect(target, become_password=Secret(password))
    try:
        assert (await transport.run("cat > /etc/x", sudo=True, stdin="payload\n", timeout=10)).ok
        assert (await transport.put(b"file body\n", "/etc/y", sudo=True)).ok
        assert (await transport.run("cat > /etc/z", sudo=True, stdin="more\n", timeout=10)).ok
    finally:
        await transport.close()


# -- 3: the become password reaches sudo only, never the payload ---------------------------

def test_become_password_is_not_fed_to_a_passwordless_sudo(tmp_path: Path) -> None:
    """Pi OS's first user: sudo asks nothing, so the password must not be sent at all."""
    async def scenario() -> None:
        srv = RecordingServer(tmp_path, sudo_n_status=0)
        await srv.start()
        try:
            await _sudo_run(srv, tmp_path)
        finally:
            await srv.stop()
        work = [(c, d) for c, d in srv.seen if c != "sudo -n true"]
        assert [d for _, d in work] == [b"payload\n", b"file body\n", b"more\n"]
        assert all(c.startswith("sudo -n sh -c") for c, _ in work)
        assert not any(b"hunter2" in d or "hunter2" in c for c, d in srv.seen)
        assert [c for c, _ in srv.seen].count("sudo -n true") == 1  # asked once per connection

    asyncio.run(scenario())


def test_become_password_goes_only_to_a_sudo_that_reads_it(tmp_path: Path) -> None:
    async def scenario() -> None:
        srv = RecordingServer(tmp_path, sudo_n_status=1)
        await srv.start()
        try:
            await _sudo_run(srv, tmp_path)
        finally:
            await srv.stop()
        work = [(c, d) for c, d in srv.seen if c != "sudo -n true"]
        # -k: sudo ignores a cached login, so it always reads (and consumes) the password line
        assert all(c.startswith("sudo -k -S -p '' sh -c") and "hunter2" not in c for c, _ in work)
        assert [d for _, d in work] == [b"hunter2\npayload\n", b"hunter2\nfile body\n",
                                        b"hunter2\nmore\n"]

    asyncio.run(scenario())


# -- 16: a malformed known_hosts line is skipped with a warning, as OpenSSH does -----------

def test_a_malformed_known_hosts_line_is_skipped_with_a_warning(tmp_path: Path) -> None:
    async def scenario() -> None:
        srv = RecordingServer(tmp_path)
        key = asyncssh.generate_private_key("ssh-ed25519")
        await srv.start(key)
        known = tmp_path / "known_hosts"
        pinned = f"[127.0.0.1]:{srv.port} {key.export_public_key().decode().strip()}"
        known.write_text(f"# comment\n@bogus-marker host ssh-ed25519 AAAA\nbadhost\n{pinned}\n")
        try:
            target: SshTarget = dataclasses.replace(srv.target(known, strict=True))
            transport = await SshTransport.connect(target)
            await transport.close()
        finally:
            await srv.stop()
        assert len(transport.warnings) == 2
        assert transport.warnings[0].startswith(f"{known}:2: malformed line skipped")
        assert transport.warnings[1].startswith(f"{known}:3: malformed line skipped")

    asyncio.run(scenario())

