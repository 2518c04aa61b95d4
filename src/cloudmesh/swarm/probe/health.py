"""A board's health for `status`: parses health.sh's sections."""

from __future__ import annotations

import re
from dataclasses import dataclass

SECTIONS = ("soc-temp", "throttled", "root-device")  # what health.sh prints, parsed here

THROTTLE_FLAGS = {0: "under-voltage", 1: "arm frequency capped", 2: "throttled",
                  3: "soft temperature limit"}  # bit n: now; bit n+16: since boot


@dataclass(frozen=True)
class PiHealth:
    """A board's health for `status` (health.sh); all None/empty on other hosts."""

    temperature_c: float | None = None  # SoC, from thermal_zone0
    throttled: int | None = None  # the firmware's get_throttled bits
    root_device: str = ""  # SD card | eMMC | USB | NVMe | disk; "" when / is no block device

    def throttle_now(self) -> list[str]:
        return [name for bit, name in THROTTLE_FLAGS.items() if (self.throttled or 0) >> bit & 1]

    def throttle_since_boot(self) -> list[str]:
        return [name for bit, name in THROTTLE_FLAGS.items() if (self.throttled or 0) >> (bit + 16) & 1]


def parse_throttled(text: str) -> int | None:
    """`vcgencmd get_throttled` (throttled=0x50005) or the sysfs file (50005, hex) to bits."""
    value = text.strip().rpartition("=")[2].strip()
    try:
        return int(value, 16) if value else None
    except ValueError:
        return None


def parse_root_device(text: str) -> str:
    """The sysfs path of the root partition (and an mmc card's type) to its kind."""
    lines = text.splitlines()
    path = lines[0].strip() if lines else ""
    if not path:
        return ""
    if "/nvme" in path:
        return "NVMe"
    if "/usb" in path:
        return "USB"
    if "/mmc" in path:
        return "eMMC" if len(lines) > 1 and lines[1].strip() == "MMC" else "SD card"
    return "disk"


def parse_health(s: dict[str, str]) -> PiHealth:
    """health.sh's sections to PiHealth."""
    temp = s.get("soc-temp", "").strip()
    milli = int(temp) if re.fullmatch(r"-?\d+", temp) else None
    return PiHealth(
        temperature_c=milli / 1000 if milli is not None else None,
        throttled=parse_throttled(s.get("throttled", "")),
        root_device=parse_root_device(s.get("root-device", "").strip()),
    )
