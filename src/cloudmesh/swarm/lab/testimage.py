"""A tiny offline test image (busybox: sh, httpd, nc) in `docker save` format.

No registry can be reached from the lab, so `verify` needs an image the hosts already have.
We write the archive ourselves (one layer, a config, a manifest) instead of importing and
saving through the machine's engine, so nothing is tagged there and the result is the same
bytes on every run for the same busybox binary.
"""

from __future__ import annotations

import hashlib
import io
import json
import platform
import tarfile
from pathlib import Path

APPLETS = ("sh", "nc", "httpd", "mkdir", "hostname", "cat", "echo", "sleep", "ls", "wget",
           "true", "false", "test", "printf", "ip", "ping")
GOARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "armv6l": "arm"}


def _add(archive: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, 0
    archive.addfile(info, io.BytesIO(data))


def _layer(busybox: Path) -> bytes:
    """The root file system: /bin/busybox, one symlink per applet, an empty /tmp and /www."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as layer:
        for directory in ("bin", "tmp", "www"):
            info = tarfile.TarInfo(directory)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o1777 if directory == "tmp" else 0o755, 0
            layer.addfile(info)
        _add(layer, "bin/busybox", busybox.read_bytes(), 0o755)
        for applet in APPLETS:
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type, info.linkname, info.mode, info.mtime = tarfile.SYMTYPE, "busybox", 0o777, 0
            layer.addfile(info)
    return buffer.getvalue()


def build(busybox: Path, tag: str = "busybox:latest") -> bytes:
    """A `docker load`-able archive holding one image tagged `tag`."""
    layer = _layer(busybox)
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps({
        "architecture": GOARCH.get(platform.machine(), platform.machine()),
        "os": "linux",
        "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "cloudmesh-swarm lab test image"}],
    }, sort_keys=True).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    layer_dir = hashlib.sha256(layer).hexdigest()
    manifest = json.dumps([{"Config": config_name, "RepoTags": [tag],
                            "Layers": [f"{layer_dir}/layer.tar"]}]).encode()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as archive:
        _add(archive, f"{layer_dir}/layer.tar", layer)
        _add(archive, config_name, config)
        _add(archive, "manifest.json", manifest)
    return out.getvalue()
