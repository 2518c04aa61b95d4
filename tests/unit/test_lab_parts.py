"""Lab pieces that need no engine: kinds, host specs, binfmt, keys tar, names, inotify."""

from __future__ import annotations

import io
import json
import re
import tarfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from cloudmesh.swarm.cli.main import main
from cloudmesh.swarm.errors import UsageError
from cloudmesh.swarm.lab import binfmt, hosts, image
from cloudmesh.swarm.lab.image import Kind, LabError


def test_kinds_name_their_image_and_refuse_unknown_values() -> None:
    assert Kind().image == f"cms-swarm-lab:bookworm-amd64-r{image.RECIPE}"
    assert str(Kind("trixie", "arm64")) == "trixie/arm64"
    with pytest.raises(UsageError, match="--os 'buster'"):
        Kind("buster")
    with pytest.raises(UsageError, match="--arch 'armhf'"):
        Kind("bookworm", "armhf")


def test_host_image_has_nothing_a_fresh_card_lacks() -> None:
    """No container image, no test-image loader: only an emulated host gets a lab-only file."""
    native = image.files(Kind("bookworm", image.host_arch()))
    assert not any("docker" in path or "testimage" in path for path in native)
    assert not any("docker" in link for link in image.LINKS)
    foreign = image.files(Kind("trixie", "arm64" if image.host_arch() == "amd64" else "amd64"))
    assert json.loads(foreign["etc/docker/daemon.json"][0]) == {"iptables": False}
    assert "trixie-security" in foreign["etc/apt/sources.list"][0]


def test_hosts_spec_gives_each_host_its_kind() -> None:
    kinds = hosts.parse_hosts_spec("pi[1-2]:bookworm,pi3:arm64:trixie,pi4", Kind("trixie"))
    assert kinds == {1: Kind(), 2: Kind(), 3: Kind("trixie", "arm64"), 4: Kind("trixie")}
    assert hosts.parse_hosts_spec("pi[1,3]:arm64") == {1: Kind(arch="arm64"), 3: Kind(arch="arm64")}


@pytest.mark.parametrize("spec, message", [
    ("pi1:jessie", "'jessie' is neither a release"),
    ("node1", "named pi1, pi2"),
    ("pi0", "named pi1, pi2"),
    ("pi[1-", "not a host list"),
])
def test_hosts_spec_refuses_bad_items(spec: str, message: str) -> None:
    with pytest.raises(UsageError, match=re.escape(message)):
        hosts.parse_hosts_spec(spec)


