"""One daemon thread per feature (signature watcher, Zuul poller, template warmer).

Each feature keeps its loop; this holds the thread and the stop flag, so start and stop
are idempotent everywhere and a loop waits on ``stopping`` instead of sleeping.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class Background:
    def __init__(self, target: Callable[[], None], name: str) -> None:
        self.target = target
        self.name = name
        self.stopping = threading.Event()
        """Set by :meth:`stop`; loops check it or ``wait()`` on it."""
        self._thread: threading.Thread | None = None

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.alive:
            return
        self.stopping.clear()
        self._thread = threading.Thread(target=self.target, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self.stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
