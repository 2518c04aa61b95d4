"""`image info`: what an image file or card holds, and whether it is a complete burn.

Partitions, file systems, OS release, first-boot mechanism and the customisation found,
sha256. A card or file whose sector 0 holds burn.py's marker is reported as an
INCOMPLETE burn (exit 1), never as a good card. A compressed image is described from
its header and first block (partition table), plus its `.sha256` file when present.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any

from cloudmesh.swarm.image import burn, mbr
from cloudmesh.swarm.image.device import human
from cloudmesh.swarm.image.errors import ImageInputError
from cloudmesh.swarm.image.source import open_image

TYPE_NAMES = {0x0B: "FAT32", 0x0C: "FAT32 (LBA)", 0x0E: "FAT16 (LBA)", 0x06: "FAT16",
              0x83: "Linux", 0x82: "Linux swap", 0x05: "extended", 0x0F: "extended (LBA)"}


def describe(path: Path, *, with_sha: bool = True, quiet: bool = False) -> dict[str, Any]:
    """Everything `image info` prints, as a dict (the --json output)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ImageInputError(f"FILE: {path} does not exist") from None
    if not (stat.S_ISREG(mode) or stat.S_ISBLK(mode)):
        raise ImageInputError(f"FILE: {path} is neither a file nor a block device")
    block_device = stat.S_ISBLK(mode)
    out: dict[str, Any] = {"path": str(path), "kind": "block device" if block_device else "file"}
    if not block_device:
        source = open_image(path)
        out["format"] = source.kind
        out["file_size"] = source.file_size
        out["image_size"] = source.size
        if source.kind != "raw":
            blocks = source.blocks(1 << 16)
            try:
                first = next(blocks, b"")
            finally:
                close = getattr(blocks, "close", None)
                if close is not None:
                    close()
            out.update(_table(first[:mbr.SECTOR], None))
            out["status"] = _status(first[:mbr.SECTOR])
            if with_sha:
                out.update(_sha(path, source.file_size, quiet))
            return out
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.lseek(fd, 0, os.SEEK_END)
        sector0 = mbr.read_at(fd, 0, mbr.SECTOR)
        out["size"] = size
        out["status"] = _status(sector0)
        out.update(_table(sector0, fd))
    finally:
        os.close(fd)
    if out["status"].startswith("INCOMPLETE"):
        return out
    if out["table"] == "mbr":
        out.update(_system(path))
    if with_sha:
        end = size if not block_device else (out.get("end") or size)
        out.update(_sha(path, end, quiet))
    return out


def _status(sector0: bytes) -> str:
    found = burn.read_marker(sector0)
    if found is not None:
        what = f" of {found.get('image')}" if found.get("image") else ""
        when = f" started {found.get('started')}" if found.get("started") else ""
        return (f"INCOMPLETE: an interrupted or failed burn{what}{when}; not a usable card, "
                "burn it again")
    return "ok"


def _table(sector0: bytes, fd: int | None) -> dict[str, Any]:
    table = mbr.parse(sector0)
    parts = []
    for part in table.partitions:
        entry: dict[str, Any] = {"number": part.number, "start": part.offset, "size": part.size,
                                 "type": TYPE_NAMES.get(part.type_id, f"0x{part.type_id:02x}")}
        if fd is not None:
            head = mbr.read_at(fd, part.offset, 65536)
            entry["fs"] = mbr.filesystem(head) or "unknown"
            entry["label"] = mbr.label(head, entry["fs"])
        parts.append(entry)
    return {"table": table.kind, "disk_id": f"{table.disk_id:08x}", "partitions": parts,
            "end": table.end}


