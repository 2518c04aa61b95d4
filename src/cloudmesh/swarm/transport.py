"""Run commands on a host: the Transport protocol and SshTransport, the only SSH code.

One SSH connection per host for the whole command; each command is a channel on it,
with a timeout. Every asyncssh or OS exception becomes one of ours in `_translate`.
Host keys: the known_hosts file is trusted; an unknown host is recorded there
(accept-new) unless strict; a changed key is always refused.
"""

from __future__ import annotations

import asyncio
import ipaddress
import shlex
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Protocol

from cloudmesh.swarm.errors import ConnectError, HostKeyError, LoginRefused, SwarmError
from cloudmesh.swarm.known_hosts import entry_name, known_hosts_file
from cloudmesh.swarm.plan import Secret
from cloudmesh.swarm.private_files import parent_dir, write_private

if TYPE_CHECKING:
    import asyncssh
    from typing_extensions import Self  # typing.Self from Python 3.11 on


@dataclass(frozen=True)
class Result:
    """What one remote command did; exit_status None means it timed out."""

    exit_status: int | None
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_status == 0


class Transport(Protocol):
    """What phases need from a host connection (pyinfra's connector, trimmed)."""

    name: str

    async def run(
        self, command: str, *, sudo: bool = False, stdin: str = "", timeout: float = 60.0
    ) -> Result: ...

    async def put(self, data: bytes, path: str, *, mode: str = "0644", sudo: bool = False) -> Result: ...

    async def stream_out(self, command: str, sink: Callable[[bytes], Awaitable[None] | None], *,
                         sudo: bool = False, timeout: float | None = None,
                         chunk: int = 1 << 20) -> Result: ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class SshTarget:
    """Where and as whom to connect; built from the inventory by the runner."""

    name: str
    address: str
    port: int = 22
    user: str = "pi"
    key: Path | None = None
    known_hosts: Path | None = None
    strict_host_keys: bool = False
    connect_timeout: float = 15.0
    use_agent: bool = True  # False: only `key` may log in (to prove that this key works)
    strict_reason: str = "--strict-host-keys is set; add it with ssh-keyscan after checking it"


def _is_name(address: str) -> bool:
    """A DNS name, not an IP address literal."""
    try:
        ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return True
    return False


def sudo_prefix(user: str, password: Secret | None) -> str:
    """How to become root: nothing for root; `sudo -k -S` (cache ignored, so sudo always
    reads the password line) when a password is needed; else `sudo -n`, which never reads."""
    if user == "root":
        return ""
    return "sudo -k -S -p '' " if password is not None else "sudo -n "


