"""`image info`: what an image file or card holds, and whether it is a complete burn.

Partitions, file systems, OS release, first-boot mechanism and the customisation found,
sha256. A card or file whose sector 0 holds burn.py's marker is reported as an
INCOMPLETE burn (exit 1), never as a good card. A compressed image is described from
its header, partition table and boot and root file systems (decompressed only as far as
needed), plus its `.sha256` file when present.
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
from cloudmesh.swarm.sha256_file import expected_sha256

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
            if out["table"] == "mbr" and out["status"] == "ok":
                from cloudmesh.swarm.image.customize import peek

                with peek(source) as head:  # decompressed only as far as the root's /etc
                    out.update(_system(head))
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
    files: dict[str, str] = {name: (fat.read(name) or b"").decode("utf-8", "replace")
             for name in ("cmdline.txt", "firstrun.sh", "user-data", "network-config")
             if name in layout.boot_files}
    cmdline = files.get("cmdline.txt", "")
    found: dict[str, Any] = {"cgroup_memory": all(f in cmdline.split() for f in customize.CGROUP_FLAGS)}
    if layout.mechanism == "cloud-init":
        found.update(_from_cloud_init(files.get("user-data", ""), files.get("network-config", "")))
    elif layout.mechanism == "firstrun" and "firstrun.sh" in files:
        found.update(_from_firstrun(files["firstrun.sh"]))
    out["customisation"] = found
    out["first_boot"], out["warnings"] = plan(layout, files)
    return out


def _word(pattern: str, text: str) -> str | None:
    """The shell word after `pattern` in `text`, unquoted."""
    import shlex

    match = re.search(pattern + r" ((?:'[^']*'|\\.|[^\s;'])+)", text)
    if not match:
        return None
    try:
        return shlex.split(match.group(1))[0]
    except (ValueError, IndexError):
        return match.group(1)


def _from_firstrun(text: str) -> dict[str, Any]:
    found: dict[str, Any] = {"first_run": "firstrun.sh (runs once on first boot)"}
    for key, pattern in (("hostname", r"set_hostname"), ("user", r"userconf-pi/userconf(?! \])"),
                         ("wifi_ssid", r"set_wlan(?: -h| --hidden)?"),
                         ("timezone", r"set_timezone")):
        value = _word(pattern, text)
        if value is not None:
            found[key] = value
    if "set_wlan" in text:
        found["wifi_hidden"] = bool(re.search(r"set_wlan +(-h|--hidden) ", text))
    found["ssh_keys"] = len(re.findall(r"(?:ssh-\w+|ecdsa-\S+|sk-\S+) AAAA", text))
    found["password_login"] = "PasswordAuthentication no" not in text
    return found


def _from_cloud_init(user_data: str, network: str) -> dict[str, Any]:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    found: dict[str, Any] = {}
    try:
        data = YAML(typ="safe").load(user_data) or {}
        net = YAML(typ="safe").load(network) or {}
    except YAMLError:
        return {"yaml": "user-data or network-config is not valid YAML"}
    if not isinstance(data, dict):
        return found
    for key in ("hostname", "timezone"):
        if isinstance(data.get(key), str):
            found[key] = data[key]
    user = data.get("user")
    if isinstance(user, dict) and isinstance(user.get("name"), str):
        found["user"] = user["name"]
        found["ssh_keys"] = len(user.get("ssh_authorized_keys") or [])
    elif isinstance(data.get("users"), list):
        named = [u for u in data["users"] if isinstance(u, dict) and "name" in u]
        if named:
            found["user"] = named[0]["name"]
            found["ssh_keys"] = len(named[0].get("ssh_authorized_keys") or [])
    if "ssh_pwauth" in data:
        found["password_login"] = bool(data["ssh_pwauth"])
    wifis = ((net.get("network") or {}).get("wifis") or {}) if isinstance(net, dict) else {}
    for wlan in wifis.values() if isinstance(wifis, dict) else []:
        points = (wlan or {}).get("access-points") or {}
        for ssid, point in points.items():
            found["wifi_ssid"] = str(ssid)
            found["wifi_hidden"] = bool((point or {}).get("hidden"))
    return found


def plan(layout: Any, files: dict[str, str]) -> tuple[list[str], list[str]]:
    """What first boot will do with this card, and what of it would not survive."""
    from cloudmesh.swarm.image import customize

    steps: list[str] = []
    warnings: list[str] = []
    lost: list[int] = []
    words = files.get("cmdline.txt", "").split()
    regdoms = [i for i, w in enumerate(words) if w.startswith(customize.REGDOM)]
    hooks = [i for i, w in enumerate(words) if w.startswith("systemd.run=")]
    script = files.get("firstrun.sh", "")
    if not all(flag in words for flag in customize.CGROUP_FLAGS):
        warnings.append("no cgroup_enable=memory cgroup_memory=1 in cmdline.txt: Docker memory "
                        "limits will not work")
    if any(w.startswith("init=") and w.endswith("raspberrypi-sys-mods/firstboot") for w in words):
        steps.append("boot 1: raspberrypi-sys-mods firstboot resizes the root file system, "
                     "removes its init= (and ' quiet') from cmdline.txt, reboots")
    if layout.mechanism == "firstrun":
        if hooks:
            path = words[hooks[0]].split("=", 1)[1]
            steps.append(f"then systemd runs {path} once (systemd.run=) and reboots")
            if "firstrun.sh" not in files:
                warnings.append(f"cmdline.txt runs {path}, but the boot partition has no firstrun.sh")
        elif "firstrun.sh" in files:
            warnings.append("firstrun.sh is on the boot partition, but no systemd.run= in "
                            "cmdline.txt runs it")
        greedy = "systemd.run.*||" in script
        if greedy and hooks:
            lost = [i for i in regdoms if i > hooks[0]]
            regdoms = [i for i in regdoms if i < hooks[0]]
        if greedy and hooks and lost:
            warnings.append("the Wi-Fi country (cfg80211.ieee80211_regdom=) comes after the "
                            "systemd.run= hook: firstrun.sh's clean-up `s| systemd.run.*||g` "
                            "deletes it, so later boots use the world regulatory domain")
        elif greedy and "set_wlan" in script:
            warnings.append("firstrun.sh sets the Wi-Fi country with raspi-config, which appends "
                            "it to cmdline.txt after the systemd.run= hook; its clean-up "
                            "`s| systemd.run.*||g` then deletes it (world regulatory domain)")
        if "userconf.txt" in layout.boot_files:
            warnings.append("userconf.txt (a password hash) is not read on this first boot "
                            "(firstrun.sh sets the user); it would stay on the boot partition")
        if re.search(r"set_wlan +(-h|--hidden) ", script):
            steps.append("the Wi-Fi network is set up as hidden")
    elif layout.mechanism == "cloud-init":
        steps.append("cloud-init applies user-data, meta-data and network-config "
                     "(once per instance-id)")
        user_data = files.get("user-data", "")
        if re.search(r"^enable_ssh:", user_data, re.MULTILINE):
            warnings.append("user-data has 'enable_ssh', which is not a cloud-init key: "
                            "`cloud-init status` reports an error on every boot")
        if re.search(r"^users:", user_data, re.MULTILINE) and not re.search(
                r"^\s*- *default\s*$", user_data, re.MULTILINE):
            warnings.append("user-data's plural 'users:' without '- default' makes a second "
                            "account instead of renaming Raspberry Pi OS's user 1000")
        if "wifis:" in files.get("network-config", "") and not regdoms:
            warnings.append("Wi-Fi is configured but cmdline.txt has no cfg80211.ieee80211_regdom=: "
                            "Raspberry Pi OS starts with Wi-Fi blocked")
    for index in regdoms:
        steps.append(f"Wi-Fi country {words[index].split('=', 1)[1]} from cmdline.txt on every boot")
    return steps, warnings


def _sha(path: Path, size: int, quiet: bool) -> dict[str, Any]:
    digest = burn.sha256_of(path, size, title="sha256", quiet=quiet, cold=False)
    out: dict[str, Any] = {"sha256": digest, "sha256_of_bytes": size}
    try:
        expected = expected_sha256(path)
    except (OSError, ValueError):  # unreadable, or not a sha256sum file
        expected = ""
    if expected is not None:
        out["sha256_file"] = "matches" if expected == digest else "DIFFERS"
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
    for step in info.get("first_boot") or []:
        lines.append(f"    will: {step}")
    for warning in info.get("warnings") or []:
        lines.append(f"  WARNING: {warning}")
    if "sha256" in info:
        of = (f"of the .{info['format']} file" if info.get("format") not in (None, "raw")
              else f"of the first {info['sha256_of_bytes']} bytes")
        lines.append(f"  sha256: {info['sha256']} ({of})")
        if "sha256_file" in info:
            lines.append(f"  {info['path']}.sha256: {info['sha256_file']}")
    return lines
