"""First-boot settings written into an image's FAT boot partition, by the image's own mechanism.

Two mechanisms exist in Raspberry Pi OS, and the image tells which one it uses:
- cloud-init (trixie and later): the boot partition ships `user-data`, `meta-data` and
  `network-config`; we write a #cloud-config with the user, key, hostname and timezone,
  a netplan Wi-Fi section, and a new instance-id so cloud-init runs again.
- firstrun (bookworm and older, the way rpi-imager does it): `firstrun.sh` in the boot
  partition, run once by systemd from `cmdline.txt` (`systemd.run=`) through Raspberry Pi's
  own `imager_custom`, `userconf` and `raspi-config`, plus the `ssh` file.
Both get `cgroup_enable=memory cgroup_memory=1`, and with Wi-Fi the regulatory domain
`cfg80211.ieee80211_regdom=CC`, on the kernel command line, before the first-run hook so
the hook's clean-up keeps them. Anything else is refused as an unknown layout. Secrets never
go to argv or logs: the user password is stored as a SHA-512 crypt hash and the Wi-Fi
passphrase as the derived WPA PSK, and first boot removes both from the boot partition.
"""

from __future__ import annotations

import json
import re
import secrets
import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cloudmesh.swarm.image import ext4, mbr
from cloudmesh.swarm.image.errors import ImageError, ImageInputError
from cloudmesh.swarm.image.fat import Fat
from cloudmesh.swarm.image.source import ImageSource
from cloudmesh.swarm.os_release import os_release_values

CGROUP_FLAGS = ("cgroup_enable=memory", "cgroup_memory=1")
CLOUD_INIT_FILES = ("user-data", "meta-data", "network-config")
FIRSTRUN_CODENAMES = ("stretch", "buster", "bullseye", "bookworm")
FIRST_CLOUD_INIT = "2025-11-24"  # first trixie release with cloud-init (pi-gen tag 2025-11-24-raspios-trixie-arm64)
REGDOM = "cfg80211.ieee80211_regdom="
HOOK_PREFIXES = ("systemd.run=", "systemd.run_success_action=", "systemd.unit=kernel-command-line.target")
PI_GROUPS = ("adm", "dialout", "cdrom", "sudo", "audio", "video", "plugdev", "games", "users",
             "input", "render", "netdev", "gpio", "i2c", "spi")
# All matched with fullmatch: `$` would also accept a trailing newline.
_HOSTNAME = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
_USER = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
_TIMEZONE = re.compile(r"UTC|[A-Z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,2}")
_KEY = re.compile(r"(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|"
                  r"ecdsa-sha2-nistp256)@openssh\.com) [A-Za-z0-9+/=]+( [^\x00-\x1f\x7f]*)?")
MARK = "cms-swarm"


@dataclass(frozen=True)
class Settings:
    """What to set on first boot; validated by `settings()` (ImageInputError names the flag)."""

    hostname: str | None = None
    user: str = "pi"
    password_hash: str | None = None  # None: key-only login
    ssh_keys: tuple[str, ...] = ()
    wifi_ssid: str | None = None
    wifi_psk: str | None = None  # 64 hex digits, derived from the passphrase
    wifi_country: str | None = None
    timezone: str | None = None
    wifi_hidden: bool = False

    def with_hostname(self, name: str) -> Settings:
        from dataclasses import replace

        return replace(self, hostname=check_hostname(name, "--hosts"))


def check_hostname(name: str, flag: str = "--hostname") -> str:
    if not _HOSTNAME.fullmatch(name) or name.isdigit():
        raise ImageInputError(f"{flag}: {name!r} is not a valid host name (letters, digits, '-')")
    return name.lower()


