"""cloudmesh-swarm: from bare Debian-family hosts to a verified Docker Swarm over SSH."""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
