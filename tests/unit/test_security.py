"""Regression tests of issue 12 (security review): each failed before its fix.

A local asyncssh server records every command line and its stdin (as a host would see them);
crafted archives and malformed inputs go through the same code as the CLI's.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import io
import os
import shutil
import socket
import subprocess
import tarfile
from pathlib import Path
from typing import ClassVar

import asyncssh
import pytest

from cloudmesh.swarm import backup
from cloudmesh.swarm.cli.main import _extras, build_parser, load_inventory, main
from cloudmesh.swarm.errors import HostKeyError, InputError
from cloudmesh.swarm.options import RunOptions
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


def _sudo_run(tmp: Path, sudo_n_status: int) -> tuple[list[tuple[str, bytes]], int]:
    """Three sudo steps with a become password against a host whose `sudo -n true` exits
    `sudo_n_status`; (command, stdin) of each step, and how often sudo was asked."""
    async def scenario() -> RecordingServer:
        srv = RecordingServer(tmp, sudo_n_status)
        await srv.start()
        target = dataclasses.replace(srv.target(tmp / "known_hosts"), user="pi")
        try:
            transport = await SshTransport.connect(target, become_password=Secret("hunter2"))
            try:
                assert (await transport.run("cat > /etc/x", sudo=True, stdin="payload\n", timeout=10)).ok
                assert (await transport.put(b"file body\n", "/etc/y", sudo=True)).ok
                assert (await transport.run("cat > /etc/z", sudo=True, stdin="more\n", timeout=10)).ok
            finally:
                await transport.close()
        finally:
            await srv.stop()
        return srv

    seen = asyncio.run(scenario()).seen
    return [(c, d) for c, d in seen if c != "sudo -n true"], [c for c, _ in seen].count("sudo -n true")


# -- 3: the become password reaches sudo only, never the payload ---------------------------

def test_become_password_is_not_fed_to_a_passwordless_sudo(tmp_path: Path) -> None:
    """Pi OS's first user: sudo asks nothing, so the password must not be sent at all."""
    work, asked = _sudo_run(tmp_path, sudo_n_status=0)
    assert [d for _, d in work] == [b"payload\n", b"file body\n", b"more\n"]
    assert all(c.startswith("sudo -n sh -c") and "hunter2" not in c for c, _ in work)
    assert asked == 1  # once per connection


def test_become_password_goes_only_to_a_sudo_that_reads_it(tmp_path: Path) -> None:
    work, _ = _sudo_run(tmp_path, sudo_n_status=1)
    # -k: sudo ignores a cached login, so it always reads (and consumes) the password line
    assert all(c.startswith("sudo -k -S -p '' sh -c") and "hunter2" not in c for c, _ in work)
    assert [d for _, d in work] == [b"hunter2\npayload\n", b"hunter2\nfile body\n",
                                    b"hunter2\nmore\n"]


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



# -- 1, 2: restore checks the archive first and never destroys the target -------------------





def _tar(*members: tarfile.TarInfo, data: bytes = b"x") -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for member in members:
            if member.isreg():
                member.size = len(data)
                archive.addfile(member, io.BytesIO(data))
            else:
                archive.addfile(member)
    return out.getvalue()