def settings(*, hostname: str | None, user: str, password_hash: str | None, ssh_keys: list[str],
             wifi_ssid: str | None, wifi_psk: str | None, wifi_country: str | None,
             timezone: str | None, wifi_hidden: bool = False) -> Settings:
    """Validate every field before anything is touched."""
    if hostname is not None:
        hostname = check_hostname(hostname)
    if not _USER.fullmatch(user):
        raise ImageInputError(f"--user: {user!r} is not a valid user name (lowercase, digits, _ -)")
    if user == "root":
        raise ImageInputError("--user: root cannot be the login user; use e.g. pi")
    for key in ssh_keys:
        if not _KEY.fullmatch(key) or not key.isprintable():
            raise ImageInputError(f"--ssh-key: not an OpenSSH public key line: {key[:40]!r}")
    if password_hash is None and not ssh_keys:
        raise ImageInputError("--ssh-key: no way to log in: give a public key (--ssh-key FILE) "
                              "or a password (--ask-password / --password-stdin)")
    if wifi_ssid is not None:
        if not 1 <= len(wifi_ssid.encode()) <= 32:
            raise ImageInputError("--wifi-ssid: must be 1 to 32 bytes (UTF-8)")
        if not wifi_ssid.isprintable():
            raise ImageInputError("--wifi-ssid: control characters and line breaks are not allowed")
        if wifi_country is None:
            raise ImageInputError("--wifi-country: required with --wifi-ssid (e.g. US, DE, GB)")
        if wifi_psk is None or not re.fullmatch(r"[0-9a-f]{64}", wifi_psk):
            raise ImageInputError("--wifi-ssid: no Wi-Fi password was given")
    if wifi_country is not None:
        if not re.fullmatch(r"[A-Za-z]{2}", wifi_country) or not wifi_country.isascii():
            raise ImageInputError(f"--wifi-country: {wifi_country!r} is not a two-letter country code")
        wifi_country = wifi_country.upper()
        if wifi_ssid is None:
            raise ImageInputError("--wifi-country: goes with --wifi-ssid")
    if wifi_hidden and wifi_ssid is None:
        raise ImageInputError("--wifi-hidden: goes with --wifi-ssid")
    if timezone is not None:
        zoneinfo = Path("/usr/share/zoneinfo")
        if not _TIMEZONE.fullmatch(timezone) or ".." in timezone or (
                zoneinfo.is_dir() and not (zoneinfo / timezone).is_file()):
            raise ImageInputError(f"--timezone: {timezone!r} is not a known time zone (e.g. Europe/Berlin)")
    return Settings(hostname, user, password_hash, tuple(ssh_keys), wifi_ssid, wifi_psk,
                    wifi_country, timezone, wifi_hidden)


def check_wifi_passphrase(passphrase: str) -> None:
    if re.fullmatch(r"[0-9a-fA-F]{64}", passphrase):
        return
    if not 8 <= len(passphrase) <= 63 or not passphrase.isascii() or not passphrase.isprintable():
        raise ImageInputError("Wi-Fi password: must be 8 to 63 printable ASCII characters "
                              "(or a 64-hex-digit PSK)")


# -- the image -------------------------------------------------------------------------------
@dataclass
class Layout:
    """What `detect` found in an image: partitions, OS and first-boot mechanism."""

    mechanism: str  # cloud-init | firstrun | unknown
    reason: str
    table: mbr.Table
    boot: mbr.Partition | None = None
    root: mbr.Partition | None = None
    boot_files: set[str] = field(default_factory=set)
    os_release: dict[str, str] = field(default_factory=dict)
    boot_mount: str = "/boot/firmware"


