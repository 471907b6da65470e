"""``appliance.proctree``: a command's CPU is attributed to the right role, and its
memory to the tree. Amounts are not asserted against time (shared machines), only which
role did work and which did not."""

from __future__ import annotations

import sys

from appliance import proctree

BUSY = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time\\nt = time.process_time()\\nwhile time.process_time() - t < 0.8: pass"])
blob = bytearray(64 << 20)  # resident: written below
for i in range(0, len(blob), 4096):
    blob[i] = 1
t = time.process_time()
while time.process_time() - t < 0.8:
    pass
child.wait()
print("done")
"""


def test_main_thread_and_child_process_cpu_and_the_trees_memory() -> None:
    m = proctree.run_measured([sys.executable, "-c", BUSY])
    assert m.proc.returncode == 0 and m.proc.stdout == "done\n"
    assert m.cpu.get(proctree.MAIN, 0) >= 0.4, m.cpu
    assert m.cpu.get(proctree.CHILDREN, 0) >= 0.4, m.cpu
    assert m.cpu.get(proctree.INDEXING, 0) == 0
    assert m.peak_rss >= 64 << 20
    assert m.cores_busy == sum(m.cpu.values()) / m.seconds
