"""Two small threads that let decompression, hashing and writing run on different cores.

liblzma, zlib, hashlib and os.read/os.write all release the GIL on large buffers, so a
producer thread (decompress or read ahead) and a hasher thread overlap with the main
thread's writes. Queues are short (a few 4 MiB blocks) so memory stays flat.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Iterator
from typing import Any

_END = object()


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def prefetch(items: Iterator[bytes], depth: int = 2) -> Iterator[bytes]:
    """Iterate `items` produced by a background thread, `depth` blocks ahead at most.

    An exception in the producer is raised here; leaving the loop early stops the thread.
    """
    box: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        box.put(item, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            box.put(_END)
        except BaseException as error:  # noqa: BLE001 (handed to the consumer, raised there)
            box.put(_Failed(error))

    thread = threading.Thread(target=produce, name="cms-image-read", daemon=True)
    thread.start()
    try:
        while True:
            item = box.get()
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            try:
                box.get_nowait()
            except queue.Empty:
                thread.join(0.05)
        close = getattr(items, "close", None)
        if close is not None:
            close()


class Hasher:
    """sha256 of blocks fed in order, computed in its own thread."""

    def __init__(self, depth: int = 2) -> None:
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=depth)
        self._hash = hashlib.sha256()
        self.count = 0
        self._thread = threading.Thread(target=self._run, name="cms-image-hash", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (block := self._queue.get()) is not None:
            self._hash.update(block)

    def update(self, block: bytes) -> None:
        self.count += len(block)
        self._queue.put(block)

    def hexdigest(self) -> str:
        self._queue.put(None)
        self._thread.join()
        return self._hash.hexdigest()