def test_lab_up_refuses_a_spec_beyond_n_before_touching_docker(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lab", "up", "2", "--hosts", "pi3:trixie", "--name", "never"]) == 2
    assert "--hosts names pi3, beyond N=2" in capsys.readouterr().err


DEFINITION = """package qemu-user-static
interpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P
magic \\x7f\\x45\\x4c\\x46
offset 0
mask \\xff\\xff\\xff\\xff
credentials no
fix_binary yes
"""


def test_binfmt_register_line_keeps_magic_and_asks_for_fix_and_credentials() -> None:
    line = binfmt.register_line("qemu-aarch64", DEFINITION)
    assert line == (":qemu-aarch64:M:0:\\x7f\\x45\\x4c\\x46:"
                    + "\\xff\\xff\\xff\\xff:/usr/libexec/qemu-binfmt/aarch64-binfmt-P:OCPF")
    assert binfmt.flags_of("enabled\ninterpreter /x\nflags: PF\n") == "PF"
    with pytest.raises(LabError, match="no magic line"):
        binfmt.register_line("qemu-aarch64", "interpreter /x\n")


def test_binfmt_reregisters_a_handler_without_the_c_flag(tmp_path: Path) -> None:
    root, definitions = tmp_path / "binfmt_misc", tmp_path / "binfmts"
    root.mkdir()
    definitions.mkdir()
    (root / "register").write_text("")
    (root / "qemu-aarch64").write_text("enabled\ninterpreter /x\nflags: PF\n")
    (definitions / "qemu-aarch64").write_text(DEFINITION)
    binfmt.ensure("arm64", root, definitions)
    assert (root / "qemu-aarch64").read_text() == "-1"  # removed first
    assert (root / "register").read_text().endswith(":OCPF")
    (root / "register").write_text("")
    (root / "qemu-aarch64").write_text("enabled\nflags: POCF\n")
    binfmt.ensure("arm64", root, definitions)
    assert (root / "register").read_text() == ""  # already right: left alone


def test_binfmt_without_qemu_says_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(LabError, match="apt-get install qemu-user-static"):
        binfmt.ensure("arm64", tmp_path, tmp_path)
    with pytest.raises(LabError, match="architecture ppc64el cannot run"):
        binfmt.ensure("ppc64el", tmp_path, tmp_path)


def test_authorized_keys_tar_belongs_to_pi_and_is_private() -> None:
    data = hosts._authorized_keys("ssh-ed25519 AAAAC3 lab")
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        directory, keys = archive.getmembers()
        assert (directory.name, directory.mode, directory.uid) == (".ssh", 0o700, 1000)
        assert (keys.name, keys.mode, keys.uid, keys.gid) == (".ssh/authorized_keys", 0o600, 1000, 1000)
        assert archive.extractfile(keys).read() == b"ssh-ed25519 AAAAC3 lab\n"  # type: ignore[union-attr]


def test_lab_names_and_addresses() -> None:
    lab = hosts.Lab("class-a", "10.9.8.0/24", client=object())  # type: ignore[arg-type]
    assert lab.address(1) == "10.9.8.11" and lab.address(12) == "10.9.8.22"
    assert lab.container_name(3) == "cms-swarm-class-a-pi3"
    for name, subnet in (("a b", "10.9.8.0/24"), ("x" * 21, "10.9.8.0/24"),
                         ("ok", "10.9.8.0/25"), ("ok", "10.9.8.1/24"), ("ok", "nonsense")):
        with pytest.raises(UsageError):
            hosts.Lab(name, subnet, client=object())  # type: ignore[arg-type]


def test_inotify_limit_is_raised_or_explained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    limit = tmp_path / "max_user_instances"
    limit.write_text("128\n")
    monkeypatch.setattr(hosts, "INOTIFY", limit)
    lab = hosts.Lab(client=object())  # type: ignore[arg-type]
    lab._check_inotify(8)
    assert limit.read_text() == "128\n"  # few hosts: left alone
    lab._check_inotify(24)
    assert limit.read_text() == "1024"
    limit.write_text("128\n")
    limit.chmod(0o444)
    monkeypatch.setattr(hosts.Path, "write_text", _refuse)
    with pytest.raises(LabError, match=r"sysctl -w fs.inotify.max_user_instances=1024"):
        lab._check_inotify(24)


def _refuse(*_: object, **__: object) -> int:
    raise PermissionError("read-only")


def test_no_engine_is_explained_with_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-such.sock")
    assert main(["lab", "status"]) == 1
    err = capsys.readouterr().err
    assert "no Docker engine answers" in err and "apt-get install docker.io" in err
    assert len(err.strip().splitlines()) == 1


def test_offline_lab_keeps_routes_to_non_loopback_name_servers(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("# comment\nnameserver 10.255.255.53\nnameserver 127.0.0.53\n"
                    "nameserver fd00::1\nsearch lan\nnameserver not-an-ip\n")
    assert hosts._name_servers(conf) == ["10.255.255.53"]
    assert hosts._name_servers(tmp_path / "absent") == []


class _Exec:
    """A container whose `cat` of the host key prints `output` (as docker's exec_run would)."""

    def __init__(self, output: bytes) -> None:
        self.output = output

    def exec_run(self, command: list[str]) -> SimpleNamespace:
        return SimpleNamespace(exit_code=0, output=self.output)


@pytest.mark.parametrize(("output", "expected"), [
    (b"ssh-ed25519 AAAAC3Nza root@pi1\n", "ssh-ed25519 AAAAC3Nza"),
    (b"", ""),  # first boot still writing the key: not ready, asked again (was a ValueError)
    (b"ssh-ed25519", ""),
])
def test_host_key_is_empty_until_the_key_file_is_whole(output: bytes, expected: str) -> None:
    container = _Exec(output)
    client = SimpleNamespace(containers=SimpleNamespace(get=lambda name: container))
    lab = hosts.Lab("keys", "10.9.7.0/24", client=client)  # type: ignore[arg-type]
    assert lab._host_key(1) == expected
