"""Back up a manager's swarm state and restore it on a (fresh) host, as Docker's admin guide
says: stop Docker on one manager, archive /var/lib/docker/swarm, start it again; restore by
unpacking that directory on the new host and `docker swarm init --force-new-cluster`.
What runs on the host is a plan (phases/backup.py), so `--dry-run` shows exactly that; this
module does the local side and the checks.

The archive holds the swarm's Raft log and keys (with services, configs and secrets; the
secrets are readable unless autolock is on), so it is written 0600 with a sha256 beside it.
It streams over the command's single SSH connection; nothing lands on the host's disk.

Restore checks everything it can before it changes anything, so exit 2 means nothing was
done on any host. Here, before any host is contacted: the archive is a readable regular
file of bounded size, matches its .sha256 (when there is one), and is a gzip'd tar of
regular files and directories under `swarm/` only (no links, devices or setuid bits, bounded
sizes). Then, from the host's facts before the first change: the host was reached (exit 1
otherwise), it is not in a swarm already unless --force (exit 2), and the preflight checks of
the prepare and install phases (sudo, OS, architecture, memory, disk, clock, daemon.json,
...) pass (exit 1). On the host, the restore script checks the upload's sha256 and members
again before it stops Docker, and puts the old state back on any failure.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import stat
import tarfile
import time
import zlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol

from cloudmesh.swarm.errors import CommandError, HostError, InputError, PreflightError, UsageError
from cloudmesh.swarm.inventory import Inventory
from cloudmesh.swarm.options import RunOptions
from cloudmesh.swarm.phases import Phase
from cloudmesh.swarm.phases.backup import (
    DOCKER_ROOT,
    START,
    STOP,
    UPLOAD,
    WAIT_ACTIVE,
    BackupPhase,
    RestorePhase,
    backup_source,
    restore_script,
)
from cloudmesh.swarm.phases.install import InstallPhase
from cloudmesh.swarm.phases.prepare import PreparePhase
from cloudmesh.swarm.private_files import open_private
from cloudmesh.swarm.report import Reporter
from cloudmesh.swarm.runner import Connector, Runner, ssh_connector
from cloudmesh.swarm.sha256_file import expected_sha256, sidecar, write_sha256_file

__all__ = ["DOCKER_ROOT", "START", "STOP", "UPLOAD", "WAIT_ACTIVE", "BackupError", "check_archive",
           "check_members", "check_output", "restore_script", "run_backup", "run_restore"]
MAX_ARCHIVE = 2 << 30  # bytes of .tar.gz read into memory
MAX_UNPACKED = 8 << 30  # bytes of all members together
MAX_MEMBERS = 100_000


class BackupError(HostError):
    """Backup or restore failed on this host; Docker was started again."""


async def _guarded(runner: Runner, work: Callable[[], Awaitable[int]]) -> int:
    """Run `work`; a BackupError fails its host (exit 1); connections always close.
    With --json, the one document: per host, and the backup's path and sha256."""
    code = 1
    try:
        code = await work()
        return code
    except BackupError as error:
        runner.fail(error.host, error)
        return 1
    finally:
        if runner.reporter.json_file is not None:
            from cloudmesh.swarm.actions import host_results

            runner.reporter.document({
                "command": runner.reporter.result.get("command", ""),
                "cluster": runner.inventory.name, "ok": code == 0, "exit_code": code,
                "dry_run": runner.options.dry_run, "hosts": host_results(runner, runner.reporter),
                **{k: v for k, v in runner.reporter.result.items() if k != "command"}})
        runner.reporter.close()
        await runner.close()


def check_output(output: Path | None, cluster: str, force: bool) -> Path:
    """Where the archive goes; bad input (before any host is contacted) for a directory, a
    missing parent directory, or an existing file without --force."""
    path = output or Path(f"swarm-{cluster}-{time.strftime('%Y%m%d-%H%M%S')}.tar.gz")
    if str(path).endswith(("/", os.sep)) or path.expanduser().is_dir():
        raise UsageError(f"-o: {path} is a directory; give the archive's file name")
    path = path.expanduser()
    if not path.absolute().parent.is_dir():
        raise UsageError(f"-o: directory {path.absolute().parent} does not exist")
    if (path.exists() or path.is_symlink()) and not force:
        raise UsageError(f"-o: {path} exists; add --force to replace it")
    return path


