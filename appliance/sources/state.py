"""A source's memory of how far it got: a small JSON file in the data directory.

Written atomically (temporary file, fsync, rename), so a crash leaves the old state or
the new one, never half of either; a missing or unreadable file means "start fresh".
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import orjson


class StateFile:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def load(self) -> dict[str, Any]:
        try:
            data = orjson.loads(self.path.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return {}
        return data if isinstance(data, dict) else {}

    def save(self, state: dict[str, Any]) -> None:
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            with open(tmp, "wb") as f:
                f.write(orjson.dumps(state, option=orjson.OPT_INDENT_2))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
