"""Worker processes that end with the appliance.

Parsers and ``_bulk`` workers come from a fork server (no child inherits Tantivy's
threads or locks). When the appliance dies by ``kill -9`` (the OOM killer), Python's fork
server and a worker in the middle of a big file would live on. Both ask Linux to kill
them when their parent goes (``PR_SET_PDEATHSIG``): the fork server at import of
:mod:`appliance.orphan_guard` (its preload), each worker in its pool initializer.
"""

from __future__ import annotations

import multiprocessing as mp
import signal
from multiprocessing.context import ForkServerContext

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL))
    except (OSError, AttributeError):  # not Linux: workers still end when their pipes close
        pass


def forkserver() -> ForkServerContext:
    """The fork-server context, its server guarded (effective if it is not running yet)."""
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["appliance.orphan_guard"])
    return ctx  # type: ignore[return-value]