def run_backup(inventory: Inventory, options: RunOptions, reporter: Reporter, output: Path | None,
               connector: Connector = ssh_connector) -> int:
    output = check_output(output, inventory.name, options.force)
    runner = Runner(inventory, options, reporter, connector)
    reporter.result["command"] = "backup"
    return asyncio.run(_guarded(runner, lambda: _backup_work(runner, output)))


async def _backup_work(runner: Runner, output: Path | None) -> int:
    await runner.connect()
    await runner.refresh()
    ctx = runner.ctx
    host = backup_source(ctx)
    if host is None and any(r.failed for r in runner.results.values()):
        return 1  # the unreachable hosts were reported; "no swarm" would be a guess
    if host is None:
        raise InputError("backup: no swarm found on these hosts")
    cluster = ctx.cluster_id()
    path = check_output(output, ctx.inventory.name, runner.options.force)
    runner.reporter.phase(BackupPhase.title, [host])
    if runner.options.dry_run:
        runner.reporter.plan(host, BackupPhase.title, BackupPhase(str(path)).plan(ctx, host, "backup"),
                             dry_run=True)
        runner.reporter.line("dry run: nothing was changed")
        return 0
    archive = ArchiveFile(path)
    plan = BackupPhase(str(path), archive.write).plan(ctx, host, "backup")
    try:
        await runner.apply(host, plan)
    except CommandError as error:
        if error.step == plan.steps[0].description:
            archive.discard()
            raise BackupError(host, f"archiving the swarm state failed (exit {error.exit_status}): "
                                    f"{error.stderr.strip()[-200:]}") from None
        archive.finish()  # complete; only Docker's return failed
        raise BackupError(host, "Docker did not come back into the swarm after the backup") from None
    except BaseException:
        archive.discard()
        raise
    if archive.size == 0:
        archive.discard()
        raise BackupError(host, "archiving the swarm state failed (exit 0): no data")
    archive.finish()
    digest = archive.digest.hexdigest()
    write_sha256_file(path, digest)
    runner.reporter.result["backup"] = {"path": str(path), "sha256": digest, "bytes": archive.size,
                                        "host": host}
    runner.reporter.line(f"backup of swarm {cluster[:12]} from {host}: {path} ({archive.size} bytes, "
                         f"sha256 {digest[:16]}...); it holds the swarm's keys: keep it private")
    return 0


