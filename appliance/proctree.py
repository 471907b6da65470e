"""Measuring a command's whole process tree: wall time, peak RSS, CPU seconds by role.

Benchmarks run the appliance as a separate process, and its work is spread over the main
thread, Tantivy's indexing and merging threads, and parser processes: peak memory and
"where did the CPU go" are only meaningful summed over all of them. Both are sampled
from ``/proc`` every 0.2 s (Linux); a thread that ends between two samples loses at most
its last 0.2 s of CPU.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

_PAGE = os.sysconf("SC_PAGE_SIZE")
_TICK = os.sysconf("SC_CLK_TCK")
INDEXING = "Tantivy indexing threads"
MAIN = "main thread"
OTHER = "other threads (unpickling parser results, merges, ...)"
CHILDREN = "child processes (parsers)"


@dataclass
class Measured:
    proc: subprocess.CompletedProcess[str]
    seconds: float
    peak_rss: int
    """Bytes, the whole tree at its largest."""
    cpu: dict[str, float] = field(default_factory=dict)
    """CPU seconds (user + system) by role: :data:`MAIN`, :data:`INDEXING`, ..."""

    @property
    def cores_busy(self) -> float:
        return sum(self.cpu.values()) / self.seconds if self.seconds else 0.0


def _stat(path: str) -> list[str]:
    with open(path) as f:
        return f.read().rsplit(")", 1)[1].split()


def _tree(root: int) -> tuple[list[int], int]:
    """The pids of a process and all its descendants, and their resident bytes."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            parts = _stat(f"/proc/{p}/stat")
            children.setdefault(int(parts[1]), []).append(int(p))
            rss[int(p)] = int(parts[21]) * _PAGE
        except (OSError, IndexError, ValueError):
            continue
    pids, todo = [], [root]
    while todo:
        p = todo.pop()
        pids.append(p)
        todo.extend(children.get(p, []))
    return pids, sum(rss.get(p, 0) for p in pids)


def _role(root: int, pid: int, tid: int, name: str) -> str:
    if pid != root:
        return CHILDREN
    if tid == pid:
        return MAIN
    return INDEXING if name.startswith("thrd-tantivy-in") else OTHER


def _threads_cpu(root: int, pids: list[int], seen: dict[tuple[int, int], tuple[str, float]]) -> None:
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for t in tids:
            try:
                with open(f"/proc/{pid}/task/{t}/stat") as f:
                    raw = f.read()
                name = raw[raw.index("(") + 1 : raw.rindex(")")]
                parts = raw.rsplit(")", 1)[1].split()
                seen[(pid, int(t))] = (_role(root, pid, int(t), name), (int(parts[11]) + int(parts[12])) / _TICK)
            except (OSError, IndexError, ValueError):
                continue


def run_measured(cmd: list[str], **kw: Any) -> Measured:
    """Run a command to its end, sampling its process tree."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    peak = 0
    seen: dict[tuple[int, int], tuple[str, float]] = {}
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            pids, rss = _tree(proc.pid)
            peak = max(peak, rss)
            _threads_cpu(proc.pid, pids, seen)
            stop.wait(0.2)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    out, err = proc.communicate()
    stop.set()
    th.join()
    cpu: Counter[str] = Counter()
    for role, seconds in seen.values():
        cpu[role] += seconds
    done = subprocess.CompletedProcess(cmd, proc.returncode, out, err)
    return Measured(done, time.perf_counter() - t0, peak, {k: round(v, 1) for k, v in cpu.most_common()})
