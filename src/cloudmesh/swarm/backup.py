"""Back up a manager's swarm state and restore it on a (fresh) host, as Docker's admin guide
says: stop Docker on one manager, archive /var/lib/docker/swarm, start it again; restore by
unpacking that directory on the new host and `docker swarm init --force-new-cluster`.

The archive holds the swarm's Raft log and keys (with services, configs and secrets; the
secrets are readable unless autolock is on), so it is written 0600 with a sha256 beside it.
It streams over the command's single SSH connection; nothing lands on the host's disk.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shlex
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from cloudmesh.swarm.errors import HostError, InputError
from cloudmesh.swarm.inventory import Inventory
from cloudmesh.swarm.options import RunOptions
from cloudmesh.swarm.phases.install import ENGINE_UP, InstallPhase
from cloudmesh.swarm.phases.prepare import PreparePhase
from cloudmesh.swarm.report import Reporter
from cloudmesh.swarm.runner import Runner

STOP = "systemctl stop docker.socket docker"
START = "systemctl start docker"
WAIT_ACTIVE = ("i=0; until [ \"$(docker info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null)\" = active ]; "
               "do i=$((i+1)); [ $i -ge 240 ] && exit 1; sleep 0.5; done")
UPLOAD = "/var/lib/docker/cms-swarm-restore.tar.gz"


class BackupError(HostError):
    """Backup or restore failed on this host; Docker was started again."""


async def _guarded(runner: Runner, work: Callable[[], Awaitable[int]]) -> int:
    """Run `work`; a BackupError fails its host (exit 1); connections always close."""
    try:
        return await work()
    except BackupError as error:
        runner.fail(error.host, error)
        return 1
    finally:
        runner.reporter.close()
        await runner.close()


def sha256_line(path: Path, digest: str) -> str:
    return f"{digest}  {path.name}\n"


def run_backup(inventory: Inventory, options: RunOptions, reporter: Reporter, output: Path | None) -> int:
    runner = Runner(inventory, options, reporter)
    return asyncio.run(_guarded(runner, lambda: _backup_work(runner, output)))


async def _backup_work(runner: Runner, output: Path | None) -> int:
    await runner.connect()
    await runner.refresh()
    ctx = runner.ctx
    leader = ctx.leader()
    if leader is None:
        raise InputError("backup: no swarm found on these hosts")
    managers = ctx.swarm_managers()
    # a manager that is not the leader: the swarm keeps its leader while Docker is stopped
    host = next((m for m in managers if m != leader), leader)
    cluster = ctx.cluster_id()
    path = (output or Path(f"swarm-{ctx.inventory.name}-{time.strftime('%Y%m%d-%H%M%S')}.tar.gz")).expanduser()
    command = f"set -e; {STOP}; trap '{START}' EXIT; tar -C /var/lib/docker -czf - swarm"
    if runner.options.dry_run:
        runner.reporter.line(f"{host}: would stream /var/lib/docker/swarm to {path}: sudo {command}")
        runner.reporter.line("dry run: nothing was changed")
        return 0
    runner.reporter.line(f"{host}: stopping Docker on this manager, archiving /var/lib/docker/swarm"
                         + (" (the only manager: the swarm pauses meanwhile)" if host == leader else ""))
    size, digest = await _stream_to_file(runner, host, command, path)
    waited = await runner.transports[host].run(WAIT_ACTIVE, sudo=True, timeout=150)
    if not waited.ok:
        raise BackupError(host, "Docker did not come back into the swarm after the backup")
    path.with_name(path.name + ".sha256").write_text(sha256_line(path, digest))
    runner.reporter.line(f"backup of swarm {cluster[:12]} from {host}: {path} ({size} bytes, "
                         f"sha256 {digest[:16]}...); it holds the swarm's keys: keep it private")
    return 0


async def _stream_to_file(runner: Runner, host: str, command: str, path: Path) -> tuple[int, str]:
    """The command's stdout into `path` (0600, replaced only when complete); (bytes, sha256)."""
    digest = hashlib.sha256()
    tmp = path.with_name(f".{path.name}.partial")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    size = 0
    with os.fdopen(fd, "wb") as handle:
        def sink(data: bytes) -> None:
            nonlocal size
            handle.write(data)
            digest.update(data)
            size += len(data)

        result = await runner.transports[host].stream_out(command, sink, sudo=True, timeout=600)
    if not result.ok or size == 0:
        tmp.unlink(missing_ok=True)
        raise BackupError(host, f"archiving the swarm state failed (exit {result.exit_status}): "
                                f"{result.stderr.strip()[-200:]}")
    os.replace(tmp, path)
    return size, digest.hexdigest()


def check_archive(path: Path) -> bytes:
    """The archive's bytes, after its .sha256 (when present) matched; bad input otherwise."""
    try:
        data = path.expanduser().read_bytes()
    except OSError as error:
        raise InputError(f"{path}: cannot read: {error.strerror}") from None
    sums = path.with_name(path.name + ".sha256")
    if sums.exists():
        expected = sums.read_text().split()[0] if sums.read_text().split() else ""
        if hashlib.sha256(data).hexdigest() != expected:
            raise InputError(f"{path}: sha256 does not match {sums.name}: the archive is damaged")
    return data


def run_restore(inventory: Inventory, options: RunOptions, reporter: Reporter, archive: Path,
                host: str) -> int:
    data = check_archive(archive)
    runner = Runner(inventory, options, reporter)
    return asyncio.run(_guarded(runner, lambda: _restore_work(runner, data, host)))


async def _restore_work(runner: Runner, data: bytes, host: str) -> int:
    await runner.connect()
    for phase in (PreparePhase(), InstallPhase()):  # a fresh host gets Docker first
        if not await runner.run_phase(phase):
            return 1
    await runner.refresh([host])
    facts = runner.ctx.facts[host]
    if facts.in_swarm and not runner.options.force:
        raise InputError(f"{host}: already in a swarm ({facts.swarm.local_state}); "  # type: ignore[union-attr]
                         "restore replaces it only with --force")
    address = shlex.quote(runner.ctx.ip(host))
    command = (f"set -e; {STOP}; rm -rf /var/lib/docker/swarm; "
               f"tar -C /var/lib/docker -xzf {UPLOAD}; rm -f {UPLOAD}; {START}; "
               f"{ENGINE_UP}; "
               f"docker swarm init --force-new-cluster --advertise-addr {address} >/dev/null; {WAIT_ACTIVE}; "
               "echo services=$(docker service ls -q | wc -l) secrets=$(docker secret ls -q | wc -l)")
    if runner.options.dry_run:
        runner.reporter.line(f"{host}: would upload the archive to {UPLOAD} and run: sudo {command}")
        runner.reporter.line("dry run: nothing was changed")
        return 0
    uploaded = await runner.transports[host].put(data, UPLOAD, mode="0600", sudo=True)
    if not uploaded.ok:
        raise BackupError(host, f"upload failed: {uploaded.stderr.strip()[-200:]}")
    runner.reporter.line(f"{host}: restoring the swarm state and forcing a new cluster on it")
    result = await runner.transports[host].run(command, sudo=True, timeout=300)
    if not result.ok:
        raise BackupError(host, f"restore failed (exit {result.exit_status}): {result.stderr.strip()[-300:]}"
                          + (" (an autolocked backup: unlock it first)" if "locked" in result.stderr else ""))
    runner.reporter.line(f"{host}: swarm restored as its only manager: {result.stdout.strip()}; "
                         "join more nodes with `cms-swarm add` or `create`")
    return 0
