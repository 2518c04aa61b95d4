# What a cloned card shares with its siblings (parsed by identity.py): hashes only
# (machine-id is confidential, key.json holds a private key), and the public host keys.
# Docker 23+ keeps its ID in /var/lib/docker/engine-id, 20.10 in the libtrust key
# /etc/docker/key.json.
sec identity
idh() { $SUDO sha256sum "$2" 2>/dev/null | awk -v k="$1" '{print k, $1}'; }
[ -s /etc/machine-id ] && idh machine-id /etc/machine-id
for f in /etc/ssh/ssh_host_*_key.pub; do [ -f "$f" ] && awk '{print "host-key", $1, $2}' "$f"; done
idh engine-id /var/lib/docker/engine-id
idh engine-key /etc/docker/key.json
true