def _member(name: str, kind: bytes = tarfile.REGTYPE, mode: int = 0o600, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.linkname = kind, mode, link
    return info


GOOD = (_member("swarm", tarfile.DIRTYPE, 0o700), _member("swarm/raft", tarfile.DIRTYPE, 0o700),
        _member("swarm/raft/wal-0"), _member("swarm/state.json"))


@pytest.mark.parametrize("bad, why", [
    (_member("containers/abc/hostconfig.json"), "outside swarm/"),
    (_member("swarm/../containers/x"), "outside swarm/"),
    (_member("/etc/cron.d/x"), "outside swarm/"),
    (_member("swarmy/x"), "outside swarm/"),
    (_member("swarm/ln", tarfile.SYMTYPE, link="/etc"), "a link or device"),
    (_member("swarm/hl", tarfile.LNKTYPE, link="swarm/raft/wal-0"), "a link or device"),
    (_member("swarm/dev", tarfile.CHRTYPE), "a link or device"),
    (_member("swarm/fifo", tarfile.FIFOTYPE), "a link or device"),
    (_member("swarm/suid", mode=0o4755), "setuid"),
    (_member("swarm/dir", tarfile.DIRTYPE, mode=0o1777), "setuid"),
])
def test_restore_refuses_a_crafted_archive_before_any_host(tmp_path: Path, bad: tarfile.TarInfo,
                                                           why: str) -> None:
    path = tmp_path / "crafted.tar.gz"
    path.write_bytes(_tar(*GOOD, bad))
    with pytest.raises(InputError, match=why):
        backup.check_archive(path)


def test_restore_refuses_random_bytes_empty_fifo_and_a_binary_sha256(tmp_path: Path) -> None:
    path = tmp_path / "random.tar.gz"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(InputError, match="not a gzip'd tar archive"):
        backup.check_archive(path)
    path.write_bytes(_tar())
    with pytest.raises(InputError, match="empty archive"):
        backup.check_archive(path)
    fifo = tmp_path / "fifo.tar.gz"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="not a regular file"):
        backup.check_archive(fifo)
    path.write_bytes(_tar(*GOOD))
    (tmp_path / "random.tar.gz.sha256").write_bytes(b"\xff\xfe\x00 binary")
    with pytest.raises(InputError, match="not a sha256 file"):
        backup.check_archive(path)


def test_restore_refuses_too_much_unpacked_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backup, "MAX_UNPACKED", 100)
    path = tmp_path / "big.tar.gz"
    path.write_bytes(_tar(*GOOD, data=b"\0" * 1000))
    with pytest.raises(InputError, match="bytes unpacked"):
        backup.check_archive(path)


FAKE_DOCKER = """#!/bin/sh
echo "docker $*" >> "$LOG"
case "$1 $2" in
  "swarm init") exit "${INIT_STATUS:-0}";;
  "info --format") echo active;;
esac
exit 0
"""


def _run_restore_script(tmp_path: Path, archive: bytes, init_status: int = 0) -> tuple[int, str, Path]:
    """The real restore script under sh, on a fake /var/lib/docker with fake docker/systemctl."""
    root = tmp_path / "docker"
    (root / "swarm").mkdir(parents=True, exist_ok=True)
    (root / "swarm" / "old-state").write_text("the cluster as it was")
    (root / "cms-swarm-restore.tar.gz").write_bytes(archive)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in ("docker", "systemctl"):
        (bin_dir / tool).write_text(FAKE_DOCKER.replace("docker $*", f"{tool} $*"))
        (bin_dir / tool).chmod(0o755)
    log = tmp_path / "log"
    log.write_text("")
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", LOG=str(log),
               INIT_STATUS=str(init_status))
    script = backup.restore_script("10.0.0.5", hashlib.sha256(archive).hexdigest(), str(root))
    done = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    return done.returncode, log.read_text(), root


def test_restore_script_leaves_the_host_untouched_when_the_archive_is_bad(tmp_path: Path) -> None:
    for archive in (os.urandom(2048), _tar(_member("containers/x")),
                    _tar(*GOOD, _member("swarm/ln", tarfile.SYMTYPE, link="/etc"))):
        status, log, root = _run_restore_script(tmp_path, archive)
        assert status != 0
        assert "systemctl stop" not in log  # Docker never stopped: nothing was touched
        assert (root / "swarm" / "old-state").read_text() == "the cluster as it was"
        assert sorted(p.name for p in root.iterdir()) == ["swarm"]  # staging and upload gone


def test_restore_script_puts_the_old_state_back_when_init_fails(tmp_path: Path) -> None:
    status, log, root = _run_restore_script(tmp_path, _tar(*GOOD), init_status=1)
    assert status != 0
    assert (root / "swarm" / "old-state").read_text() == "the cluster as it was"
    assert not (root / "swarm" / "state.json").exists()
    assert log.rstrip().splitlines()[-1] == "systemctl start docker"  # Docker runs again
    assert sorted(p.name for p in root.iterdir()) == ["swarm"]


