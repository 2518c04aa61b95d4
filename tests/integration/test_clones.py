"""Cloned cards on two extra lab hosts, pi6 and pi7 (a cluster of their own; pi1-pi3 untouched,
advertising on `eth0` with overlay pool 10.200.0.0/16 from the inventory).

pi7 is made a copy of pi6 behind the tool's back, as cards burned from one captured image
are: machine-id, SSH host keys and Docker's engine identity (key.json with the docker.io
the lab installs), later its swarm state too. `check` names what pi7 shares with pi6;
`create --fix-identities` renews them, records pi7's new host keys and forms a swarm of two
distinct nodes. Last, a card with pi6's real identity files is captured from pi6 with
`--shrink --sysprep`, and the image holds none of them.
"""

from __future__ import annotations

import io
import lzma
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloudmesh.swarm.image import ext4, mbr, synthetic, sysprep
from cloudmesh.swarm.known_hosts import fingerprint, keys_of

from .cli import cms_swarm, eventually
from .conftest import LAB, LAB_ARGS, Exec, address

pytestmark = pytest.mark.integration

IDENTITY = ("/etc/machine-id", "/etc/ssh/ssh_host_ecdsa_key", "/etc/ssh/ssh_host_ecdsa_key.pub",
            "/etc/ssh/ssh_host_ed25519_key", "/etc/ssh/ssh_host_ed25519_key.pub",
            "/etc/ssh/ssh_host_rsa_key", "/etc/ssh/ssh_host_rsa_key.pub", "/etc/docker/key.json")


def container(host: str) -> str:
    return f"cms-swarm-{LAB}-{host}"


