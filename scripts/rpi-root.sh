#!/usr/bin/env bash
# An arm64 Debian bookworm root for the first-boot tests (tests/firstboot): debootstrap under
# qemu-user, plus what Raspberry Pi OS has before first boot (user 1000 `pi`, hostname
# raspberrypi, /boot/firmware). Raspberry Pi's own scripts are copied in by the tests.
# Cached in $CMS_RPI_ROOT_CACHE (default /var/cache/cms-swarm), keyed by RECIPE: change
# RECIPE when the recipe changes. Prints the root's path. Needs root and binfmt for aarch64.
set -euo pipefail
RECIPE=rpi-bookworm-arm64-1
CACHE=${CMS_RPI_ROOT_CACHE:-/var/cache/cms-swarm}
ROOT=$CACHE/$RECIPE
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
PACKAGES=systemd,openssh-server,procps,tzdata,uuid,sudo,whois
if [ -f "$ROOT/.complete" ]; then echo "$ROOT"; exit 0; fi
[ "$(id -u)" = 0 ] || { echo "rpi-root: needs root" >&2; exit 1; }
[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || { echo "rpi-root: no binfmt handler for aarch64 (scripts/setup-host.sh)" >&2; exit 1; }
mkdir -p "$CACHE"
rm -rf "$ROOT.partial"
started=$(date +%s)
debootstrap --arch=arm64 --variant=minbase --include=$PACKAGES bookworm "$ROOT.partial" "$MIRROR" \
    >"$CACHE/$RECIPE.log" 2>&1 || { tail -5 "$CACHE/$RECIPE.log" >&2; exit 1; }
R=$ROOT.partial
# What pi-gen leaves before first boot (stage1/stage2 of the bookworm tags): user 1000 with
# the Pi groups and no password, its sudoers drop-in, hostname, /boot/firmware.
chroot "$R" /bin/sh -e <<'SH'
for g in input spi i2c gpio netdev render; do groupadd -f -r "$g"; done
useradd -m -u 1000 -s /bin/bash pi
for g in adm dialout cdrom audio users sudo video games plugdev input gpio spi i2c netdev render; do
    usermod -aG "$g" pi
done
usermod --pass='*' pi
echo 'pi ALL=(ALL) NOPASSWD: ALL' >/etc/sudoers.d/010_pi-nopasswd
chmod 0440 /etc/sudoers.d/010_pi-nopasswd
echo raspberrypi >/etc/hostname
printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n\n127.0.1.1\traspberrypi\n' >/etc/hosts
echo Etc/UTC >/etc/timezone; ln -sf /usr/share/zoneinfo/Etc/UTC /etc/localtime
systemctl disable ssh >/dev/null 2>&1 || true
mkdir -p /boot/firmware /etc/NetworkManager/system-connections /usr/lib/raspberrypi-sys-mods /usr/lib/userconf-pi
rm -f /etc/ssh/ssh_host_*
SH
rm -rf "$R/var/cache/apt/archives/"*.deb
echo "$(( $(date +%s) - started ))" >"$R/.build-seconds"
touch "$R/.complete"
mv "$R" "$ROOT"
echo "$ROOT"
