"""Back up a manager's swarm state and restore it on a (fresh) host, as Docker's admin guide
says: stop Docker on one manager, archive /var/lib/docker/swarm, start it again; restore by
unpacking that directory on the new host and `docker swarm init --force-new-cluster`.

The archive holds the swarm's Raft log and keys (with services, configs and secrets; the
secrets are readable unless autolock is on), so it is written 0600 with a sha256 beside it.
It streams over the command's single SSH connection; nothing lands on the host's disk.

An archive to restore is not trusted: before any host is contacted it must be a gzip'd tar
of regular files and directories under `swarm/` only (no links, devices or setuid bits,
bounded sizes); the host unpacks it into a staging directory, checks the same again, and
only then stops Docker and swaps the state in, putting the old state back on any failure.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import shlex
import stat
import tarfile
import time
import zlib
from collections.abc import Awaitable, Callable
from pathlib import Path

from cloudmesh.swarm.errors import HostError, InputError, UsageError
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
DOCKER_ROOT = "/var/lib/docker"
UPLOAD = f"{DOCKER_ROOT}/cms-swarm-restore.tar.gz"
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


def sha256_line(path: Path, digest: str) -> str:
    return f"{digest}  {path.name}\n"


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


def run_backup(inventory: Inventory, options: RunOptions, reporter: Reporter, output: Path | None) -> int:
    output = check_output(output, inventory.name, options.force)
    runner = Runner(inventory, options, reporter)
    reporter.result["command"] = "backup"
    return asyncio.run(_guarded(runner, lambda: _backup_work(runner, output)))


async def _backup_work(runner: Runner, output: Path | None) -> int:
    await runner.connect()
    await runner.refresh()
    ctx = runner.ctx
    leader = ctx.leader()
    if leader is None and any(r.failed for r in runner.results.values()):
        return 1  # the unreachable hosts were reported; "no swarm" would be a guess
    if leader is None:
        raise InputError("backup: no swarm found on these hosts")
    managers = ctx.swarm_managers()
    # a manager that is not the leader: the swarm keeps its leader while Docker is stopped
    host = next((m for m in managers if m != leader), leader)
    cluster = ctx.cluster_id()
    path = check_output(output, ctx.inventory.name, runner.options.force)
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
    runner.reporter.result["backup"] = {"path": str(path), "sha256": digest, "bytes": size,
                                        "host": host}
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
    sums = path.with_name(path.name + ".sha256")
    if sums.exists():
        try:
            words = sums.read_text(encoding="ascii").split()
        except (OSError, UnicodeDecodeError):
            raise InputError(f"{sums}: not a sha256 file (sha256sum format)") from None
        if hashlib.sha256(data).hexdigest() != (words[0].lower() if words else ""):
            raise InputError(f"{path}: sha256 does not match {sums.name}: the archive is damaged")
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
    except (tarfile.TarError, EOFError, OSError, zlib.error) as error:
        raise InputError(f"{name}: not a gzip'd tar archive ({error})") from None
    if count == 0:
        raise InputError(f"{name}: empty archive; not a swarm backup")


def restore_script(address: str, digest: str, root: str = DOCKER_ROOT) -> str:
    """Check the upload, unpack it aside, check again; only then stop Docker and swap the
    state in. Any failure after the swap puts the old state back; Docker is always restarted."""
    return f"""set -e
d={shlex.quote(root)}; u="$d/cms-swarm-restore.tar.gz"; s="$d/cms-swarm-restore.d"
old="$d/swarm.cms-swarm-old"; stopped=; moved=
finish() {{
  st=$?
  if [ $st -ne 0 ] && [ -n "$moved" ]; then
    echo "restore failed: the earlier swarm state is put back" >&2
    {STOP} || true; rm -rf "$d/swarm"; if [ -d "$old" ]; then mv "$old" "$d/swarm"; fi
  fi
  if [ $st -ne 0 ] && [ -n "$stopped" ]; then {START} || true; fi
  rm -rf "$s" "$u"; exit $st
}}
trap finish EXIT
echo "{digest}  $u" | sha256sum -c --status || {{ echo "the uploaded archive is damaged" >&2; exit 3; }}
rm -rf "$s"; mkdir -m 700 "$s"
tar -C "$s" --no-same-owner -xzf "$u" swarm
bad=$(find "$s" -mindepth 1 \\( ! -type f ! -type d -o -perm /7000 -o -type f -links +1 \\) -print | head -n 3)
[ -z "$bad" ] || {{ echo "the archive holds links, devices or setuid files: $bad" >&2; exit 3; }}
[ "$(ls -A "$s")" = swarm ] || {{ echo "the archive holds more than swarm/" >&2; exit 3; }}
stopped=1; {STOP}
rm -rf "$old"; if [ -e "$d/swarm" ]; then mv "$d/swarm" "$old"; fi
moved=1; mv "$s/swarm" "$d/swarm"
{START}
{ENGINE_UP}
docker swarm init --force-new-cluster --advertise-addr {shlex.quote(address)} >/dev/null
{WAIT_ACTIVE}
moved=; rm -rf "$old"
echo services=$(docker service ls -q | wc -l) secrets=$(docker secret ls -q | wc -l)
"""


def run_restore(inventory: Inventory, options: RunOptions, reporter: Reporter, archive: Path,
                host: str) -> int:
    data = check_archive(archive)
    runner = Runner(inventory, options, reporter)
    reporter.result["command"] = "restore"
    return asyncio.run(_guarded(runner, lambda: _restore_work(runner, data, host)))


async def _restore_work(runner: Runner, data: bytes, host: str) -> int:
    await runner.connect()
    if host not in runner.transports:
        return 1  # unreachable or host key refused: reported by connect
    for phase in (PreparePhase(), InstallPhase()):  # a fresh host gets Docker first
        if not await runner.run_phase(phase):
            return 1
    await runner.refresh([host])
    facts = runner.ctx.facts[host]
    if facts.swarm is not None and facts.in_swarm and not runner.options.force:
        raise InputError(f"{host}: already in a swarm ({facts.swarm.local_state}); "
                         "restore replaces it only with --force")
    command = restore_script(runner.ctx.ip(host), hashlib.sha256(data).hexdigest())
    if runner.options.dry_run:
        runner.reporter.line(f"{host}: would upload the archive to {UPLOAD} and run as root:\n{command}")
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
