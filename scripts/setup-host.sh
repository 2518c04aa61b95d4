#!/usr/bin/env bash
# Make this Debian machine able to run the lab, as root: Docker engine, debootstrap (lab images),
# qemu-user-static (arm64 lab hosts), a running dockerd, and enough inotify instances for many
# systemd hosts. Idempotent: every step is skipped when already done.
set -euo pipefail

need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v ssh >/dev/null || need+=(openssh-client)
# `image` commands: mtools edits the FAT boot partition, e2fsprogs reads/shrinks ext4, xz
# compresses captures; dosfstools (fsck.fat) checks FAT in the tests.
command -v mcopy >/dev/null || need+=(mtools)
command -v debugfs >/dev/null || [ -x /sbin/debugfs ] || need+=(e2fsprogs)
command -v xz >/dev/null || need+=(xz-utils)
command -v fsck.fat >/dev/null || [ -x /sbin/fsck.fat ] || need+=(dosfstools)
# tests/firstboot: an arm64 root (debootstrap under qemu-user) runs Raspberry Pi's scripts.
command -v qemu-aarch64-static >/dev/null || need+=(qemu-user-static)
# netplan's parser checks the network-config written for cloud-init images.
command -v netplan >/dev/null || need+=(netplan.io)
if [ ${#need[@]} -gt 0 ]; then
    echo "setup-host: installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# qemu-user for arm64 binaries (arm64 lab hosts, tests/firstboot), registered with F (the
# interpreter is opened now, so it works in containers and chroots) and C (setuid programs such
# as sudo keep their credentials); Debian registers PF only.
[ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
entry=/proc/sys/fs/binfmt_misc/qemu-aarch64
if ! grep -qs '^flags:.*F' "$entry" || ! grep -qs '^flags:.*C' "$entry"; then
    [ -e "$entry" ] && echo -1 >"$entry"
    printf '%s' ':qemu-aarch64:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/bin/qemu-aarch64-static:OCPF' \
        >/proc/sys/fs/binfmt_misc/register
fi

if ! docker info >/dev/null 2>&1; then
    if command -v systemctl >/dev/null && systemctl is-system-running >/dev/null 2>&1; then
        systemctl start docker
    else
        echo "setup-host: starting dockerd (log: /var/log/dockerd.log)"
        nohup dockerd >/var/log/dockerd.log 2>&1 &
    fi
    for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
    docker info >/dev/null 2>&1 || { echo "setup-host: dockerd did not start, see /var/log/dockerd.log" >&2; exit 1; }
fi

# Past ~16 systemd containers boot fails with the default of 128 inotify instances.
if [ "$(cat /proc/sys/fs/inotify/max_user_instances)" -lt 1024 ]; then
    sysctl -q -w fs.inotify.max_user_instances=1024 || echo "setup-host: could not raise fs.inotify.max_user_instances" >&2
fi
echo "setup-host: docker $(docker version --format '{{.Server.Version}}') ready"