class SshTransport:
    """A Transport over one asyncssh connection; `async with await SshTransport.connect(...)
    as transport:` closes it however the block ends (as asyncssh's own connections do)."""

    def __init__(self, target: SshTarget, conn: asyncssh.SSHClientConnection,
                 become_password: Secret | None = None) -> None:
        self.name = target.name
        self.target = target
        self._conn = conn
        self._password = become_password
        self._needs_password: bool | None = None  # probed once: does sudo ask at all?
        self.warnings: list[str] = []  # e.g. skipped known_hosts lines, for the runner to show
        peer = conn.get_extra_info("peername")
        self.peer_address: str = str(peer[0]) if peer else target.address

    @classmethod
    async def connect(cls, target: SshTarget, become_password: Secret | None = None,
                      login_password: Secret | None = None) -> SshTransport:
        """Open the connection; raise ConnectError or HostKeyError naming the host.

        `login_password` is only for bootstrapping key access (`keys`); it stays in memory.
        """
        import asyncssh

        known_hosts = known_hosts_file(target.known_hosts)
        policy = _HostKeyPolicy(target, known_hosts)
        options: dict[str, object] = {}
        if target.key is not None:
            key = target.key.expanduser()
            if not key.is_file():
                raise ConnectError(target.name, f"SSH key {key} does not exist")
            options["client_keys"] = [str(key)]
        if not target.use_agent:
            options["agent_path"] = None
        if login_password is not None:
            options["password"] = login_password.reveal()
            options["preferred_auth"] = "publickey,keyboard-interactive,password"
        else:
            options["preferred_auth"] = "publickey"
        # IPv4 first for names (pi1.local answers mDNS with a link-local IPv6 address too, which
        # a swarm cannot advertise); a name with IPv6 addresses only is then tried as it is.
        name = _is_name(target.address)

        async def open_(family: int) -> asyncssh.SSHClientConnection:
            return await asyncssh.connect(
                target.address,
                port=target.port,
                username=target.user,
                known_hosts=policy.trusted(),
                client_factory=policy.client,
                connect_timeout=target.connect_timeout,
                login_timeout=target.connect_timeout,
                keepalive_interval=30,
                family=family,
                **options,
            )

        try:
            try:
                conn = await open_(socket.AF_INET if name else socket.AF_UNSPEC)
            except socket.gaierror:
                if not name:
                    raise
                conn = await open_(socket.AF_UNSPEC)
        except (OSError, asyncssh.Error, asyncio.TimeoutError) as error:
            how = ("the password was refused" if login_password is not None else
                   "no accepted key; install one with `cms-swarm keys HOST` or check --user/--key")
            raise _translate(
                error, target.name, f"cannot connect to {target.address}:{target.port}",
                detail=_reason, key_error=policy.error,
                refused=f"SSH login as {target.user!r} was refused ({how})") from None
        transport = cls(target, conn, become_password)
        transport.warnings = policy.warnings
        return transport

    async def _wrap(self, command: str, sudo: bool) -> tuple[str, str]:
        """The command line for `command` in sh (as root with `sudo`), and what must precede
        its stdin: the become password line, only when sudo will read it. Never on argv.

        Where sudo needs no password (Pi OS's first user), `sudo -S` would not read the line,
        and the password would become the step's own stdin: so ask sudo first (`sudo -n true`)
        and send the password only to a sudo that is known to read it."""
        wrapped = f"sh -c {shlex.quote(command)}"
        if not sudo:
            return wrapped, ""
        password = self._password
        if password is not None and self.target.user != "root" and not await self._sudo_asks():
            password = None
        prefix = sudo_prefix(self.target.user, password)
        secret = password.reveal() + "\n" if prefix and password is not None else ""
        return prefix + wrapped, secret

    async def _sudo_asks(self) -> bool:
        """Whether sudo wants a password for this user (asked once per connection)."""
        import asyncssh

        if self._needs_password is None:
            try:
                done = await self._conn.run("sudo -n true", timeout=30, check=False)
            except (OSError, asyncssh.Error) as error:
                raise _translate(error, self.name, "connection lost") from None
            self._needs_password = done.exit_status != 0
        return self._needs_password

    async def run(
        self, command: str, *, sudo: bool = False, stdin: str = "", timeout: float = 60.0
    ) -> Result:
        """Run `command` in sh; with sudo as root; stdin may carry secrets, never argv."""
        import asyncssh

        wrapped, secret = await self._wrap(command, sudo)
        stdin = secret + stdin
        try:
            done = await self._conn.run(wrapped, input=stdin or None, timeout=timeout, check=False)
        except asyncssh.TimeoutError as error:
            return Result(None, _text(error.stdout), _text(error.stderr) + f"\ntimed out after {timeout:.0f} s")
        except (OSError, asyncssh.Error) as error:
            raise _translate(error, self.name, "connection lost") from None
        return Result(done.exit_status if done.exit_status is not None else 255,
                      _text(done.stdout), _text(done.stderr))

    async def put(self, data: bytes, path: str, *, mode: str = "0644", sudo: bool = False) -> Result:
        """Write `data` to `path` atomically (temp file then rename), via stdin."""
        import asyncssh

        tmp = f"{path}.cms-swarm-tmp"
        command = (f"cat > {shlex.quote(tmp)} && chmod {mode} {shlex.quote(tmp)} "
                   f"&& mv -f {shlex.quote(tmp)} {shlex.quote(path)}")
        wrapped, secret = await self._wrap(command, sudo)
        payload = secret.encode() + data
        try:
            done = await self._conn.run(wrapped, input=payload, encoding=None, timeout=120, check=False)
        except (OSError, asyncssh.Error) as error:
            raise _translate(error, self.name, f"upload of {path} failed") from None
        return Result(done.exit_status if done.exit_status is not None else 255,
                      _text(done.stdout), _text(done.stderr))

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        traceback: TracebackType | None) -> None:
        await self.close()

    async def close(self) -> None:
        self._conn.close()
        try:
            await asyncio.wait_for(self._conn.wait_closed(), 5)
        except (asyncio.TimeoutError, OSError):
            pass

    async def stream_out(self, command: str, sink: Callable[[bytes], Awaitable[None] | None], *,
                         sudo: bool = False, timeout: float | None = None,
                         chunk: int = 1 << 20) -> Result:
        """Run `command` and hand its binary stdout to `sink` chunk by chunk (a whole SD card:
        never held in memory; SSH flow control makes the host wait while `sink` is busy).
        Result.stdout is empty; stderr is collected; timeout None means no limit."""
        import asyncssh

        wrapped, password_line = await self._wrap(command, sudo)
        secret = password_line.encode()
        try:
            process = await self._conn.create_process(wrapped, encoding=None)
        except (OSError, asyncssh.Error) as error:
            raise _translate(error, self.name, "connection lost") from None
        errors: list[bytes] = []

        async def pump() -> None:
            if secret:
                process.stdin.write(secret)
            process.stdin.write_eof()
            while data := await process.stdout.read(chunk):
                done = sink(data)
                if done is not None:
                    await done

        async def drain_stderr() -> None:
            while data := await process.stderr.read(65536):
                errors.append(data)

        try:
            async def finish() -> None:  # not process.wait(): it would read stdout itself
                await asyncio.gather(pump(), drain_stderr())
                await process.wait_closed()

            await asyncio.wait_for(finish(), timeout)
        except asyncio.TimeoutError:
            process.close()
            return Result(None, "", _text(b"".join(errors)) + f"\ntimed out after {timeout:.0f} s")
        except (OSError, asyncssh.Error) as error:
            process.close()
            raise _translate(error, self.name, "connection lost") from None
        except BaseException:
            process.close()
            raise
        status = process.exit_status
        return Result(status if status is not None else 255, "", _text(b"".join(errors)))