def detect(image: Path) -> Layout:
    """Partitions, FAT boot, ext root, OS release and mechanism of an image file or device."""
    import os

    fd = os.open(image, os.O_RDONLY)
    try:
        table = mbr.parse(mbr.read_at(fd, 0, mbr.SECTOR))
        boot = root = None
        for part in table.partitions:
            fs = mbr.filesystem(mbr.read_at(fd, part.offset, 65536))
            if fs == "vfat" and boot is None:
                boot = part
            elif fs.startswith("ext") and root is None:
                root = part
    finally:
        os.close(fd)
    layout = Layout("unknown", "", table, boot, root)
    if table.kind != "mbr":
        layout.reason = "no MBR partition table" if table.kind == "none" else "a GPT disk"
        return layout
    if boot is None:
        layout.reason = "no FAT boot partition"
        return layout
    layout.boot_files = Fat(image, boot.offset).names()
    if root is not None:
        text = ext4.read_file(image, root.offset, "/etc/os-release") or \
            ext4.read_file(image, root.offset, "/usr/lib/os-release")
        if text:
            layout.os_release = os_release_values(text.decode("utf-8", "replace"))
        fstab = (ext4.read_file(image, root.offset, "/etc/fstab") or b"").decode("utf-8", "replace")
        mounts = [line.split()[1] for line in fstab.splitlines()
                  if len(line.split()) > 2 and line.split()[2] == "vfat" and not line.startswith("#")]
        if mounts:
            layout.boot_mount = mounts[0]
        elif layout.os_release.get("VERSION_CODENAME") in FIRSTRUN_CODENAMES[:3]:
            layout.boot_mount = "/boot"
    if "cmdline.txt" not in layout.boot_files:
        layout.reason = "the boot partition has no cmdline.txt (not a Raspberry Pi image)"
        return layout
    if not re.fullmatch(r"/[A-Za-z0-9._/-]*", layout.boot_mount) or ".." in layout.boot_mount:
        # read from the image, and it goes into firstrun.sh and cmdline.txt: a plain path only
        layout.reason = f"the boot partition's mount point {layout.boot_mount!r} in /etc/fstab is unusual"
        return layout
    if set(CLOUD_INIT_FILES[:2]) & layout.boot_files:
        layout.mechanism, layout.reason = "cloud-init", "boot partition has cloud-init files"
        return layout
    codename = layout.os_release.get("VERSION_CODENAME", "")
    os_id = layout.os_release.get("ID", "")
    if os_id in ("raspbian", "debian") and codename in FIRSTRUN_CODENAMES:
        layout.mechanism = "firstrun"
        layout.reason = f"{os_id} {codename}: first-run script hooked from cmdline.txt"
        return layout
    cmdline = (Fat(image, boot.offset).read("cmdline.txt") or b"").decode("utf-8", "replace")
    if "raspberrypi-sys-mods/firstboot" in cmdline or "init_resize.sh" in cmdline:
        layout.mechanism = "firstrun"
        layout.reason = "cmdline.txt runs raspberrypi-sys-mods/firstboot"
        return layout
    release = layout.os_release.get("PRETTY_NAME") or "no /etc/os-release found"
    if os_id in ("raspbian", "debian") and codename == "trixie":
        layout.reason = (f"{release} without cloud-init files in the boot partition: Raspberry Pi "
                         f"OS trixie images before {FIRST_CLOUD_INIT} have no first-boot hook; "
                         f"use {FIRST_CLOUD_INIT} or later")
        return layout
    layout.reason = (f"{release}: no cloud-init files in the boot partition and not Raspberry "
                     "Pi OS bookworm or older")
    return layout


def detect_source(source: ImageSource) -> Layout:
    """`detect` before burning a compressed image, with the same answer as for the raw image
    (see `peek`)."""
    with peek(source) as head:
        return detect(head)


