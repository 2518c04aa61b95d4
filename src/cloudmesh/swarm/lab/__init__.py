"""The lab: simulated Raspberry Pis as systemd containers on this machine (see hosts.Lab)."""