def _translate(error: BaseException, host: str, doing: str, *,
               detail: Callable[[BaseException], str] = str, key_error: HostKeyError | None = None,
               refused: str = "") -> SwarmError:
    """The one map from asyncssh's and the OS's exceptions to ours, so that every SSH failure
    reads `HOST: DOING: why` and the CLI maps it to exit 1. At login: `refused` is the
    LoginRefused text for a refused key or password, `key_error` why our host-key policy
    refused the key (asyncssh only says "not verifiable")."""
    import asyncssh

    if refused and isinstance(error, asyncssh.PermissionDenied):
        return LoginRefused(host, refused)
    if key_error is not None:
        return key_error
    if isinstance(error, asyncssh.HostKeyNotVerifiable):
        return HostKeyError(host, str(error))
    return ConnectError(host, f"{doing}: {detail(error)}")


def _reason(error: BaseException) -> str:
    """The short why of a failed connect: the OS's words without `[Errno N]`, asyncssh's reason."""
    reason = getattr(error, "strerror", None) or getattr(error, "reason", None) or str(error)
    return str(reason or type(error).__name__)


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


class _HostKeyPolicy:
    """accept-new / strict host-key checking on top of asyncssh's known_hosts matching."""

    def __init__(self, target: SshTarget, path: Path) -> None:
        self.target = target
        self.path = path
        self.error: HostKeyError | None = None
        self.warnings: list[str] = []

    def trusted(self) -> object:
        """What asyncssh should trust: the file's entries (an empty set when it is absent)."""
        return self._known() or ([], [], [])

    def _known(self) -> asyncssh.SSHKnownHosts | None:
        """The file's entries; a malformed line is skipped with a warning, as OpenSSH does."""
        import asyncssh

        if not self.path.is_file():
            return None
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except OSError as error:
            raise HostKeyError(self.target.name, f"cannot read {self.path}: {error.strerror}") from None
        try:
            return asyncssh.import_known_hosts(text)  # the usual case: every line is fine
        except (ValueError, asyncssh.Error):
            pass
        good = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            try:
                asyncssh.import_known_hosts(line)
            except (ValueError, asyncssh.Error) as error:
                warning = f"{self.path}:{number}: malformed line skipped ({error})"
                if warning not in self.warnings:
                    self.warnings.append(warning)
                continue
            good.append(line)
        return asyncssh.import_known_hosts("\n".join(good) + "\n")

    def known_fingerprints(self, host: str, addr: str, port: int) -> list[str]:
        """Fingerprints the file holds for this host (non-empty: a mismatch is a *changed* key)."""
        known = self._known()
        if known is None:
            return []
        found: list[str] = []
        for name in {host, addr, self.target.address}:
            keys = known.match(name, addr, port)
            found += [key.get_fingerprint() for key in keys[0]]
            found += ["a CA key" for _ in keys[1]]
        return sorted(set(found))

    def client(self) -> asyncssh.SSHClient:
        import asyncssh

        policy = self

        class _Client(asyncssh.SSHClient):
            def validate_host_public_key(
                self, host: str, addr: str, port: int, key: asyncssh.SSHKey
            ) -> bool:
                return policy.decide(host, addr, port, key)

        return _Client()

    def decide(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        """Called by asyncssh when no trusted key matched: new host, or changed key."""
        name = self.target.name
        fingerprint = key.get_fingerprint()
        entry = entry_name(self.target.address, port)
        old = self.known_fingerprints(host, addr, port)
        if old:
            self.error = HostKeyError(
                name,
                f"host key of {self.target.address} has CHANGED: known {', '.join(old)}, offered "
                f"{fingerprint}; if the host was reinstalled, accept the new key with: "
                f"ssh-keygen -f {self.path} -R '{entry}' (then re-run; it is recorded)",
            )
            return False
        if self.target.strict_host_keys:
            self.error = HostKeyError(
                name,
                f"host key of {self.target.address} is not in {self.path} ({fingerprint}) and "
                + self.target.strict_reason,
            )
            return False
        parent_dir(self.path)
        write_private(self.path, f"{entry} {key.export_public_key().decode().strip()}\n", append=True)
        return True