class ArchiveFile:
    """The backup as it streams in: a 0600 temporary file beside `path`, put in place only
    when complete (`finish`), removed on failure (`discard`); its size and sha256."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tmp = path.with_name(f".{path.name}.partial")
        self.digest = hashlib.sha256()
        self.size = 0
        self._handle = open_private(self.tmp, "wb")

    def write(self, data: bytes) -> None:
        self._handle.write(data)
        self.digest.update(data)
        self.size += len(data)

    def finish(self) -> None:
        self._handle.close()
        os.replace(self.tmp, self.path)

    def discard(self) -> None:
        self._handle.close()
        self.tmp.unlink(missing_ok=True)


def check_archive(path: Path) -> bytes:
    """The archive's bytes, after its .sha256 (when present) matched and its members passed
    `check_members`; bad input otherwise."""
    path = path.expanduser()
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise InputError(f"{path}: not a regular file")
        if info.st_size > MAX_ARCHIVE:
            raise InputError(f"{path}: {info.st_size} bytes; a swarm backup is at most {MAX_ARCHIVE}")
        data = path.read_bytes()
    except OSError as error:
        raise InputError(f"{path}: cannot read: {error.strerror}") from None
    try:
        expected = expected_sha256(path)
    except (OSError, ValueError):
        raise InputError(f"{sidecar(path)}: not a sha256 file (sha256sum format)") from None
    if expected is not None and hashlib.sha256(data).hexdigest() != expected:
        raise InputError(f"{path}: sha256 does not match {sidecar(path).name}: the archive is damaged")
    check_members(data, str(path))
    return data


def check_members(data: bytes, name: str) -> None:
    """Only directories and regular files under `swarm/`, no setuid/setgid/sticky bits, no
    links or devices, bounded count and size: what `backup` writes, nothing else."""
    total = count = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            for member in archive:
                count += 1
                total += max(member.size, 0)
                where = f"{name}: member {member.name[:80]!r}"
                parts = member.name.split("/")
                if member.name.startswith("/") or ".." in parts or parts[0] != "swarm":
                    raise InputError(f"{where}: outside swarm/; not a swarm backup")
                if not (member.isreg() or member.isdir()):
                    raise InputError(f"{where}: a link or device; a swarm backup holds none")
                if member.mode & 0o7000:
                    raise InputError(f"{where}: setuid/setgid/sticky bit; a swarm backup has none")
                if count > MAX_MEMBERS or total > MAX_UNPACKED:
                    raise InputError(f"{name}: more than {MAX_MEMBERS} members or {MAX_UNPACKED} "
                                     "bytes unpacked; not a swarm backup")
            if archive.fileobj is not None:
                _read_to_the_end(archive.fileobj, name)
    except (tarfile.TarError, EOFError, OSError, zlib.error) as error:
        raise InputError(f"{name}: not a gzip'd tar archive ({error})") from None
    if count == 0:
        raise InputError(f"{name}: empty archive; not a swarm backup")


class _Readable(Protocol):
    def read(self, size: int, /) -> bytes: ...


def _read_to_the_end(stream: _Readable, name: str) -> None:
    """Read the gzip stream past the tar's last member, so that an archive cut short (its tar
    members whole, its gzip end and checksum lost) is refused here and not on the host."""
    left = MAX_UNPACKED
    while chunk := stream.read(1 << 20):
        left -= len(chunk)
        if left < 0:
            raise InputError(f"{name}: more than {MAX_UNPACKED} bytes unpacked; not a swarm backup")


def run_restore(inventory: Inventory, options: RunOptions, reporter: Reporter, archive: Path,
                host: str, connector: Connector = ssh_connector) -> int:
    data = check_archive(archive)
    runner = Runner(inventory, options, reporter, connector)
    reporter.result["command"] = "restore"
    return asyncio.run(_guarded(runner, lambda: _restore_work(runner, data, host)))


async def _restore_work(runner: Runner, data: bytes, host: str) -> int:
    await runner.connect()
    if host not in runner.transports:
        return 1  # unreachable or host key refused: reported by connect
    await runner.refresh([host])
    if runner.results[host].failed:
        return 1  # the probe failed: reported
    check_not_in_swarm(runner, host)
    for phase in (PreparePhase(), InstallPhase()):  # checked before either changes anything
        if not preflight(runner, phase, host):
            return 1
    for phase in (PreparePhase(), InstallPhase()):  # a fresh host gets Docker first
        if not await runner.run_phase(phase):
            return 1
    if not runner.options.dry_run:
        await runner.refresh([host])  # an engine that was stopped shows its swarm only now
        check_not_in_swarm(runner, host)
    plan = RestorePhase(data).plan(runner.ctx, host, "restore")
    runner.reporter.phase(RestorePhase.title, [host])
    if runner.options.dry_run:
        runner.reporter.plan(host, RestorePhase.title, plan, dry_run=True)
        runner.reporter.line("dry run: nothing was changed")
        return 0
    try:
        result = await runner.apply(host, plan)
    except CommandError as error:
        if error.step == plan.steps[0].description:
            raise BackupError(host, f"upload failed: {error.stderr.strip()[-200:]}") from None
        raise BackupError(host, f"restore failed (exit {error.exit_status}): {error.stderr.strip()[-300:]}"
                          + (" (an autolocked backup: unlock it first)" if "locked" in error.stderr else "")
                          ) from None
    said = result.stdout.strip() if result else ""
    runner.reporter.line(f"{host}: swarm restored as its only manager: {said}; "
                         "join more nodes with `cms-swarm add` or `create`")
    return 0


def check_not_in_swarm(runner: Runner, host: str) -> None:
    """Bad input (exit 2) when the host is in a swarm already and --force was not given."""
    facts = runner.ctx.facts[host]
    if facts.swarm is not None and facts.in_swarm and not runner.options.force:
        raise InputError(f"{host}: already in a swarm ({facts.swarm.local_state}); "
                         "restore replaces it only with --force")


def preflight(runner: Runner, phase: Phase, host: str) -> bool:
    """The phase's problems on the facts as they are, before any phase changes the host: on
    an error they are reported as the phase would report them, and the host fails. Warnings
    alone are left for the phase to report when it runs."""
    problems = phase.problems(runner.ctx, host)
    errors = [str(p) for p in problems if not p.warning]
    if not errors:
        return True
    runner.reporter.phase(phase.title, [host])
    for problem in problems:
        runner.log(host, f"{'warning' if problem.warning else 'problem'}: {problem}")
        runner.reporter.problem(host, problem)
    runner.fail(host, PreflightError(host, errors))
    return False
