"""SIGINT and SIGTERM during a run: stop at a point where the run folder is consistent.

While `StopSignal` is active its handler replaces the default ones. Inside `stop.deferred()` (the
training loop) a first signal only sets `stop.signum`: the trainer finishes the batch it is on,
gives up the rest of the epoch and raises RunInterrupted, so the run folder keeps the state of
the last finished epoch. A second signal, or one outside `deferred()` (the data being read, the
analysis after training), raises RunInterrupted at once. Every file of a run is written
atomically, so stopping anywhere leaves no half-written file.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ge4rec.errors import RunInterrupted

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignal:
    """A context manager that turns SIGINT/SIGTERM into a stop request (see the module docstring).
    Outside the main thread, where Python cannot install handlers, it does nothing."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.epoch: int | None = None  # the last finished epoch (its state is on disk), set by the trainer
        self._deferring = False
        self._previous: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def check(self, epoch: int | None) -> None:
        """Raise RunInterrupted when a stop was requested; `epoch`: the last finished epoch."""
        if self.signum is not None:
            raise RunInterrupted(self.signum, epoch)

    def _handle(self, signum: int, frame: Any) -> None:
        first = self.signum is None
        self.signum = signum if first else self.signum
        if not (self._deferring and first):
            raise RunInterrupted(signum, self.epoch)

    @contextmanager
    def deferred(self) -> Iterator[StopSignal]:
        """Within the block a first signal is only recorded; the caller polls `check`."""
        self._deferring = True
        try:
            yield self
        finally:
            self._deferring = False

    def __enter__(self) -> StopSignal:
        if threading.current_thread() is threading.main_thread():
            for signum in SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()
