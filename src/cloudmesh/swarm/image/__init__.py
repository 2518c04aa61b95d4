"""SD-card images: `cms-swarm image burn | customize | capture | info`.

A module beside the swarm code (see DESIGN.md, "SD-card images"). It shares the inventory
and the SSH transport (capture reads a host's card over the same connection) and nothing
else. Images are only ever streamed (decompress -> write -> read back -> sha256), never
copied whole to a temporary file; the boot partition is edited in user space with mtools,
so customising an image file needs no mount and no root.

Modules: source (decompression streams), device (what a target is, and the refusals),
mbr (partition tables and file-system signatures), fat and ext4 (the tools that edit
them), customize (first-boot settings), burn, capture, shrink, info, progress.
"""
