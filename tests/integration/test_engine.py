"""Installs that work on every Pi OS (issue 10, section 3), on fresh air-gapped hosts of their
own lab (pi1, pi2 bookworm, pi3 trixie): distro engine with log rotation merged into an
existing daemon.json, repair of a host left without the `docker` command, trixie's docker-cli,
and docker-ce from a Docker-style apt repository (signed, deb822, per codename and
architecture) that one lab host serves: Debian's docker.io repacked under the docker-ce names,
as Docker's repository cannot be reached from here."""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from .cli import cms_swarm, eventually
from .conftest import NET

pytestmark = pytest.mark.integration

NAME = f"engine{NET}"
ARGS = ("--name", NAME, "--subnet", f"10.77.{100 + NET}.0/24")
SERVER = f"10.77.{100 + NET}.11"  # pi1 serves the repository
REPO_URL = f"http://{SERVER}:8080/linux"
ROOT = "/opt/cms-ce-repo/linux/debian"


def sh(host: str, command: str, stdin: str | None = None) -> str:
    done = subprocess.run(["docker", "exec", "-i", f"cms-swarm-{NAME}-{host}", "bash", "-c", command],
                          check=False, input=stdin, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{host}: {command}\n{done.stdout}{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def hosts(swarm_home: Path) -> Iterator[tuple[Path, Path, Path]]:
    """Inventories of fresh pi1, pi2 (bookworm) and pi3 (trixie), each alone, in a lab of their own."""
    cms_swarm("lab", "down", *ARGS, timeout=300)
    up = cms_swarm("lab", "up", "--hosts", "pi[1-2]:bookworm,pi3:trixie", "--offline", *ARGS, timeout=900)
    assert up.returncode == 0, up.stderr
    path = Path(up.stdout.strip().splitlines()[-1])
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe")
    data = yaml.load(path)
    files = []
    for index in range(3):  # beside the lab's own files, and as private as they are
        files.append(path.with_name(f"only-{index + 1}.yaml"))
        files[-1].touch(mode=0o600)
        files[-1].chmod(0o600)
        yaml.dump(dict(data, hosts=[data["hosts"][index]]), files[-1])
    try:
        yield files[0], files[1], files[2]
    finally:
        down = cms_swarm("lab", "down", *ARGS, timeout=300)
        assert down.returncode == 0, down.stderr


def test_distro_engine_rotates_logs_keeps_daemon_json_and_repairs_a_missing_cli(
        hosts: tuple[Path, Path, Path]) -> None:
    one = hosts[0]
    sh("pi1", "mkdir -p /etc/docker && echo '{\"iptables\": false}' > /etc/docker/daemon.json")
    done = cms_swarm("install", "-i", str(one))
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(sh("pi1", "cat /etc/docker/daemon.json")) == {
        "iptables": False, "log-opts": {"max-size": "10m", "max-file": "3"}}
    assert sh("pi1", "docker info --format '{{.LoggingDriver}}'").strip() == "json-file"
    assert started("pi1") >= written("pi1")  # written before the engine first started

    sh("pi1", "echo '{\"iptables\": false}' > /etc/docker/daemon.json")  # a running engine without it
    before = sh("pi1", "systemctl show docker -p InvocationID --value")
    done = cms_swarm("install", "-i", str(one))
    assert done.returncode == 0 and "pi1: rotate container logs" in done.stdout, done.stdout
    assert sh("pi1", "systemctl show docker -p InvocationID --value") != before  # restarted: it changed
    assert "log-opts" in json.loads(sh("pi1", "cat /etc/docker/daemon.json"))

    sh("pi1", "rm /usr/bin/docker")  # a host left without the docker command
    shown = cms_swarm("install", "-i", str(one), "--dry-run")
    assert "pi1: would install the docker command (docker.io)" in shown.stdout, shown.stdout
    done = cms_swarm("install", "-i", str(one))
    assert done.returncode == 0, done.stdout + done.stderr
    assert sh("pi1", "docker version --format '{{.Client.Version}}'").strip()
    again = cms_swarm("install", "-i", str(one))
    assert again.returncode == 0 and "nothing changed" in again.stdout, again.stdout

    status = cms_swarm("status", "-i", str(one), "--json")  # not in a swarm: exit 1, but health
    [node] = json.loads(status.stdout)["nodes"]
    assert node["state"] == "not in swarm" and node["arch"] == "amd64" and node["memory_mb"] > 0
    assert [node[k] for k in ("model", "temperature_c", "throttled", "root_device")] == [None] * 4
    table = cms_swarm("status", "-i", str(one)).stdout
    assert "amd64" in table and "model" not in table and "error" not in table.lower()


def started(host: str) -> int:
    """When the engine last started, in seconds since the epoch."""
    return int(sh(host, 'date -d "$(systemctl show docker -p ActiveEnterTimestamp --value)" +%s'))


def written(host: str) -> int:
    """When daemon.json was last written."""
    return int(sh(host, "stat -c %Y /etc/docker/daemon.json"))


def make_docker_ce_repo() -> tuple[str, str]:
    """On pi1: Debian's docker.io repacked as docker-ce and docker-ce-cli (two versions, so that
    a pinned install can be upgraded) and containerd.io, in a Docker-style tree
    (dists/bookworm/stable/binary-amd64), Release signed here, served over http."""
    version = sh("pi1", "dpkg-query -W -f '${Version}' docker.io").split("+")[0]
    old, new = (f"5:{version}-{n}~debian.12~bookworm" for n in (1, 2))
    sh("pi1", f"""set -e; rm -rf /tmp/ce /opt/cms-ce-repo; mkdir -p /tmp/ce {ROOT}/pool/stable
cd /tmp/ce; dpkg-deb -R /var/cache/apt/archives/docker.io_*.deb engine
mkdir -p cli/DEBIAN cli/usr/bin; mv engine/usr/bin/docker cli/usr/bin/docker
sed -i -e 's/^Package: .*/Package: docker-ce/' -e '/^Conflicts:/d' engine/DEBIAN/control
mkdir -p ctr/DEBIAN
printf 'Package: containerd.io\\nVersion: 1.7.27-1\\nArchitecture: amd64\\nMaintainer: test <t@example.org>\\nDepends: containerd\\nDescription: containerd (test repack)\\n' > ctr/DEBIAN/control
dpkg-deb -Zgzip -z1 -b ctr {ROOT}/pool/stable/ctr.deb >/dev/null
for v in 1 2; do ce="5:{version}-$v~debian.12~bookworm"
  sed -i "s/^Version: .*/Version: $ce/" engine/DEBIAN/control
  printf 'Package: docker-ce-cli\\nVersion: %s\\nArchitecture: amd64\\nMaintainer: test <t@example.org>\\nDepends: libc6\\nDescription: docker CLI (test repack)\\n' "$ce" > cli/DEBIAN/control
  dpkg-deb -Zgzip -z1 -b engine {ROOT}/pool/stable/engine$v.deb >/dev/null
  dpkg-deb -Zgzip -z1 -b cli {ROOT}/pool/stable/cli$v.deb >/dev/null
done
mkdir -p {ROOT}/dists/bookworm/stable/binary-amd64; cd {ROOT}
for f in pool/stable/*.deb; do dpkg-deb -f $f; printf 'Filename: %s\\nSize: %s\\nSHA256: %s\\n\\n' $f $(stat -c %s $f) $(sha256sum $f | cut -d' ' -f1); done > dists/bookworm/stable/binary-amd64/Packages
cd dists/bookworm; p=stable/binary-amd64/Packages
printf 'Origin: Docker\\nLabel: Docker CE\\nSuite: bookworm\\nCodename: bookworm\\nArchitectures: amd64\\nComponents: stable\\nDate: %s\\nSHA256:\\n %s %s %s\\n' "$(date -Ru)" $(sha256sum $p | cut -d' ' -f1) $(stat -c %s $p) $p > Release
rm -rf /tmp/ce""")
    with tempfile.TemporaryDirectory() as home:
        gpg = ["gpg", "--homedir", home, "--batch", "--pinentry-mode", "loopback", "--passphrase", ""]
        subprocess.run([*gpg, "--quick-gen-key", "cms-swarm test repo <t@example.org>", "default", "sign",
                        "never"], check=True, capture_output=True, timeout=120)
        key = subprocess.run([*gpg, "--armor", "--export"], check=True, capture_output=True, text=True).stdout
        release = sh("pi1", f"cat {ROOT}/dists/bookworm/Release")
        signed = subprocess.run([*gpg, "--clearsign"], input=release, check=True, capture_output=True,
                                text=True).stdout
    sh("pi1", f"cat > {ROOT}/gpg", stdin=key)
    sh("pi1", f"cat > {ROOT}/dists/bookworm/InRelease", stdin=signed)
    sh("pi1", "systemd-run --unit cms-ce-repo python3 -m http.server 8080 --bind "
              f"{SERVER} --directory /opt/cms-ce-repo >/dev/null")
    fetch = ["docker", "exec", f"cms-swarm-{NAME}-pi1", "python3", "-c",
             f"import urllib.request as u; u.urlopen({REPO_URL + '/debian/gpg'!r})"]
    eventually("pi1 serving the test repository", lambda: subprocess.run(
        fetch, capture_output=True, text=True, timeout=30, check=False), seconds=15, interval=0.2,
        until=lambda done: done.returncode == 0)
    return old, new


def test_docker_ce_from_a_docker_style_repository(hosts: tuple[Path, Path, Path]) -> None:
    two = hosts[1]
    ce, newer = make_docker_ce_repo()
    options = ("--engine", "docker-ce", "--engine-repo", REPO_URL, "--engine-version", ce)
    shown = cms_swarm("install", "-i", str(two), *options, "--dry-run")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert (f"curl -fsSL {REPO_URL}/debian/gpg -o /etc/apt/keyrings/docker.asc.tmp" in shown.stdout)
    assert (f"Types: deb\\nURIs: {REPO_URL}/debian\\nSuites: bookworm\\nComponents: stable\\n"
            "Architectures: amd64\\nSigned-By: /etc/apt/keyrings/docker.asc\\n' > "
            "/etc/apt/sources.list.d/docker.sources") in shown.stdout
    assert f"--no-install-recommends docker-ce={ce} docker-ce-cli={ce} containerd.io" in shown.stdout
    assert sh("pi2", "find /etc/apt/sources.list.d /etc/apt/keyrings -type f 2>/dev/null; "
                     "command -v docker || true").split() == []  # the dry run changed nothing

    done = cms_swarm("install", "-i", str(two), *options)
    assert done.returncode == 0, done.stdout + done.stderr
    installed = sh("pi2", "dpkg-query -W -f '${Package} ${Version}\\n' docker-ce docker-ce-cli containerd.io")
    assert sorted(installed.split()) == sorted(["containerd.io", "1.7.27-1", "docker-ce", ce, "docker-ce-cli", ce])
    assert sh("pi2", "dpkg-query -W -f '${Status}' docker.io 2>/dev/null || true").strip() in ("", "unknown ok not-installed")
    assert sh("pi2", "docker info --format '{{.ServerVersion}}'").strip()
    assert "Signed-By: /etc/apt/keyrings/docker.asc" in sh("pi2", "cat /etc/apt/sources.list.d/docker.sources")

    sh("pi2", "dpkg -r docker-ce-cli >/dev/null")  # the CLI gone: a re-run brings it back
    done = cms_swarm("install", "-i", str(two), *options)
    assert done.returncode == 0 and "pi2: install the docker command (docker-ce-cli)" in done.stdout, done.stdout
    assert sh("pi2", "command -v docker").strip() == "/usr/bin/docker"
    again = cms_swarm("install", "-i", str(two), *options)
    assert again.returncode == 0 and "nothing changed" in again.stdout, again.stdout

    # a swarm on docker-ce, then a rolling upgrade to what Docker's repository offers now
    init = cms_swarm("init", "-i", str(two))
    assert init.returncode == 0, init.stdout + init.stderr
    done = cms_swarm("upgrade", "-i", str(two))
    assert done.returncode == 0 and "pi2: upgrade docker-ce docker-ce-cli" in done.stdout, done.stdout + done.stderr
    installed = sh("pi2", "dpkg-query -W -f '${Package} ${Version}\\n' docker-ce docker-ce-cli")
    assert sorted(installed.split()) == sorted(["docker-ce", newer, "docker-ce-cli", newer])
    assert sh("pi2", "docker info --format '{{.Swarm.LocalNodeState}}'").strip() == "active"


def test_trixie_gets_docker_cli_with_docker_io_and_back_when_it_is_gone(
        hosts: tuple[Path, Path, Path]) -> None:
    three = hosts[2]
    assert "VERSION_CODENAME=trixie" in sh("pi3", "cat /etc/os-release")
    shown = cms_swarm("install", "-i", str(three), "--dry-run")  # a fresh card: lists not read yet
    assert "pi3: would install docker.io, and docker-cli where the release has it (no recommends): " in shown.stdout
    assert ("--no-install-recommends docker.io $(apt-cache show docker-cli >/dev/null 2>&1 && echo docker-cli)"
            in shown.stdout), shown.stdout
    done = cms_swarm("install", "-i", str(three))
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(sh("pi3", "dpkg-query -W -f '${Package}\\n' docker.io docker-cli").split()) == [
        "docker-cli", "docker.io"]
    shown = cms_swarm("install", "-i", str(three), "--dry-run")  # lists fresh now: the probe knows
    assert "pi3: nothing to do (docker" in shown.stdout, shown.stdout
    assert sh("pi3", "docker version --format '{{.Client.Version}} {{.Server.Version}}'").split()[0]
    assert "log-opts" in json.loads(sh("pi3", "cat /etc/docker/daemon.json"))

    sh("pi3", "dpkg -r docker-cli >/dev/null")  # docker.io only recommends it: apt may take it away
    check = cms_swarm("check", "-i", str(three))
    assert "pi3: warning: the Docker engine is installed but there is no docker command" in check.stdout
    done = cms_swarm("install", "-i", str(three))
    assert done.returncode == 0 and "pi3: install the docker command (docker-cli)" in done.stdout, done.stdout
    assert sh("pi3", "command -v docker").strip() == "/usr/bin/docker"
    again = cms_swarm("install", "-i", str(three))
    assert again.returncode == 0 and "nothing changed" in again.stdout, again.stdout
