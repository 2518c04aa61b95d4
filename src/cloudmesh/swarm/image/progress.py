"""A progress bar with MB/s and time left on stderr (silent when stderr is not a terminal)."""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import Any


class Meter:
    """`with Meter("write", total) as meter: meter.advance(n)`; rich does the drawing."""

    def __init__(self, title: str, total: int | None, *, quiet: bool = False) -> None:
        self.title = title
        self.total = total
        self.done = 0
        self.started = time.monotonic()
        self._progress: Any = None
        self._task: Any = None
        if not quiet and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                TransferSpeedColumn(), TimeRemainingColumn(), console=Console(stderr=True),
                refresh_per_second=4, transient=False)

    def __enter__(self) -> Meter:  # noqa: PYI034
        if self._progress is not None:
            self._progress.start()
            self._task = self._progress.add_task(self.title, total=self.total)
        return self

    def advance(self, count: int) -> None:
        self.done += count
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=self.done)

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self._progress is not None:
            self._progress.stop()

    @property
    def elapsed(self) -> float:
        return max(time.monotonic() - self.started, 1e-6)

    def rate(self) -> str:
        return f"{self.done / self.elapsed / 1e6:.0f} MB/s"
