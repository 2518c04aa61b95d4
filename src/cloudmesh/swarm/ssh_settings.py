"""How one host is reached over SSH, declared once from the inventory.

Two clients use the same settings: our asyncssh connections (an `SshTarget`) and OpenSSH, which
the docker CLI runs for the `swarm-<cluster>` context (a `Host` block in an ssh config file).
Both come from here, so a setting added for one is not forgotten for the other.
"""

from __future__ import annotations

from cloudmesh.swarm.inventory import HostSpec, Inventory
from cloudmesh.swarm.known_hosts import known_hosts_file
from cloudmesh.swarm.transport import SshTarget


def ssh_target(inventory: Inventory, spec: HostSpec, *, strict_host_keys: bool = False,
               connect_timeout: float = 15.0) -> SshTarget:
    """Where and as whom to connect to `spec`: its address, the user and port it or the
    inventory's `ssh:` says, the inventory's key and known_hosts."""
    return SshTarget(
        name=spec.name,
        address=spec.address,
        port=inventory.port_of(spec),
        user=inventory.user_of(spec),
        key=inventory.ssh.key,
        known_hosts=inventory.ssh.known_hosts,
        strict_host_keys=strict_host_keys,
        connect_timeout=connect_timeout,
    )


def openssh_host_block(target: SshTarget) -> list[str]:
    """The same target as an OpenSSH `Host` block (absolute paths: the file is included from
    ~/.ssh/config, read from any directory); host keys always checked, never added."""
    lines = [f"Host {target.address}", f"    User {target.user}", f"    Port {target.port}"]
    if target.key is not None:
        lines += [f"    IdentityFile {target.key.expanduser().absolute()}", "    IdentitiesOnly yes"]
    lines += [f"    UserKnownHostsFile {known_hosts_file(target.known_hosts).absolute()}",
              "    StrictHostKeyChecking yes", ""]
    return lines
