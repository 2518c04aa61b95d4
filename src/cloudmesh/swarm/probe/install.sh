# What install and prepare need beyond the basics (parsed by install.py): the dpkg architecture
# (armhf userland on an aarch64 kernel), whether a `docker` command exists (trixie's docker.io
# only recommends docker-cli), the docker packages installed, daemon.json, memory and the
# kernel command line.
sec dpkg-arch; dpkg --print-architecture 2>/dev/null
sec docker-cli; command -v docker
sec docker-pkgs; dpkg-query -W -f='${Package} ${Status} ${Version}\n' docker.io docker-cli docker-ce docker-ce-cli containerd.io 2>/dev/null
sec candidates; apt-cache policy docker-cli docker-ce 2>/dev/null | awk '/^[^ ].*:$/ {p=$1} /Candidate:/ {print p, $2}'
sec daemon-json; head -c 65536 /etc/docker/daemon.json 2>/dev/null
sec meminfo; awk '$1 == "MemTotal:" {print $2; exit}' /proc/meminfo 2>/dev/null
sec boot-cmdline; for f in /boot/firmware/cmdline.txt /boot/cmdline.txt; do if [ -f "$f" ]; then echo "$f"; head -c 4096 "$f"; break; fi; done
sec proc-cmdline; cat /proc/cmdline 2>/dev/null