@contextmanager
def peek(source: ImageSource) -> Iterator[Path]:
    """The image as a file `detect` can read: a raw image itself; a compressed one decompressed
    into a sparse temporary file (zeros are skipped, so it takes little disk) only as far as
    needed: the boot partition, then the root file system until its os-release and fstab read
    back whole (an unwritten block reads as zeros, never as a wrong file)."""
    import tempfile

    if source.kind == "raw":
        yield source.path
        return
    with tempfile.TemporaryDirectory(prefix="cms-peek-") as tmp:
        head = Path(tmp) / "head.img"
        with open(head, "wb") as out:
            offset = 0
            check_at = limit = end = None
            blocks = source.blocks()
            try:
                for block in blocks:
                    if offset == 0:
                        table = mbr.parse(block[:mbr.SECTOR])
                        fats = [p for p in table.partitions if p.type_id in mbr.FAT_TYPES]
                        roots = [p for p in table.partitions if p.type_id == mbr.LINUX]
                        limit = min((p.end for p in fats), default=len(block))
                        if roots and fats:
                            check_at, end = max(limit, roots[0].offset + (4 << 20)), roots[0].end
                    if block.count(0) != len(block):
                        out.seek(offset)
                        out.write(block)
                    offset += len(block)
                    if check_at is not None and end is not None and offset >= check_at:
                        out.truncate(max(offset, out.tell()))
                        out.flush()
                        if _root_readable(head, roots[0].offset) or offset >= end:
                            break
                        check_at = min(end, roots[0].offset + 2 * (offset - roots[0].offset))
                    elif check_at is None and limit is not None and offset >= limit:
                        break
            finally:
                close = getattr(blocks, "close", None)  # a generator: stop its decompressor now
                if close is not None:
                    close()
            out.truncate(offset)
        yield head


def _root_readable(image: Path, offset: int) -> bool:
    """Whether /etc/os-release and /etc/fstab of the root at `offset` read back whole."""
    release = ext4.read_file(image, offset, "/etc/os-release") or b""
    fstab = ext4.read_file(image, offset, "/etc/fstab") or b""
    return (b"ID=" in release and b"\0" not in release and bool(fstab.strip())
            and b"\0" not in fstab)


def require(layout: Layout, image: Path) -> None:
    if layout.mechanism == "unknown":
        raise ImageInputError(f"IMAGE: {image}: unknown image layout ({layout.reason}); "
                              "supported: Raspberry Pi OS with cloud-init (trixie+) or "
                              "firstrun (bookworm and older)")


# -- rendering -------------------------------------------------------------------------------
def _q(value: str) -> str:
    """A YAML scalar that cannot break out of its line: a JSON string (valid YAML) with
    non-ASCII left as UTF-8, since netplan's parser rejects JSON's surrogate-pair escapes.
    Values are validated printable, so no line break (not even U+2028) gets here."""
    return json.dumps(value, ensure_ascii=False)


def cmdline(old: str, extra: tuple[str, ...] = (), drop_prefixes: tuple[str, ...] = ()) -> str:
    """cmdline.txt as one line with the cgroup flags (and `extra`) present exactly once.

    Words starting with `drop_prefixes` are removed first; `extra` goes last in its order,
    so a regulatory domain given before the first-run hook stays before it."""
    words = [w for w in old.split() if not w.startswith(drop_prefixes)] if drop_prefixes else old.split()
    for word in (*CGROUP_FLAGS, *extra):
        if word not in words:
            words.append(word)
    return " ".join(words) + "\n"


def boot_cmdline(layout: Layout, s: Settings, old: str) -> str:
    """The kernel command line for this mechanism: cgroup flags, regulatory domain (before the
    hook, where raspi-config's do_wifi_country also finds it), then the first-run hook."""
    extra: tuple[str, ...] = (f"{REGDOM}{s.wifi_country}",) if s.wifi_country else ()
    drop: tuple[str, ...] = (REGDOM,) if s.wifi_country else ()
    if layout.mechanism == "firstrun":
        extra += (f"systemd.run={layout.boot_mount}/firstrun.sh",
                  "systemd.run_success_action=reboot", "systemd.unit=kernel-command-line.target")
        drop += HOOK_PREFIXES
    return cmdline(old, extra, drop)


