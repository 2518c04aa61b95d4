# The facts probe: one round trip per host, read-only; `sudo -n` never prompts.
# It prints marked sections (`sec NAME` prints `=== NAME ===`); each @GROUP@ line is replaced by
# GROUP.sh of this folder, whose sections are parsed by GROUP.py beside it. The sections
# written here are parsed in facts.py (parse_facts). Full-line comments are dropped
# when the probe is assembled (probe/__init__.py), so they cost nothing on the wire.
sec() { echo "=== $1 ==="; }
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo -n"; fi
feature() {  # name module config-symbol proc-file: yes/no/unknown from the running kernel
  if [ -n "$4" ] && [ -e "$4" ]; then echo yes; return; fi
  if [ -d "/sys/module/$2" ]; then echo yes; return; fi
  if modinfo -n "$2" >/dev/null 2>&1; then echo yes; return; fi
  if grep -qs "/$2.ko" "/lib/modules/$(uname -r)/modules.builtin"; then echo yes; return; fi
  cfg=""
  if [ -r /proc/config.gz ]; then cfg=$(zcat /proc/config.gz 2>/dev/null | grep "^$3=");
    [ -n "$cfg" ] && { echo yes; return; }; echo no; return; fi
  if [ -r "/boot/config-$(uname -r)" ]; then grep -qs "^$3=[ym]" "/boot/config-$(uname -r)" \
    && echo yes || echo no; return; fi
  if [ -d "/lib/modules/$(uname -r)" ]; then echo no; return; fi
  echo unknown
}
sec os-release; cat /etc/os-release 2>/dev/null
sec arch; uname -m
sec kernel; uname -r
sec hostname; hostname
sec loopback-name; awk '$1 == "127.0.1.1" {print $2; exit}' /etc/hosts 2>/dev/null
sec model; cat /proc/device-tree/model 2>/dev/null | tr -d '\000'; echo
sec cgroups; cat /proc/cgroups 2>/dev/null
sec cgroup2; cat /sys/fs/cgroup/cgroup.controllers 2>/dev/null
sec vxlan; feature vxlan vxlan CONFIG_VXLAN ""
sec ipvs; feature ipvs ip_vs CONFIG_IP_VS /proc/net/ip_vs
sec var-free; df -Pk /var 2>/dev/null | awk 'NR==2 {print $4}'
sec clock; date +%s.%N
sec sudo; $SUDO true >/dev/null 2>&1 && echo ok || echo no
sec python3; command -v python3
sec user; u="${SUDO_USER:-$(id -un)}"; echo "$u"; id -nG "$u"
sec apt; command -v apt-get
sec apt-candidate; apt-cache policy docker.io 2>/dev/null | awk '/Candidate:/ {print $2; exit}'
sec apt-lists-fresh; find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -mmin -1440 2>/dev/null | head -n 1
sec dpkg-interrupted; ls /var/lib/dpkg/updates 2>/dev/null | head -n 1
sec busybox-static; dpkg-query -W -f='${Status}\n' busybox-static 2>/dev/null
sec docker-pkg; dpkg-query -W -f='${Status} ${Version}\n' docker.io docker-ce 2>/dev/null
sec docker-active; systemctl is-active docker 2>/dev/null
sec docker-enabled; systemctl is-enabled docker 2>/dev/null
@ENGINE@
sec sshd; $SUDO /usr/sbin/sshd -T 2>/dev/null | grep -Ei '^(passwordauthentication|permitrootlogin|kbdinteractiveauthentication|challengeresponseauthentication) '
sec sshd-include; grep -Eqi '^[[:space:]]*Include[[:space:]]+/etc/ssh/sshd_config\.d/' /etc/ssh/sshd_config 2>/dev/null && echo yes || echo no
sec sshd-ours; [ -e /etc/ssh/sshd_config.d/00-cms-swarm.conf ] && echo drop-in; grep -qs '^# BEGIN cms-swarm' /etc/ssh/sshd_config && echo block; true
sec authorized-keys; h=$(getent passwd "$u" | cut -d: -f6); head -c 65536 "${h:-$HOME}/.ssh/authorized_keys" 2>/dev/null
@INSTALL@
@HEALTH@
@IDENTITY@
@NETWORK@
sec end
