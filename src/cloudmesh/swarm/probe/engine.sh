# The engine's facts (parsed by engine.py): through its API socket by engine.py.in when
# python3 is there, else with the docker CLI (two Go binary starts; no node list then).
if [ -S /var/run/docker.sock ] && command -v python3 >/dev/null; then
$SUDO python3 - 2>/dev/null <<'ENGINE'
@PROGRAM@
ENGINE
else
sec docker-version; command -v docker >/dev/null && $SUDO docker version --format '{{.Server.Version}}' 2>/dev/null
sec swarm; command -v docker >/dev/null && $SUDO docker info --format '{{json .Swarm}}' 2>/dev/null
fi