def user_data(s: Settings, boot_mount: str = "/boot/firmware") -> str:
    """#cloud-config with the singular `user:`, as rpi-imager writes it: cloud-init merges it
    over the distro's default user (groups, settings), and Raspberry Pi OS's cloud-init renames
    its preseeded user 1000 for the first user it creates; the plural `users:` without
    `default` bypasses the default user (upstream: `useradd`, a second account)."""
    lines = ["#cloud-config", f"# written by {MARK} image customize", "manage_resolv_conf: false"]
    if s.hostname:
        lines += [f"hostname: {_q(s.hostname)}", "manage_etc_hosts: true"]
    if s.timezone:
        lines.append(f"timezone: {_q(s.timezone)}")
    lines += ["user:", f"  name: {_q(s.user)}", '  shell: "/bin/bash"',
              '  sudo: "ALL=(ALL) NOPASSWD:ALL"',
              f"  lock_passwd: {'false' if s.password_hash else 'true'}"]
    if s.password_hash:
        lines.append(f"  passwd: {_q(s.password_hash)}")
    if s.ssh_keys:
        lines.append("  ssh_authorized_keys:")
        lines += [f"    - {_q(key)}" for key in s.ssh_keys]
    lines += [f"ssh_pwauth: {'true' if s.password_hash else 'false'}",
              "runcmd:", '  - ["systemctl", "enable", "--now", "ssh"]']
    secret_files = [f"{boot_mount}/user-data"] if s.password_hash else []
    if s.wifi_ssid:
        secret_files.append(f"{boot_mount}/network-config")
    if secret_files:  # applied by now: take the hash and the PSK off the FAT partition
        argv = ["sed", "-i", "-e", "/^  passwd: /d", "-e", "/^          password: /d", *secret_files]
        lines.append(f"  - {json.dumps(argv)}")
    return "\n".join(lines) + "\n"


def meta_data(s: Settings) -> str:
    name = s.hostname or "raspberrypi"
    return (f"dsmode: local\ninstance-id: {MARK}-{name}-{secrets.token_hex(4)}\n"
            f"local-hostname: {name}\n")


def network_config(s: Settings) -> str:
    assert s.wifi_ssid and s.wifi_psk and s.wifi_country
    point = [f"        {_q(s.wifi_ssid)}:", f"          password: {_q(s.wifi_psk)}"]
    if s.wifi_hidden:
        point.insert(1, "          hidden: true")
    return "\n".join([
        f"# written by {MARK} image customize", "network:", "  version: 2",
        "  ethernets:", "    eth0:", "      dhcp4: true", "      optional: true",
        "  wifis:", "    wlan0:", "      dhcp4: true", "      optional: true",
        f"      regulatory-domain: {_q(s.wifi_country)}", "      access-points:",
        *point, ""])


def nm_plain(ssid: str) -> bool:
    """Whether imager_custom's `ssid=${SSID}` line keeps this SSID intact in NetworkManager's
    keyfile (GKeyFile unescapes backslashes, trims blanks; NM reads `a;b;` as a byte list)."""
    return ssid == ssid.strip() and not set(ssid) & {"\\", ";"}


def nm_connection(s: Settings) -> str:
    """NetworkManager's keyfile for the Wi-Fi, as imager_custom set_wlan writes it, with the
    SSID as a byte list (`ssid=104;105;`), which NetworkManager reads for any SSID."""
    assert s.wifi_ssid and s.wifi_psk
    ssid = "".join(f"{b};" for b in s.wifi_ssid.encode())
    return "\n".join(["[connection]", "id=preconfigured", "uuid=@UUID@", "type=wifi", "[wifi]",
                      "mode=infrastructure", f"ssid={ssid}", f"hidden={str(s.wifi_hidden).lower()}",
                      "[ipv4]", "method=auto", "[ipv6]", "addr-gen-mode=default", "method=auto",
                      "[proxy]", "[wifi-security]", "key-mgmt=wpa-psk", f"psk={s.wifi_psk}", ""])