def test_restore_script_swaps_in_the_archive(tmp_path: Path) -> None:
    status, log, root = _run_restore_script(tmp_path, _tar(*GOOD))
    assert status == 0, log
    assert (root / "swarm" / "state.json").exists() and not (root / "swarm" / "old-state").exists()
    assert "docker swarm init --force-new-cluster --advertise-addr 10.0.0.5" in log
    assert sorted(p.name for p in root.iterdir()) == ["swarm"]


# -- 6: backup -o is checked before any host is contacted -----------------------------------




def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CMS_SWARM_HOME", str(tmp_path / "home"))
    return tmp_path


def test_backup_output_is_checked_before_connecting(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    port = str(_closed_port())  # nothing listens: a check after connecting would say so
    hosts = ["pi1=127.0.0.1", "--port", port, "--connect-timeout", "2"]
    existing = home / "old.tar.gz"
    existing.write_text("keep me")
    cases = [(str(home) + "/", "is a directory"), (str(home), "is a directory"),
             (str(home / "missing" / "b.tar.gz"), "does not exist"), (str(existing), "exists; add --force")]
    for output, why in cases:
        assert main(["backup", *hosts, "-o", output]) == 2
        err = capsys.readouterr().err
        assert why in err and len(err.strip().splitlines()) == 1 and "cannot connect" not in err
    assert existing.read_text() == "keep me"
    assert not list(Path("/").glob(".*.partial"))
    # --force passes the check (and then fails to connect: exit 1, not a silent overwrite)
    assert main(["backup", *hosts, "-o", str(existing), "--force"]) == 1
    assert existing.read_text() == "keep me"


def test_backup_and_restore_against_an_unreachable_host_exit_1_in_one_line(
        home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    port = str(_closed_port())
    assert main(["backup", "pi1=127.0.0.1", "--port", port, "-o", str(home / "b.tar.gz")]) == 1
    err = capsys.readouterr().err
    assert "cannot connect" in err and "no swarm" not in err
    archive = home / "ok.tar.gz"
    archive.write_bytes(_tar(*GOOD))
    assert main(["restore", str(archive), "--host", "pi9=127.0.0.1", "--port", port]) == 1
    err = capsys.readouterr().err
    assert "cannot connect" in err and "Traceback" not in err and "KeyError" not in err


# -- 4: harden proves key login with the agent off and the configured key only --------------




def _connector_for(argv: list[str]):  # type: ignore[no-untyped-def]
    args = build_parser().parse_args(argv)
    return _extras(args, load_inventory(args))[1]


@pytest.mark.skipif(shutil.which("ssh-agent") is None, reason="needs ssh-agent")
def test_harden_refuses_when_only_the_agent_can_log_in(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    srv = RecordingServer(tmp_path)
    other = tmp_path / "other_key"  # the configured key: not authorized on the host
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(str(other))
    agent = subprocess.run(["ssh-agent", "-s"], capture_output=True, text=True, check=True).stdout
    env = dict(line.split(";")[0].split("=", 1) for line in agent.splitlines() if "=" in line.split(";")[0])
    try:
        monkeypatch.setenv("SSH_AUTH_SOCK", env["SSH_AUTH_SOCK"])
        srv.client_key_path.chmod(0o600)
        subprocess.run(["ssh-add", "-q", str(srv.client_key_path)], check=True, env=dict(os.environ),
                       capture_output=True)  # the agent holds the authorized key

        async def scenario() -> None:
            await srv.start()
            try:
                import getpass

                connect = _connector_for(["harden", "pi1=127.0.0.1", "--user", getpass.getuser(),
                                          "--port", str(srv.port), "--key", str(other)])
                target = dataclasses.replace(srv.target(tmp_path / "known_hosts"), key=other)
                from cloudmesh.swarm.errors import ConnectError

                with pytest.raises(ConnectError, match="alone .no ssh agent. was refused; harden "
                                   "would lock you out"):
                    await connect(target, RunOptions())
                # the key that remains works: harden goes on
                ok = dataclasses.replace(target, key=srv.client_key_path)
                await (await connect(ok, RunOptions())).close()
            finally:
                await srv.stop()

        asyncio.run(scenario())
    finally:
        subprocess.run(["kill", env["SSH_AGENT_PID"]], check=False)


# -- 13: keys sends the password only to a pinned or accepted host key ----------------------

class _PasswordRecorder(asyncssh.SSHServer):
    tried: ClassVar[list[str]] = []

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        self.tried.append(password)
        return password == "pw"


def test_keys_refuses_an_unknown_host_key_before_sending_the_password(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("pw\n"))
    host_key = asyncssh.generate_private_key("ssh-ed25519")

    async def scenario() -> None:
        server = await asyncssh.listen("127.0.0.1", 0, server_host_keys=[host_key],
                                       server_factory=_PasswordRecorder, process_factory=lambda p: p.exit(0))
        port = server.sockets[0].getsockname()[1]
        target = SshTarget(name="pi1", address="127.0.0.1", port=port, user="pi",
                           known_hosts=tmp_path / "known_hosts", connect_timeout=5, use_agent=False)
        try:
            connect = _connector_for(["keys", "pi1=127.0.0.1", "--password-stdin"])
            with pytest.raises(HostKeyError) as caught:
                await connect(target, RunOptions())
            assert host_key.get_fingerprint() in str(caught.value)
            assert "--accept-host-key" in str(caught.value)
            assert _PasswordRecorder.tried == [] and not (tmp_path / "known_hosts").exists()
            monkeypatch.setattr("sys.stdin", io.StringIO("pw\n"))
            connect = _connector_for(["keys", "pi1=127.0.0.1", "--password-stdin", "--accept-host-key"])
            await (await connect(target, RunOptions())).close()
            assert _PasswordRecorder.tried == ["pw"]
        finally:
            server.close()
            await server.wait_closed()

    asyncio.run(scenario())


# -- 9, 10, 14: bad input is exit 2 in one line, before any host is contacted ---------------

@pytest.mark.timeout(30)  # -i /dev/zero: before the fix, read forever
@pytest.mark.parametrize("argv, why", [
    (["verify", "pi1=127.0.0.1", "--test-image=-v/:/host"], "--test-image: '-v/:/host' is not an image"),
    (["create", "pi1=127.0.0.1", "--test-image", "busybox --privileged"], "--test-image"),
    (["hostname", "127.0.0.[5-6]"], "127.0.0.5: not a host name"),
    (["hostname", "2130706433"], "not a host name"),
    (["status", "pi1=127.0.0.1", "--key", "/nonexistent/key"], "--key: /nonexistent/key is not a file"),
    (["status", "pi1=127.0.0.1", "--connect-timeout", "nan"], "--connect-timeout"),
    (["status", "pi1=127.0.0.1", "--connect-timeout", "inf"], "--connect-timeout"),
    (["status", "-i", "/dev/zero"], "not a regular file"),
])
def test_bad_input_is_one_line_and_exit_2(home: Path, capsys: pytest.CaptureFixture[str],
                                          argv: list[str], why: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert why in err and len(err.strip().splitlines()) == 1, err
    assert not (home / "home" / "logs").exists()  # no host was contacted


@pytest.mark.timeout(30)  # before the fix: read forever
def test_an_inventory_fifo_is_refused_not_waited_on(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fifo = home / "inv.yaml"
    os.mkfifo(fifo)
    assert main(["check", "-i", str(fifo)]) == 2
    assert "not a regular file" in capsys.readouterr().err


def test_too_many_hosts_for_the_open_file_limit_is_bad_input(
        home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import resource

    monkeypatch.setattr(resource, "getrlimit", lambda _: (1024, 1024))
    assert main(["check", "127.0.[0-3].[1-250]", "--connect-timeout", "1"]) == 2  # loopback only
    assert "ulimit -n" in capsys.readouterr().err


def test_an_unexpected_exception_is_one_line_with_the_log_path(
        home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(args: object) -> int:
        raise KeyError("SWMTKN-1-secret")

    monkeypatch.setattr("cloudmesh.swarm.cli.main.dispatch", boom)
    assert main(["status", "pi1=127.0.0.1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: internal error: KeyError") and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err and "secret" not in err
    log = home / "home" / "logs" / "internal-errors.log"
    assert "Traceback" in log.read_text() and oct(log.stat().st_mode & 0o777) == "0o600"