def tar_from(host: str, *paths: str) -> bytes:
    done = subprocess.run(["docker", "exec", container(host), "tar", "cf", "-", "-C", "/",
                           *(p.lstrip("/") for p in paths)], capture_output=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def copy(source: str, target: str, *paths: str) -> None:
    """The files, byte for byte with modes, from one lab host onto another (as root)."""
    done = subprocess.run(["docker", "exec", "-i", container(target), "tar", "xf", "-", "-C", "/"],
                          input=tar_from(source, *paths), capture_output=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def pair(lab_inventory: Path, lab_exec: Exec, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[Path]:
    """An inventory of pi6 and pi7 (booted in the session's lab; its inventory stays as it was)."""
    saved = lab_inventory.read_text()
    up = cms_swarm("lab", "up", "7", *LAB_ARGS, timeout=600)
    lab_inventory.write_text(saved)
    assert up.returncode == 0, up.stderr
    head = saved[:saved.index("\nhosts:") + 1]
    path = tmp_path_factory.mktemp("clones") / "pair.yaml"
    # the pair's swarm uses an interface and a pool of its own, as a Pi on a 10/8 LAN would
    path.write_text(head.replace(f"name: {LAB}", "name: clones")
                    + "default_addr_pool: 10.200.0.0/16\nhosts:\n" + "".join(
                        f"  - name: pi{i}\n    address: {address(i)}\n    advertise: eth0\n"
                        for i in (6, 7)))
    yield path
    cms_swarm("reset", "-i", str(path), timeout=300)


def known_hosts_of(inventory: Path) -> Path:
    line = next(text for text in inventory.read_text().splitlines() if "known_hosts:" in text)
    return Path(line.split(":", 1)[1].strip())


def identity(lab_exec: Exec, host: str) -> tuple[str, str, str]:
    code, out = lab_exec(host, "cat /etc/machine-id; docker info --format '{{.ID}}'; "
                               "ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub")
    assert code == 0, out
    machine, engine, key = out.splitlines()[:3]
    return machine, engine, key.split()[1]


def test_clone_is_named_then_renewed_and_the_swarm_has_two_nodes(pair: Path, lab_exec: Exec) -> None:
    installed = cms_swarm("install", "-i", str(pair), timeout=900)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    pi6 = identity(lab_exec, "pi6")
    assert pi6 != identity(lab_exec, "pi7")  # fresh lab hosts are born unique
    # pi7 becomes a card burned from pi6's image; we have never seen its host key
    lab_exec("pi7", "systemctl stop docker.socket docker")
    copy("pi6", "pi7", *IDENTITY)
    code, out = lab_exec("pi7", "systemctl reset-failed docker; systemctl start docker && "
                                "systemctl reload ssh")
    assert code == 0, out
    assert identity(lab_exec, "pi7") == pi6
    known = known_hosts_of(pair)
    subprocess.run(["ssh-keygen", "-R", address(7), "-f", str(known)], capture_output=True,
                   check=True)

    found = cms_swarm("check", "-i", str(pair))
    assert found.returncode == 1
    assert ("pi7: problem: cloned card: same machine-id, SSH host keys and Docker engine ID as "
            "pi6 (fix: cms-swarm check --fix") in found.stderr
    assert "pi6: problem" not in found.stderr

    dry = cms_swarm("check", "-i", str(pair), "--fix", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "pi7: would make a new machine-id" in dry.stdout
    assert identity(lab_exec, "pi7") == pi6  # nothing changed

    created = cms_swarm("create", "-i", str(pair), "--fix-identities", timeout=900)
    assert created.returncode == 0, created.stdout + created.stderr
    assert f"pi7: new SSH host keys recorded in {known}" in created.stdout
    pi7 = identity(lab_exec, "pi7")
    assert identity(lab_exec, "pi6") == pi6  # the original keeps its identity
    assert all(mine != theirs for mine, theirs in zip(pi7, pi6, strict=True))
    _, nodes = lab_exec("pi6", "docker node ls --format '{{.ID}} {{.Hostname}} {{.Status}}'")
    rows = [line.split() for line in nodes.splitlines()]
    assert sorted(row[1:] for row in rows) == [["pi6", "Ready"], ["pi7", "Ready"]]
    assert len({row[0] for row in rows}) == 2
    _, pool = lab_exec("pi6", "docker info --format '{{json .Swarm.Cluster.DefaultAddrPool}} "
                              "{{.Swarm.NodeAddr}}'")
    assert pool.split() == ['["10.200.0.0/16"]', address(6)]
    _, addr = lab_exec("pi7", "docker info --format '{{.Swarm.NodeAddr}}'")
    assert addr.strip() == address(7)  # joined with AdvertiseAddr "eth0"
    assert "overlay pool" not in found.stdout + found.stderr  # the lab's 10.77.x route is clear of 10.200/16
    # known_hosts holds exactly pi7's new keys, and strict checking accepts them
    _, pubs = lab_exec("pi7", "cat /etc/ssh/ssh_host_*_key.pub")
    assert sorted(keys_of(known, address(7))) == sorted(
        " ".join(line.split()[:2]) for line in pubs.splitlines())
    assert pi7[2] in {fingerprint(key) for key in keys_of(known, address(7))}
    again = cms_swarm("check", "-i", str(pair), "--strict-host-keys", "--fix")
    assert again.returncode == 0, again.stderr
    assert "cloned" not in again.stdout + again.stderr and "nothing changed" in again.stdout


def test_copied_swarm_state_is_cleared_and_the_copy_joins_as_itself(pair: Path, lab_exec: Exec) -> None:
    """pi7 gets pi6's engine key and swarm state (pi6 is the swarm's manager)."""
    lab_exec("pi7", "systemctl stop docker.socket docker; rm -rf /var/lib/docker/swarm")
    copy("pi6", "pi7", "/etc/docker/key.json", "/var/lib/docker/swarm")
    code, out = lab_exec("pi7", "systemctl reset-failed docker; systemctl start docker")
    assert code == 0, out
    found = cms_swarm("check", "-i", str(pair))
    assert found.returncode == 1
    assert "pi7: problem: cloned card: same Docker engine ID and swarm node ID as pi6" in found.stderr
    fixed = cms_swarm("create", "-i", str(pair), "--fix-identities", "--skip-verify", timeout=600)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "pi7: restart the engine with a new engine ID and no copied swarm state" in fixed.stdout
    _, ids = lab_exec("pi7", "docker info --format '{{.Swarm.NodeID}} {{.Swarm.NodeAddr}}'")
    _, original = lab_exec("pi6", "docker info --format '{{.Swarm.NodeID}}'")
    pi7_id, pi7_addr = ids.split()
    assert pi7_id != original.strip() and pi7_addr == address(7)
    # pi7's node entry from before the copy goes Down, then the next create removes it
    def rows() -> list[list[str]]:
        _, listed = lab_exec("pi6", "docker node ls --format '{{.ID}} {{.Status}} {{.ManagerStatus}}'")
        return sorted(line.split() for line in listed.splitlines() if line.strip())

    eventually("pi7's old node entry Down (or gone)", rows, seconds=120, interval=5,
               until=lambda seen: len(seen) == 2 or any(row[1] == "Down" for row in seen))
    again = cms_swarm("create", "-i", str(pair), "--skip-verify", timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    # by ID: while pi7 ran as the copy, its agent may have reported to pi6's manager with pi6's
    # certificate, so pi6's entry can show pi7's hostname until pi6's engine reconnects
    eventually("pi6 the Ready leader and pi7 Ready, nothing else", rows, seconds=60,
               until=lambda seen: seen == sorted([[original.strip(), "Ready", "Leader"], [pi7_id, "Ready"]]))


def test_sysprep_capture_of_a_card_with_a_real_hosts_identity(pair: Path, lab_exec: Exec,
                                                             tmp_path: Path) -> None:
    """A card holding pi6's own machine-id, host keys, engine key and live swarm state."""
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(tar_from("pi6", *IDENTITY, "/var/lib/docker/swarm"))) as tar:
        for member in tar.getmembers():
            if member.isfile():
                data = tar.extractfile(member)
                assert data is not None
                files["/" + member.name] = data.read()
    assert any(name.startswith("/var/lib/docker/swarm/raft/") for name in files)
    card = synthetic.build(tmp_path / "card.img", "firstrun", size_mb=96, data_mb=2, extra=files)
    remote = "/var/tmp/cms-sysprep-card.img"
    subprocess.run(["docker", "cp", str(card), f"{container('pi6')}:{remote}"], check=True,
                   capture_output=True, timeout=120)
    try:
        output = tmp_path / "clean.img.xz"
        done = cms_swarm("image", "capture", "pi6", "-i", str(pair), "-o", str(output),
                         "--device", remote, "--shrink", "--margin", "4", "--sysprep", timeout=300)
    finally:
        lab_exec("pi6", f"rm -f {remote}")
    assert done.returncode == 0, done.stderr
    assert ("sysprep removed: machine-id, 6 SSH host key files, Docker engine ID, swarm state"
            in done.stdout)
    image = lzma.decompress(output.read_bytes())
    last = mbr.parse(image[:512]).last()
    assert last is not None
    part = tmp_path / "root.ext4"
    part.write_bytes(image[last.offset:])
    assert ext4.read_file(part, 0, "/etc/machine-id") == b""
    for gone in (*IDENTITY[1:], "/var/lib/docker/swarm"):
        assert not ext4.exists(part, 0, gone), gone
    assert ext4.exists(part, 0, sysprep.KEYS_WANTS)
    refused = cms_swarm("image", "capture", "pi6", "-i", str(pair), "-o", str(tmp_path / "x.img.xz"),
                        "--sysprep")
    assert refused.returncode == 2 and "--shrink" in refused.stderr