def firstrun_script(s: Settings, boot_mount: str) -> str:
    """The script systemd runs once on first boot (rpi-imager's way, through Raspberry Pi's
    imager_custom, userconf and raspi-config), then removes itself and its hook."""
    q = shlex.quote
    boot = q(boot_mount)
    lines = ["#!/bin/bash", f"# written by {MARK} image customize; runs once, then removes itself",
             "set +e", "CUSTOM=/usr/lib/raspberrypi-sys-mods/imager_custom"]
    if s.hostname:
        lines += ["CURRENT_HOSTNAME=$(tr -d ' \\t\\n\\r' </etc/hostname)",
                  f"if [ -x $CUSTOM ]; then $CUSTOM set_hostname {q(s.hostname)}; else",
                  f"  echo {q(s.hostname)} >/etc/hostname",
                  f"  sed -i \"s/127.0.1.1.*$CURRENT_HOSTNAME/127.0.1.1\\t{s.hostname}/g\" /etc/hosts",
                  "fi"]
    password = s.password_hash or "*"
    lines += ["FIRSTUSER=$(getent passwd 1000 | cut -d: -f1)",
              f"if [ -x /usr/lib/userconf-pi/userconf ]; then /usr/lib/userconf-pi/userconf {q(s.user)} {q(password)}",
              f"elif [ -x /usr/bin/userconf ]; then /usr/bin/userconf {q(s.user)} {q(password)}",
              "else",
              "  if [ -z \"$FIRSTUSER\" ]; then",
              f"    useradd -m -s /bin/bash {q(s.user)}; FIRSTUSER={q(s.user)}",
              "  fi",
              f"  if [ \"$FIRSTUSER\" != {q(s.user)} ]; then",
              f"    usermod -l {q(s.user)} \"$FIRSTUSER\"; usermod -m -d /home/{s.user} {q(s.user)}",
              f"    groupmod -n {q(s.user)} \"$FIRSTUSER\"",
              "  fi",
              f"  echo {q(s.user + ':' + password)} | chpasswd -e",
              "fi",
              f"for g in {' '.join(PI_GROUPS)}; do getent group $g >/dev/null && usermod -aG $g {q(s.user)}; done",
              f"echo {q(s.user + ' ALL=(ALL) NOPASSWD: ALL')} >/etc/sudoers.d/010_{MARK}-nopasswd",
              f"chmod 0440 /etc/sudoers.d/010_{MARK}-nopasswd"]
    # Keys from a quoted here-document, not through imager_custom: its `echo "$key"` runs in
    # dash, which turns a `\n` in a key comment into a line break (a second key line).
    lines += [f"HOMEDIR=$(getent passwd {q(s.user)} | cut -d: -f6)",
              f"install -o {q(s.user)} -g {q(s.user)} -m 700 -d \"$HOMEDIR/.ssh\""]
    if s.ssh_keys:
        lines += ["cat >>\"$HOMEDIR/.ssh/authorized_keys\" <<'CMS_SWARM_KEYS'", *s.ssh_keys,
                  "CMS_SWARM_KEYS",
                  f"chown {q(s.user)}:{q(s.user)} \"$HOMEDIR/.ssh/authorized_keys\"",
                  "chmod 600 \"$HOMEDIR/.ssh/authorized_keys\""]
    auth = "-p" if s.password_hash else "-k"
    lines += [f"if [ -x $CUSTOM ]; then $CUSTOM enable_ssh {auth}; else systemctl enable ssh; fi"]
    if not s.password_hash:
        lines += ["mkdir -p /etc/ssh/sshd_config.d",
                  f"echo 'PasswordAuthentication no' >/etc/ssh/sshd_config.d/10-{MARK}.conf"]
    if s.wifi_ssid and s.wifi_psk and s.wifi_country:
        hidden = "-h " if s.wifi_hidden else ""
        conn = "/etc/NetworkManager/system-connections/preconfigured.nmconnection"
        if nm_plain(s.wifi_ssid):
            lines.append(f"if [ -x $CUSTOM ]; then $CUSTOM set_wlan {hidden}{q(s.wifi_ssid)} "
                         f"{q(s.wifi_psk)} {q(s.wifi_country)}")
        else:  # imager_custom would mangle this SSID: its keyfile, with the SSID as bytes
            lines += ["if [ -x $CUSTOM ] && [ -d /etc/NetworkManager/system-connections ]; then",
                      f"  $CUSTOM set_wlan_country {q(s.wifi_country)}",
                      f"  sed \"s/@UUID@/$(cat /proc/sys/kernel/random/uuid)/\" >{conn} <<'CMS_SWARM_NM'",
                      nm_connection(s).rstrip("\n"), "CMS_SWARM_NM", f"  chmod 600 {conn}"]
        ssid = "".join(f"{b:02x}" for b in s.wifi_ssid.encode())
        lines += ["else",
                  "  cat >/etc/wpa_supplicant/wpa_supplicant.conf <<'WPAEOF'",
                  f"country={s.wifi_country}", "ctrl_interface=DIR=/var/run/wpa_supplicant GROUP=netdev",
                  "ap_scan=1", "update_config=1", "network={",
                  *(["\tscan_ssid=1"] if s.wifi_hidden else []),
                  f"\tssid={ssid}", f"\tpsk={s.wifi_psk}", "}", "WPAEOF",
                  "  chmod 600 /etc/wpa_supplicant/wpa_supplicant.conf",
                  f"  raspi-config nonint do_wifi_country {q(s.wifi_country)} 2>/dev/null",
                  "  rfkill unblock wifi 2>/dev/null",
                  "fi"]
    if s.timezone:
        lines += [f"if [ -x $CUSTOM ]; then $CUSTOM set_timezone {q(s.timezone)}; else",
                  "  rm -f /etc/localtime", f"  echo {q(s.timezone)} >/etc/timezone",
                  "  dpkg-reconfigure -f noninteractive tzdata", "fi"]
    # Remove the hook words only: raspi-config's do_wifi_country appends the regulatory
    # domain at the end of the line, after them (rpi-imager's `s| systemd\.[^ ]*||g`).
    drop = ("-e 's| systemd\\.run=[^ ]*||g' -e 's| systemd\\.run_success_action=[^ ]*||g' "
            "-e 's| systemd\\.unit=kernel-command-line\\.target||g'")
    lines += [f"rm -f {boot}/firstrun.sh {boot}/userconf.txt",
              f"sed -i {drop} {boot}/cmdline.txt", "exit 0", ""]
    return "\n".join(lines)


