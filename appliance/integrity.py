"""At ``serve`` startup: check every day partition's checksums in the background.

A day damaged on disk (a flipped byte, a truncated file after a full disk) is then
reported by ``/readyz``, ``/status`` and the logs from the start, instead of when a query
happens to panic on it — or never, when the damage only makes answers wrong. The other
days serve meanwhile; ``appliance reindex --day`` repairs a bad one from the archive.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from index import verify

log = logging.getLogger("appliance.integrity")


def check(services: Any) -> dict[str, list[str]]:
    t0 = time.perf_counter()
    store = services.store
    bad = verify.verify_days(store)
    for day, problems in bad.items():
        log.error("day partition %s is damaged: %s; repair with: appliance reindex --day %s",
                  day, "; ".join(problems), day)  # fmt: skip
    services.extras["integrity"] = {"checked": len(store.partitions.days()), "bad": sorted(bad),
                                    "seconds": round(time.perf_counter() - t0, 3)}  # fmt: skip
    return bad


def start(services: Any) -> None:
    threading.Thread(target=check, args=(services,), name="integrity", daemon=True).start()
