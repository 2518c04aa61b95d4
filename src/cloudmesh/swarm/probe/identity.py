"""What a cloned card shares with its siblings: parses identity.sh's section."""

from __future__ import annotations

import re
from dataclasses import dataclass

SECTIONS = ("identity",)  # what identity.sh prints, parsed here

KEY_TYPE = re.compile(r"^(ssh-|ecdsa-|sk-)[A-Za-z0-9@.-]+\Z")  # an OpenSSH public key type (also for authorized_keys)


@dataclass(frozen=True)
class Identity:
    """What must differ between hosts and is copied along when a card is cloned."""

    machine_id: str = ""  # sha256 of /etc/machine-id
    host_keys: tuple[str, ...] = ()  # "type blob" of each /etc/ssh/ssh_host_*_key.pub
    engine_id: str = ""  # sha256 of Docker's engine-id file, else of /etc/docker/key.json


def parse_identity(text: str) -> Identity:
    """The `identity` section (`machine-id HASH`, `host-key TYPE BLOB`, `engine-id HASH`,
    `engine-key HASH`) to Identity; engine-id wins over the older key.json."""
    values: dict[str, str] = {}
    keys: list[str] = []
    for line in text.splitlines():
        words = line.split()
        if len(words) == 3 and words[0] == "host-key" and KEY_TYPE.match(words[1]):
            keys.append(f"{words[1]} {words[2]}")
        elif len(words) == 2 and re.fullmatch(r"[0-9a-f]{64}", words[1]):
            values[words[0]] = words[1]
    return Identity(machine_id=values.get("machine-id", ""), host_keys=tuple(sorted(keys)),
                    engine_id=values.get("engine-id") or values.get("engine-key", ""))
