"""Errors of the image commands, fitted into the project's tree (cli/main maps exit codes).

ImageInputError (exit 2) is raised before anything is written: a refused device, an
unreadable or corrupt image detected up front, bad settings. ImageError (exit 1) is a
failure while working: a write that failed, a verify mismatch, a corrupt block found
half-way (the card is then marked as incomplete, see burn.py).
"""

from __future__ import annotations

from cloudmesh.swarm.errors import InputError, SwarmError


class ImageInputError(InputError):
    """Bad input for an image command: nothing was written."""


class DeviceRefused(ImageInputError):
    """A safety check refused the target device: nothing was written."""


class ImageError(SwarmError):
    """An image command failed while working (exit 1)."""


class ToolMissing(ImageInputError):
    """A helper program (mtools, e2fsprogs) is not installed: nothing was done (exit 2)."""