def planned_files(layout: Layout, s: Settings, old_cmdline: str) -> dict[str, bytes]:
    """Every file to write into the boot partition, by name."""
    files: dict[str, bytes] = {"cmdline.txt": boot_cmdline(layout, s, old_cmdline).encode()}
    if layout.mechanism == "cloud-init":
        files["user-data"] = user_data(s, layout.boot_mount).encode()
        files["meta-data"] = meta_data(s).encode()
        if s.wifi_ssid:
            files["network-config"] = network_config(s).encode()
        return files
    files["firstrun.sh"] = firstrun_script(s, layout.boot_mount).encode()
    files["ssh"] = b""
    return files


def apply(image: Path, s: Settings, layout: Layout | None = None) -> tuple[Layout, list[str]]:
    """Write the settings into the boot partition, then read every file back and compare.

    Returns the layout and the names written. ImageInputError for an unknown layout
    (nothing written); ImageError when a file reads back different. A `userconf.txt` left
    by an earlier customisation goes: bookworm's first boot never reads it (firstrun.sh
    sets the password), so its hash would stay on the card.
    """
    layout = layout or detect(image)
    require(layout, image)
    assert layout.boot is not None
    fat = Fat(image, layout.boot.offset)
    old = (fat.read("cmdline.txt") or b"").decode("utf-8", "replace")
    files = planned_files(layout, s, old)
    fat.write(files)
    if layout.mechanism == "firstrun":
        fat.delete("userconf.txt")
    for name, data in files.items():
        if fat.read(name) != data:
            raise ImageError(f"{image}: {name} reads back different from what was written")
    return layout, sorted(files)
