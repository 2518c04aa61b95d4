#!/usr/bin/env bash
# A Debian root for the first-boot tests (tests/firstboot), made like a Raspberry Pi OS card
# before its first boot (user 1000 `pi` with the Pi groups and no password, hostname
# raspberrypi, /boot/firmware, ssh disabled):
#   rpi-root.sh bookworm   arm64 bookworm under qemu-user; Raspberry Pi's scripts are copied
#                          in by the tests (raspi-config decides "is a Pi" from the arch)
#   rpi-root.sh trixie     trixie with Debian's cloud-init and netplan, this machine's arch
#                          (cloud-init does not depend on it), NoCloud from /boot/firmware
# Cached in $CMS_RPI_ROOT_CACHE (default /var/cache/cms-swarm), keyed by the recipe name:
# change it when the recipe changes. Prints the root's path. Needs root (and binfmt for
# aarch64 for bookworm: scripts/setup-host.sh).
set -euo pipefail
KIND=${1:-bookworm}
CACHE=${CMS_RPI_ROOT_CACHE:-/var/cache/cms-swarm}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
case "$KIND" in
    bookworm) RECIPE=rpi-bookworm-arm64-1; SUITE=bookworm; ARCH=(--arch=arm64)
              PACKAGES=systemd,openssh-server,procps,tzdata,uuid,sudo,whois ;;
    trixie)   RECIPE=rpi-trixie-cloud-init-1; SUITE=trixie; ARCH=()
              PACKAGES=systemd,openssh-server,procps,tzdata,sudo,cloud-init,netplan.io ;;
    *) echo "rpi-root: bookworm or trixie, not $KIND" >&2; exit 2 ;;
esac
ROOT=$CACHE/$RECIPE
if [ -f "$ROOT/.complete" ]; then echo "$ROOT"; exit 0; fi
[ "$(id -u)" = 0 ] || { echo "rpi-root: needs root" >&2; exit 1; }
if [ "$KIND" = bookworm ] && [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
    echo "rpi-root: no binfmt handler for aarch64 (scripts/setup-host.sh)" >&2; exit 1
fi
mkdir -p "$CACHE"
exec 9>"$CACHE/$RECIPE.lock"
flock 9  # one build at a time (several checkouts on one machine); the others wait and reuse it
if [ -f "$ROOT/.complete" ]; then echo "$ROOT"; exit 0; fi
R=$ROOT.partial
rm -rf "$R"
started=$(date +%s)
debootstrap "${ARCH[@]}" --variant=minbase --include=$PACKAGES "$SUITE" "$R" "$MIRROR" \
    >"$CACHE/$RECIPE.log" 2>&1 || { tail -5 "$CACHE/$RECIPE.log" >&2; exit 1; }
# What pi-gen leaves before first boot (stage1/stage2 of the release tags): user 1000 with
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