def _system(path: Path) -> dict[str, Any]:
    from cloudmesh.swarm.image import customize
    from cloudmesh.swarm.image.errors import ToolMissing
    from cloudmesh.swarm.image.fat import Fat

    try:
        layout = customize.detect(path)
    except ToolMissing as error:
        return {"mechanism": "unknown", "mechanism_reason": str(error)}
    out: dict[str, Any] = {"os": layout.os_release.get("PRETTY_NAME", ""),
                           "mechanism": layout.mechanism, "mechanism_reason": layout.reason}
    if layout.boot is None:
        return out
    fat = Fat(path, layout.boot.offset)
    cmdline = (fat.read("cmdline.txt") or b"").decode("utf-8", "replace")
    found: dict[str, Any] = {"cgroup_memory": all(f in cmdline.split() for f in customize.CGROUP_FLAGS)}
    if layout.mechanism == "cloud-init":
        text = (fat.read("user-data") or b"").decode("utf-8", "replace")
        if customize.MARK in text:
            found.update(_from_user_data(text))
            network = (fat.read("network-config") or b"").decode("utf-8", "replace")
            ssid = re.search(r'access-points:\s*\n\s*("(?:[^"\\]|\\.)*"):', network)
            if ssid:
                import json

                found["wifi_ssid"] = json.loads(ssid.group(1))
    elif layout.mechanism == "firstrun" and "firstrun.sh" in layout.boot_files:
        text = (fat.read("firstrun.sh") or b"").decode("utf-8", "replace")
        found["first_run"] = "firstrun.sh (runs once on first boot)"
        host = re.search(r"set_hostname ('[^']*'|[^\s;]+)", text)
        if host:
            found["hostname"] = host.group(1).strip("'")
        user = re.search(r"userconf (?!\])('[^']*'|[^\s;]+)", text)
        if user:
            found["user"] = user.group(1).strip("'")
        found["ssh_keys"] = len(re.findall(r"(?:ssh-\w+|ecdsa-\S+) AAAA", text))
        found["password_login"] = "PasswordAuthentication no" not in text
        wifi = re.search(r"set_wlan -h ('[^']*'|[^\s;]+)", text)
        if wifi:
            found["wifi_ssid"] = wifi.group(1).strip("'")
    out["customisation"] = found
    return out


def _scalar(text: str) -> str:
    """A value as we wrote it (JSON), or as a hand edit left it (plain YAML)."""
    import json

    try:
        value = json.loads(text)
    except ValueError:
        return text.strip().strip("'\"")
    return value if isinstance(value, str) else str(value)


def _from_user_data(text: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, field in (("hostname", "hostname"), ("timezone", "timezone")):
        match = re.search(rf"^{key}: (.+)$", text, re.MULTILINE)
        if match:
            found[field] = _scalar(match.group(1))
    user = re.search(r"^  - name: (.+)$", text, re.MULTILINE)
    if user:
        found["user"] = _scalar(user.group(1))
    found["ssh_keys"] = len(re.findall(r"^      - ", text, re.MULTILINE))
    found["password_login"] = "ssh_pwauth: true" in text
    return found


def _sha(path: Path, size: int, quiet: bool) -> dict[str, Any]:
    digest = burn.sha256_of(path, size, title="sha256", quiet=quiet, cold=False)
    out: dict[str, Any] = {"sha256": digest, "sha256_of_bytes": size}
    sidecar = Path(f"{path}.sha256")
    if sidecar.is_file():
        expected = sidecar.read_bytes().decode("ascii", "replace").split()[:1]
        out["sha256_file"] = "matches" if expected == [digest] else "DIFFERS"
    return out


def render(info: dict[str, Any]) -> list[str]:
    """The human-readable lines of `image info`."""
    lines = [f"{info['path']}: {info['kind']}" + (f", {info['format']}" if "format" in info else "")]
    if info.get("format") not in (None, "raw"):
        size = info.get("image_size")
        lines.append(f"  compressed {human(info['file_size'])}, image "
                     + (human(size) if size else "size unknown until decompressed"))
    elif "size" in info:
        lines.append(f"  size {human(info['size'])} ({info['size']} bytes)")
    lines.append(f"  status: {info['status']}")
    if info.get("table") and not info["status"].startswith("INCOMPLETE"):
        lines.append(f"  partition table: {info['table']}, disk id {info['disk_id']}")
        for part in info.get("partitions", []):
            fs = f" {part['fs']}" if part.get("fs") else ""
            label = f" '{part['label']}'" if part.get("label") else ""
            lines.append(f"    {part['number']}: {part['type']:<12} start {part['start']:>12}  "
                         f"size {human(part['size']):>9}{fs}{label}")
    if "mechanism" in info:
        if info.get("os"):
            lines.append(f"  os: {info['os']}")
        lines.append(f"  first boot: {info['mechanism']} ({info['mechanism_reason']})")
    for key, value in (info.get("customisation") or {}).items():
        lines.append(f"    {key.replace('_', ' ')}: {value}")
    if "sha256" in info:
        of = (f"of the .{info['format']} file" if info.get("format") not in (None, "raw")
              else f"of the first {info['sha256_of_bytes']} bytes")
        lines.append(f"  sha256: {info['sha256']} ({of})")
        if "sha256_file" in info:
            lines.append(f"  {info['path']}.sha256: {info['sha256_file']}")
    return lines
