"""The probe's Engine API part against a stand-in engine on a unix socket (recorded replies):
it must print what the docker CLI templates printed, so the same parsers read it."""

from __future__ import annotations

import json
import socketserver
import subprocess
import sys
import threading
from pathlib import Path

from cloudmesh.swarm.facts import ENGINE_PROBE, parse_facts

SWARM = {"NodeID": "n1", "LocalNodeState": "active", "ControlAvailable": True, "NodeAddr": "10.0.0.1",
         "Cluster": {"ID": "c1", "Spec": {"EncryptionConfig": {"AutoLockManagers": False}}},
         "RemoteManagers": [{"NodeID": "n1", "Addr": "10.0.0.1:2377"}], "Nodes": 2, "Managers": 1}
NODES = [
    {"ID": "n1", "Description": {"Hostname": "pi1", "Engine": {"EngineVersion": "20.10.24"}},
     "Status": {"State": "ready", "Addr": "10.0.0.1"}, "Spec": {"Availability": "active", "Labels": {}},
     "ManagerStatus": {"Leader": True, "Reachability": "reachable"}},
    {"ID": "n2", "Description": {"Hostname": "pi2", "Engine": {"EngineVersion": "20.10.24"}},
     "Status": {"State": "down", "Addr": "10.0.0.2"},
     "Spec": {"Availability": "drain", "Labels": {"disk": "ssd"}}},
]
REPLIES = {"/version": {"Version": "20.10.24+dfsg1"}, "/info": {"Swarm": SWARM}, "/nodes": NODES}


class Engine(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        path = self.rfile.readline().split()[1].decode()
        while self.rfile.readline() not in (b"\r\n", b""):
            pass
        body = json.dumps(REPLIES[path]).encode() if path in REPLIES else b"{}"
        status = b"200 OK" if path in REPLIES else b"404 Not Found"
        self.wfile.write(b"HTTP/1.0 " + status + b"\r\nContent-Type: application/json\r\n\r\n" + body)


def run_probe(socket_path: Path) -> str:
    server = socketserver.ThreadingUnixStreamServer(str(socket_path), Engine)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        script = ENGINE_PROBE.replace("@SOCKET@", str(socket_path))
        return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              timeout=30, check=True).stdout
    finally:
        server.shutdown()
        server.server_close()


def test_engine_probe_reads_version_swarm_and_nodes(tmp_path: Path) -> None:
    facts = parse_facts(run_probe(tmp_path / "docker.sock") + "=== end ===\n")
    assert facts.docker_version == "20.10.24+dfsg1"
    assert facts.swarm is not None and facts.swarm.node_id == "n1" and facts.swarm.cluster_id == "c1"
    assert facts.swarm.is_manager and facts.swarm.local_state == "active"
    leader, down = facts.nodes
    assert (leader.hostname, leader.status, leader.availability, leader.manager_status, leader.self) == (
        "pi1", "Ready", "Active", "Leader", True)
    assert (down.hostname, down.status, down.availability, down.manager_status, down.self) == (
        "pi2", "Down", "Drain", "", False)
    assert down.addr == "10.0.0.2" and dict(down.labels) == {"disk": "ssd"}


def test_no_engine_gives_empty_sections(tmp_path: Path) -> None:
    script = ENGINE_PROBE.replace("@SOCKET@", str(tmp_path / "absent.sock"))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=False).stdout
    facts = parse_facts(out + "=== end ===\n")
    assert facts.docker_version is None and facts.swarm is None and facts.nodes == ()
